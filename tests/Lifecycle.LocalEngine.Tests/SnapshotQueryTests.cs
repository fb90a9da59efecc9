using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// DescribeSnapshots (the whole-result read the local provider and the endpoint's keepLatest check use): every filter
/// selects what the unfiltered describe holds and the filter admits, in creation order, with each snapshot's own tags
/// and fast-restore state; one condition drives the read (ids, volumes, else the tag condition fewest tags match) and the
/// catalog's indexes serve it.
/// </summary>
public sealed class SnapshotQueryTests
{
    private static TagFilter Filter(params (string Key, string[] Values)[] conditions) =>
        new(conditions.ToImmutableSortedDictionary(c => c.Key, c => c.Values.ToImmutableArray(), StringComparer.Ordinal));

    [Fact]
    public async Task EveryFilter_SelectsWhatTheUnfilteredDescribeHoldsAndItAdmits_InCreationOrder_WithTheirOwnTags()
    {
        await using var f = new LocalProviderFixture();
        var a = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        var b = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        var made = new List<SnapshotInfo>();
        for (var i = 0; i < 80; i++)
        {
            // More than the per-row read limit match the broad conditions, so their tags and fast restore are read in bulk.
            var volume = i % 2 == 0 ? a.Id : b.Id;
            var tags = new List<(string, string)>
            {
                ("policy", i % 4 < 2 ? "p1" : "p2"),
                ("n", (i % 3).ToString(CultureInfo.InvariantCulture)),
                ("token", $"t{i}"),
            };
            if (i % 8 == 0)
            {
                // rare keys on both sides of "policy" in key order: each must drive when it is the narrow one
                tags.Add(("a-src", volume));
                tags.Add(("z-src", volume));
            }

            made.Add(await SnapshotAsync(f.Local, volume, [.. tags]));
        }

        await f.Local.EnableFastSnapshotRestoresAsync(made[4].Id, ["test-1a"]);
        await f.Local.DeleteSnapshotAsync(made[9].Id);
        var live = (await f.Local.DescribeSnapshotsAsync()).ToList();
        Assert.Equal(made.Select(s => s.Id).Where(id => id != made[9].Id), live.Select(s => s.Id));

        var cases = new (SnapshotQuery Query, Func<SnapshotInfo, bool> Admits)[]
        {
            (new SnapshotQuery { Tags = Filter(("policy", ["p1"])) }, s => s.Tags["policy"] == "p1"),
            (new SnapshotQuery { Tags = Filter(("policy", ["p1"]), ("z-src", [a.Id])) }, s => s.Tags["policy"] == "p1" && s.Tags.GetValueOrDefault("z-src") == a.Id),
            (new SnapshotQuery { Tags = Filter(("a-src", [a.Id, b.Id]), ("policy", ["p1"])) }, s => s.Tags["policy"] == "p1" && s.Tags.ContainsKey("a-src")),
            (new SnapshotQuery { Tags = Filter(("policy", ["p1", "p2"]), ("n", ["0", "2"])) }, s => s.Tags["n"] is "0" or "2"),
            (new SnapshotQuery { Tags = Filter(("z-src", []), ("n", ["1"])) }, s => s.Tags.ContainsKey("z-src") && s.Tags["n"] == "1"),
            (new SnapshotQuery { VolumeIds = [b.Id], Tags = Filter(("policy", ["p2"])) }, s => s.VolumeId == b.Id && s.Tags["policy"] == "p2"),
            (new SnapshotQuery { VolumeIds = [a.Id] }, s => s.VolumeId == a.Id),
            (new SnapshotQuery { SnapshotIds = [made[4].Id, made[9].Id, made[10].Id], Tags = Filter(("policy", ["p1"])) }, s => s.Id == made[4].Id),
            (new SnapshotQuery { SnapshotIds = [made[8].Id, made[16].Id], VolumeIds = [a.Id], Tags = Filter(("z-src", [a.Id])) }, s => s.Id == made[8].Id || s.Id == made[16].Id),
            (new SnapshotQuery { Tags = Filter(("token", ["t3", "t9", "t40"]), ("policy", ["p2"])) }, s => s.Tags["token"] is "t3" or "t40" && s.Tags["policy"] == "p2"),
            (new SnapshotQuery { Tags = Filter(("policy", ["none"]), ("n", ["0"])) }, _ => false),
            // wider than the per-row read limit: tags and fast restore read in bulk by the result's ids
            (new SnapshotQuery { Tags = Filter(("policy", ["p1", "p2"])) }, _ => true),
            (new SnapshotQuery { Tags = Filter(("token", []), ("policy", ["p2", "p1"])) }, _ => true),
            (new SnapshotQuery { VolumeIds = [a.Id, b.Id], Tags = Filter(("n", ["0", "1", "2"])) }, _ => true),
        };
        foreach (var (query, admits) in cases)
        {
            var want = live.Where(admits).ToList();
            var got = await f.Local.DescribeSnapshotsAsync(query);
            Assert.Equal(want.Select(s => s.Id), got.Select(s => s.Id));
            for (var i = 0; i < got.Length; i++)
            {
                Assert.Equal(want[i].Tags, got[i].Tags);
                Assert.Equal(want[i].FastRestore, got[i].FastRestore);
                Assert.Equal(want[i].VolumeId, got[i].VolumeId);
            }
        }

        Assert.Contains(live, s => !s.FastRestore.IsEmpty);
        Assert.True(live.Count > 64, "the wide cases need more rows than are read one by one");
    }

