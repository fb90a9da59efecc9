using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// What keeps a fire of many creates fast (see `lifecycle bench scheduler`) without changing what the engine answers:
/// pins that do not wait for other snapshots' catalog commits, describes that read only the rows they match, and a
/// clock check that reads the catalog only when something can be due.
/// </summary>
public sealed class FireLoadTests
{
    private static readonly ImmutableSortedDictionary<string, string> NoTags = LocalProviderFixture.NoTags;

    /// <summary>A pin (a create's base blocks) and a lookup go on while another snapshot's commit holds the gate across its catalog write.</summary>
    [Fact]
    public async Task PinsAndLookups_DoNotWaitForACommitHoldingTheGate_AndGcStillKeepsEveryPinnedBlock()
    {
        var store = new BlockStore(Path.GetTempPath());
        var live = new BlockId(1, 1, 1, 1);
        var pinned = new BlockId(2, 2, 2, 2);
        var dead = new BlockId(3, 3, 3, 3);
        store.Load([(live, Location("p1")), (pinned, Location("p1")), (dead, Location("p2"))]);

        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var commit = Task.Run(() =>
        {
            lock (store.Gate)
            {
                holding.Set();
                release.Wait(TimeSpan.FromSeconds(30)); // a commit's catalog write, fsync included
            }
        });
        Assert.True(holding.Wait(TimeSpan.FromSeconds(30)));

        var pin = Task.Run(() => store.TryPin(pinned) && store.TryGet(live, out _) && store.Contains(dead));
        var finished = await Task.WhenAny(pin, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(pin, finished); // with pins under the gate, this waited for the release below
        Assert.True(await pin);

        release.Set();
        await commit;

        // GC's step: what is neither live nor pinned leaves the index; the pinned block stays, and a pin after the step fails.
        List<(BlockId Id, BlockLocation Location)> removed;
        lock (store.Gate)
        {
            removed = store.RemoveDeadUnderGate([live]);
        }

        Assert.Equal([dead], removed.Select(r => r.Id));
        Assert.True(store.Contains(pinned));
        Assert.False(store.TryPin(dead));
        Assert.Equal(2, store.Count);
    }

    private static BlockLocation Location(string pack) => new(pack, 0, 10, BlockEncoding.Raw, null);

    /// <summary>
    /// A describe by tag that matches more rows than are read one by one gets each snapshot's own tags and fast-restore
    /// state, and none of another's (the tags are now read for the matched rows only, not the region's).
    /// </summary>
    [Fact]
    public async Task WideDescribeByTag_ReturnsEachMatchedSnapshotWithItsOwnTagsAndFastRestore_AndNothingElse()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags);
        var mine = new List<string>();
        for (var i = 0; i < 70; i++)
        {
            var tags = NoTags.Add("policy", "mine").Add("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            mine.Add((await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, tags, null))).Id);
        }

        var others = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            others.Add((await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, NoTags.Add("policy", "other").Add("n", "x"), null))).Id);
        }

        foreach (var id in mine.Concat(others))
        {
            await region.WaitForSnapshotAsync(id);
        }

        await region.EnableFastSnapshotRestoresAsync(mine[5], ["test-1a"]);
        await region.EnableFastSnapshotRestoresAsync(others[0], ["test-1a"]);

        var described = await region.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("policy", "mine") });

        Assert.Equal(mine, described.Select(s => s.Id));
        for (var i = 0; i < described.Length; i++)
        {
            Assert.Equal(NoTags.Add("policy", "mine").Add("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture)), described[i].Tags);
            Assert.Equal(i == 5, !described[i].FastRestore.IsEmpty);
        }

        // Unfiltered: every snapshot, with its tags.
        var all = await region.DescribeSnapshotsAsync();
        Assert.Equal(73, all.Length);
        Assert.All(all.Where(s => others.Contains(s.Id)), s => Assert.Equal("other", s.Tags["policy"]));
        Assert.False(all.Single(s => s.Id == others[0]).FastRestore.IsEmpty);
    }

    /// <summary>A volume read by tags (key and values, key alone, several keys) returns exactly the matching volumes with all their tags.</summary>
    [Fact]
    public async Task DescribeVolumesByTags_ReturnsExactlyTheMatchingVolumes_WithAllTheirTags()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var a = await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags.Add("team", "a").Add("tier", "gold").Add("extra", "1"));
        var b = await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags.Add("team", "b").Add("tier", "gold"));
        var c = await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags.Add("team", "a"));
        await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags);

        async Task<string[]> Ids(TagFilter? filter) => [.. (await region.DescribeVolumesAsync(filter)).Select(v => v.Id).Order(StringComparer.Ordinal)];

        Assert.Equal(new[] { a.Id, c.Id }.Order(StringComparer.Ordinal), await Ids(TagFilter.Key("team", "a")));
        Assert.Equal(new[] { a.Id, b.Id, c.Id }.Order(StringComparer.Ordinal), await Ids(TagFilter.Key("team", "a", "b")));
        Assert.Equal(new[] { a.Id, b.Id }.Order(StringComparer.Ordinal), await Ids(TagFilter.Key("tier")));
        Assert.Equal([a.Id], await Ids(new TagFilter(ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
            [KeyValuePair.Create("team", ImmutableArray.Create("a")), KeyValuePair.Create("tier", ImmutableArray.Create("gold"))]))));
        Assert.Empty(await Ids(TagFilter.Key("team", "c")));
        Assert.Equal(4, (await Ids(null)).Length);
        var read = Assert.Single(await region.DescribeVolumesAsync(TagFilter.Key("extra")));
        Assert.Equal(NoTags.Add("team", "a").Add("tier", "gold").Add("extra", "1"), read.Tags);
    }

    /// <summary>
    /// The clock check keeps the next due instant in memory: a recycle-bin exit, a temporary restore's expiry or a
    /// fast-restore disable written after a describe found nothing due is still applied once its time comes.
    /// </summary>
    [Theory]
    [InlineData("recycle-bin exit")]
    [InlineData("restore expiry")]
    [InlineData("fast-restore disable")]
    public async Task AClockInstant_WrittenAfterADescribeFoundNothingDue_IsAppliedWhenItsTimeComes(string instant)
    {
        await using var f = new LocalProviderFixture(o => o.ArchiveMinimumRetention = TimeSpan.Zero);
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("test-1a", LocalRegion.BlockSize, NoTags);
        var snapshot = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, NoTags.Add(f.RecycleBinTag.Key, f.RecycleBinTag.Value), null));
        await region.WaitForSnapshotAsync(snapshot.Id);
        if (instant == "restore expiry")
        {
            await region.ArchiveSnapshotAsync(snapshot.Id);
        }
        else if (instant == "fast-restore disable")
        {
            await region.EnableFastSnapshotRestoresAsync(snapshot.Id, ["test-1a"]);
        }

        Assert.Single(await region.DescribeSnapshotsAsync()); // nothing due: remembered until a write sets an instant
        f.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(await region.DescribeSnapshotsAsync());

        switch (instant)
        {
            case "recycle-bin exit":
                await region.DeleteSnapshotAsync(snapshot.Id);
                Assert.Single(await region.ListSnapshotsInRecycleBinAsync());
                f.Advance(TimeSpan.FromDays(8)); // past the bin's 7 days
                Assert.Empty(await region.ListSnapshotsInRecycleBinAsync());
                break;
            case "restore expiry":
                await region.RestoreSnapshotTierAsync(snapshot.Id, days: 1);
                var restoring = Assert.Single(await region.DescribeSnapshotsAsync());
                Assert.Equal((StorageTier.Standard, true), (restoring.Tier, restoring.RestoreExpiryTime is not null));
                f.Advance(TimeSpan.FromDays(2));
                var rearchived = Assert.Single(await region.DescribeSnapshotsAsync());
                Assert.Equal((StorageTier.Archive, false), (rearchived.Tier, rearchived.RestoreExpiryTime is not null));
                break;
            default:
                await region.DisableFastSnapshotRestoresAsync(snapshot.Id, ["test-1a"]);
                Assert.NotEmpty(await region.DescribeFastSnapshotRestoresAsync(snapshot.Id)); // disabling
                f.Advance(TimeSpan.FromHours(1)); // past the disabling time: forgotten
                Assert.Single(await region.DescribeSnapshotsAsync());
                Assert.Empty(await region.DescribeFastSnapshotRestoresAsync(snapshot.Id));
                break;
        }
    }
}
