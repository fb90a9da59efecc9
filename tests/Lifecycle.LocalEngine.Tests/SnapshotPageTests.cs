using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// Keyset pages of snapshots (the EC2 endpoint's DescribeSnapshots): each filter selects exactly what the full
/// describe selects, a walk over pages sees each snapshot once in id order, and a tag page walks a tag index.
/// </summary>
public sealed class SnapshotPageTests
{
    private static ImmutableSortedDictionary<string, ImmutableArray<string>> Filter(string key, params string[] values) =>
        ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal).Add(key, [.. values]);

    private static async Task<List<string>> WalkAsync(LocalRegion region, SnapshotPageQuery query, int pageSize)
    {
        var ids = new List<string>();
        string? after = null;
        while (true)
        {
            var page = await region.DescribeSnapshotsPageAsync(query with { AfterId = after, Limit = pageSize });
            Assert.True(page.Snapshots.Length <= pageSize);
            ids.AddRange(page.Snapshots.Select(s => s.Id));
            if (!page.HasMore)
            {
                return ids;
            }

            after = page.Snapshots[^1].Id;
        }
    }

    [Fact]
    public async Task PagesOfEveryFilter_SelectWhatTheFullDescribeSelects_InIdOrder_EachOnce()
    {
        await using var f = new LocalProviderFixture();
        var a = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        var b = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        var all = new List<SnapshotInfo>();
        for (var i = 0; i < 30; i++)
        {
            var tags = new List<(string, string)> { ("n", (i % 3).ToString(System.Globalization.CultureInfo.InvariantCulture)) };
            if (i % 4 == 0)
            {
                tags.Add(("four", "yes"));
            }

            all.Add(await SnapshotAsync(f.Local, i % 2 == 0 ? a.Id : b.Id, [.. tags]));
        }

        await f.Local.ArchiveSnapshotAsync(all[5].Id);
        await f.Local.DeleteSnapshotAsync(all[7].Id);
        var live = (await f.Local.DescribeSnapshotsAsync()).ToList();
        var cases = new (SnapshotPageQuery Query, Func<SnapshotInfo, bool> Expected)[]
        {
            (new SnapshotPageQuery(), _ => true),
            (new SnapshotPageQuery { Tags = new TagFilter(Filter("n", "1")) }, s => s.Tags.GetValueOrDefault("n") == "1"),
            (new SnapshotPageQuery { Tags = new TagFilter(Filter("n", "0", "2")) }, s => s.Tags.GetValueOrDefault("n") is "0" or "2"),
            (new SnapshotPageQuery { Tags = new TagFilter(Filter("n", "0").Add("four", [])) }, s => s.Tags.GetValueOrDefault("n") == "0" && s.Tags.ContainsKey("four")),
            (new SnapshotPageQuery { AnyTagKeys = ["four"] }, s => s.Tags.ContainsKey("four")),
            (new SnapshotPageQuery { AnyTagKeys = ["four", "missing"], VolumeIds = [a.Id] }, s => s.Tags.ContainsKey("four") && s.VolumeId == a.Id),
            (new SnapshotPageQuery { Tiers = [StorageTier.Archive] }, s => s.Tier == StorageTier.Archive),
            (new SnapshotPageQuery { Tiers = [StorageTier.Standard], States = [SnapshotState.Completed] }, s => s.Tier == StorageTier.Standard),
            (new SnapshotPageQuery { SnapshotIds = [all[1].Id, all[7].Id, all[9].Id] }, s => s.Id == all[1].Id || s.Id == all[9].Id),
        };
        // Both walks of a tag condition of several values: through tags_by_key_value for a narrow one (few matching
        // tags), through tags_by_key for a broad one (here: a threshold no condition is under).
        foreach (var narrowTagMatches in new[] { f.Local.NarrowTagMatches, 0 })
        {
            f.Local.NarrowTagMatches = narrowTagMatches;
            foreach (var (query, expected) in cases)
            {
                var want = live.Where(expected).Select(s => s.Id).Order(StringComparer.Ordinal).ToList();
                Assert.Equal(want, await WalkAsync(f.Local, query, pageSize: 4));
                Assert.Equal(want, await WalkAsync(f.Local, query, pageSize: 1000));
            }
        }

        var page = await f.Local.DescribeSnapshotsPageAsync(new SnapshotPageQuery { Tags = new TagFilter(Filter("four", "yes")), Limit = 2 });
        Assert.All(page.Snapshots, s => Assert.Equal("yes", s.Tags["four"]));
        await Assert.ThrowsAsync<ProviderException>(() => f.Local.DescribeSnapshotsPageAsync(new SnapshotPageQuery { Limit = 0 }));
    }

    [Fact]
    public async Task ATagPage_WalksATagIndex_NotTheSnapshots()
    {
        await using var f = new LocalProviderFixture();
        var one = f.Local.ExplainSnapshotPage(new SnapshotPageQuery { Tags = new TagFilter(Filter("k", "v")), AfterId = "snap-0" });
        Assert.Contains(one, line => line.Contains("tags_by_key_value", StringComparison.Ordinal));
        var key = f.Local.ExplainSnapshotPage(new SnapshotPageQuery { AnyTagKeys = ["k"] });
        Assert.Contains(key, line => line.Contains("tags_by_key", StringComparison.Ordinal));
        f.Local.NarrowTagMatches = 0; // every condition of several values counts as broad
        var broad = f.Local.ExplainSnapshotPage(new SnapshotPageQuery { Tags = new TagFilter(Filter("k", "v", "w")) });
        Assert.Contains(broad, line => line.Contains("tags_by_key ", StringComparison.Ordinal) || line.EndsWith("tags_by_key", StringComparison.Ordinal));
        Assert.All([one, key, broad], plan => Assert.DoesNotContain(plan, line => line.StartsWith("SCAN s", StringComparison.Ordinal) || line.Contains("TEMP B-TREE", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ATagPageOfAFewMatchingValues_SeeksEachValue_AndSortsOnlyItsMatches()
    {
        // A batch of token lookups: walking every tag of the key would read the whole region's tokens.
        await using var f = new LocalProviderFixture();
        var volume = await f.CreateVolumeAsync("a", ImmutableSortedDictionary<string, string>.Empty);
        await SnapshotAsync(f.Local, volume.Id, ("k", "v"));

        var narrow = f.Local.ExplainSnapshotPage(new SnapshotPageQuery { Tags = new TagFilter(Filter("k", "v", "w")) });

        Assert.Contains(narrow, line => line.Contains("tags_by_key_value", StringComparison.Ordinal));
        Assert.DoesNotContain(narrow, line => line.StartsWith("SCAN s", StringComparison.Ordinal));
    }
}