    [Fact]
    public async Task OfSeveralTagConditions_TheOneFewestTagsMatch_DrivesTheRead_TheOthersAreCheckedPerRow()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        for (var i = 0; i < 12; i++)
        {
            await SnapshotAsync(f.Local, volume.Id, i < 2 ? [("policy", "p"), ("a-src", "v"), ("z-src", "v")] : [("policy", "p")]);
        }

        // Keys sort ordinally: "a-src" (index 0) < "policy" < "z-src" (index 1 with policy at 0).
        var last = f.Local.SnapshotQueryCondition(new SnapshotQuery { Tags = Filter(("policy", ["p"]), ("z-src", ["v"])) });
        Assert.Contains("id IN (SELECT resource_id FROM tags WHERE key=@tagKey1", last, StringComparison.Ordinal);
        Assert.Contains("EXISTS (SELECT 1 FROM tags WHERE resource_id = snapshots.id AND key=@tagKey0", last, StringComparison.Ordinal);

        var first = f.Local.SnapshotQueryCondition(new SnapshotQuery { Tags = Filter(("a-src", ["v"]), ("policy", ["p"])) });
        Assert.Contains("id IN (SELECT resource_id FROM tags WHERE key=@tagKey0", first, StringComparison.Ordinal);
        Assert.Contains("EXISTS (SELECT 1 FROM tags WHERE resource_id = snapshots.id AND key=@tagKey1", first, StringComparison.Ordinal);

        // A volume drives through its index; its tag conditions are per-row seeks, not lists of every matching tag.
        var plan = f.Local.ExplainSnapshotQuery(new SnapshotQuery { VolumeIds = [volume.Id], Tags = Filter(("policy", ["p"])) });
        Assert.Contains(plan, line => line.Contains("snapshots_by_volume", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, line => line.Contains("LIST SUBQUERY", StringComparison.Ordinal) || line.StartsWith("SCAN snapshots", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AVolumeRead_IsDrivenByTheTagFewestVolumesCarry_AndSelectsWhatItsFilterAdmits()
    {
        await using var f = new LocalProviderFixture();
        var volumes = new List<VolumeInfo>();
        for (var i = 0; i < 12; i++)
        {
            volumes.Add(await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty
                .Add("bench", "true").Add("group", (i % 4).ToString(CultureInfo.InvariantCulture))));
        }

        // "bench" (index 0) is on every volume, "group" 1 on three: the group drives, the bench tag is a seek per volume.
        var filter = Filter(("bench", ["true"]), ("group", ["1"]));
        var condition = f.Local.VolumeQueryCondition(filter);
        Assert.Contains("v.id IN (SELECT resource_id FROM tags WHERE key=@tagKey1", condition, StringComparison.Ordinal);
        Assert.Contains("EXISTS (SELECT 1 FROM tags WHERE resource_id = v.id AND key=@tagKey0", condition, StringComparison.Ordinal);

        var cases = new (TagFilter Filter, Func<VolumeInfo, bool> Admits)[]
        {
            (filter, v => v.Tags["group"] == "1"),
            (Filter(("bench", []), ("group", ["0", "3"])), v => v.Tags["group"] is "0" or "3"),
            (Filter(("bench", ["false"]), ("group", ["1"])), _ => false),
            (Filter(("group", ["2"])), v => v.Tags["group"] == "2"),
        };
        foreach (var (query, admits) in cases)
        {
            var got = await f.Local.DescribeVolumesAsync(query);
            // (in creation order; volumes created in one millisecond by id)
            Assert.Equal(volumes.Where(admits).Select(v => v.Id).Order(StringComparer.Ordinal), got.Select(v => v.Id).Order(StringComparer.Ordinal));
            Assert.All(got, v => Assert.Equal(volumes.Single(w => w.Id == v.Id).Tags, v.Tags));
        }
    }

    [Fact]
    public async Task TheNextCreationNumber_IsOneSeekOfTheCreationOrderIndex()
    {
        // Read under the catalog's write lock by every commit of new snapshots (a fire's group commits).
        await using var f = new LocalProviderFixture();
        var plan = f.Local.ExplainLastSeq();
        Assert.Contains(plan, line => line.Contains("snapshots_by_seq", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, line => line.StartsWith("SCAN snapshots", StringComparison.Ordinal) && !line.Contains("INDEX", StringComparison.Ordinal));
    }
}
