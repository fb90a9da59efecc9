using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.Provider.Conformance;

/// <summary>
/// The provider seam's contract, run against every engine (the local engine now, the EC2 client later). Subclass it
/// in an engine's test project and return a fresh fixture from <see cref="CreateFixtureAsync"/>.
/// </summary>
public abstract class ProviderConformanceTests
{
    protected abstract Task<IProviderFixture> CreateFixtureAsync();

    private static async Task<ProviderException> ExpectAsync(ProviderErrorKind kind, Func<Task> action)
    {
        var error = await Assert.ThrowsAsync<ProviderException>(action);
        Assert.Equal(kind, error.Kind);
        return error;
    }

    protected static async Task<SnapshotInfo> SnapshotAsync(IProviderFixture f, string volumeId, params (string, string)[] tags)
    {
        var started = await f.Provider.CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, Tags.Of(tags)));
        return await f.WaitForSnapshotAsync(f.Region, started.Id);
    }

    /// <summary>Tier moves are eventual on EC2 (archiving takes hours there): waits until describes show the tier.</summary>
    protected static async Task<SnapshotInfo> TierAsync(IProviderFixture f, string snapshotId, StorageTier tier)
    {
        return await Eventually.UntilAsync(
            async () => Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] })),
            snapshot => snapshot.Tier == tier, $"snapshot {snapshotId} to reach tier {tier}", f.TierChangeTimeout,
            describe: snapshot => $"tier {snapshot.Tier}");
    }

    [Fact]
    public async Task DescribeVolumes_ReturnsOnlyVolumes_WhoseTagsMatchEveryFilter()
    {
        await using var f = await CreateFixtureAsync();
        var prod = await f.CreateVolumeAsync(f.Zone, Tags.Of(("env", "prod"), ("team", "db")));
        var dev = await f.CreateVolumeAsync(f.Zone, Tags.Of(("env", "dev"), ("team", "db")));
        await f.CreateVolumeAsync(f.Zone, Tags.Of(("team", "web")));

        var byEnv = await f.Provider.DescribeVolumesAsync(TagFilter.Key("env", "prod", "dev"));
        Assert.Equal(new[] { dev.Id, prod.Id }.Order(), byEnv.Select(v => v.Id).Order());
        var both = await f.Provider.DescribeVolumesAsync(new TagFilter(ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty
            .Add("env", ["prod"]).Add("team", ["db"])));
        Assert.Equal(prod.Id, Assert.Single(both).Id);
        var anyValue = await f.Provider.DescribeVolumesAsync(TagFilter.Key("env"));
        Assert.Equal(2, anyValue.Length);
    }

    [Fact]
    public async Task CreateSnapshot_CarriesItsTagsFromTheStart_AndCompletes()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of(("env", "prod")));
        var started = await f.Provider.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, Tags.Of(("lifecycle:token", "t-1")), "nightly"));

        Assert.Contains(started.State, new[] { SnapshotState.Pending, SnapshotState.Completed });
        Assert.Equal("t-1", started.Tags["lifecycle:token"]);
        var listed = await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("lifecycle:token", "t-1") });
        Assert.Equal(started.Id, Assert.Single(listed).Id);
        var done = await f.WaitForSnapshotAsync(f.Region, started.Id);
        Assert.Equal(SnapshotState.Completed, done.State);
        Assert.Equal(100, done.Progress);
        Assert.Equal(volume.Id, done.VolumeId);
        Assert.Equal(f.Region, done.Region);
        Assert.Equal(StorageTier.Standard, done.Tier);
        Assert.Equal("nightly", done.Description);
    }

    [Fact]
    public async Task DescribeSnapshots_FiltersBySnapshotIdVolumeIdAndTags()
    {
        await using var f = await CreateFixtureAsync();
        var a = await f.CreateVolumeAsync(f.Zone, Tags.Of(("n", "a")));
        var b = await f.CreateVolumeAsync(f.Zone, Tags.Of(("n", "b")));
        var sa = await SnapshotAsync(f, a.Id, ("k", "1"));
        var sb = await SnapshotAsync(f, b.Id, ("k", "2"));

        Assert.Equal(sa.Id, Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [sa.Id] })).Id);
        Assert.Equal(sb.Id, Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { VolumeIds = [b.Id] })).Id);
        Assert.Equal(sb.Id, Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("k", "2") })).Id);
        Assert.Empty(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("k", "3") }));
    }

    [Fact]
    public async Task DescribeSnapshots_ByTagsOfTwoKeys_MatchesEveryKeyAndAnyOfItsValues()
    {
        // The read a fired schedule plans its creates from: lifecycle:policy one of the policies AND lifecycle:fire-time
        // one of the fire times due.
        await using var f = await CreateFixtureAsync();
        // One volume each: EC2 wants 15 s between two snapshots of one volume.
        async Task<SnapshotInfo> SnapshotOfNewVolumeAsync(params (string, string)[] tags) =>
            await SnapshotAsync(f, (await f.CreateVolumeAsync(f.Zone, Tags.Of(("n", "a")))).Id, tags);
        var p1Now = await SnapshotOfNewVolumeAsync(("policy", "p1"), ("fire", "now"));
        var p2Daily = await SnapshotOfNewVolumeAsync(("policy", "p2"), ("fire", "daily"));
        await SnapshotOfNewVolumeAsync(("policy", "p1"), ("fire", "before"));
        await SnapshotOfNewVolumeAsync(("policy", "p3"), ("fire", "now"));
        await SnapshotOfNewVolumeAsync(("policy", "p1"));

        var read = await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery
        {
            Tags = new TagFilter(ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("policy", ["p1", "p2"]).Add("fire", ["now", "daily"])),
        });

        Assert.Equal(new[] { p1Now.Id, p2Daily.Id }.Order(StringComparer.Ordinal), read.Select(s => s.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CreateSnapshot_OfAMissingVolume_IsNotFound()
    {
        await using var f = await CreateFixtureAsync();
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-0000000000000000", Tags.Of())));
    }

    [Fact]
    public async Task CreateSnapshots_TakesEveryVolumeOfTheInstance_ExceptTheBootVolumeWhenAsked()
    {
        await using var f = await CreateFixtureAsync();
        var boot = await f.CreateVolumeAsync(f.Zone, Tags.Of(), "i-1", isBoot: true);
        var data = await f.CreateVolumeAsync(f.Zone, Tags.Of(), "i-1");
        var excluded = await f.CreateVolumeAsync(f.Zone, Tags.Of(), "i-1");
        await f.CreateVolumeAsync(f.Zone, Tags.Of(), "i-2");

        var all = await f.Provider.CreateSnapshotsAsync(new CreateSnapshotsRequest("i-1", Tags.Of(("set", "all"))));
        Assert.Equal(new[] { boot.Id, data.Id, excluded.Id }.Order(), all.Select(s => s.VolumeId).Order());
        Assert.Single(all.Select(s => s.StartTime).Distinct());
        var some = await f.Provider.CreateSnapshotsAsync(new CreateSnapshotsRequest("i-1", Tags.Of(("set", "some")), ExcludeBootVolume: true, ExcludeVolumeIds: [excluded.Id]));
        Assert.Equal(data.Id, Assert.Single(some).VolumeId);
        Assert.Equal("some", some[0].Tags["set"]);
        foreach (var s in all.Concat(some))
        {
            Assert.Equal(SnapshotState.Completed, (await f.WaitForSnapshotAsync(f.Region, s.Id)).State);
        }
    }

    [Fact]
    public async Task CreateSnapshots_ForAnUnknownInstance_IsNotFound()
    {
        await using var f = await CreateFixtureAsync();
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.CreateSnapshotsAsync(new CreateSnapshotsRequest("i-missing", Tags.Of())));
    }

    [Fact]
    public async Task CopySnapshot_CreatesASnapshotInTheTargetRegion_RecordingItsSource()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var source = await SnapshotAsync(f, volume.Id, ("a", "1"));
        var target = f.Registry.For(f.OtherRegion);

        var copy = await target.CopySnapshotAsync(new CopySnapshotRequest(f.Region, source.Id, Tags.Of(("copy", "yes"))));
        Assert.Equal("yes", copy.Tags["copy"]);
        var done = await f.WaitForSnapshotAsync(f.OtherRegion, copy.Id);
        Assert.Equal(SnapshotState.Completed, done.State);
        Assert.Equal(f.OtherRegion, done.Region);
        Assert.Equal(source.Id, done.SourceSnapshotId);
        Assert.Equal(f.Region, done.SourceRegion);
        Assert.Equal(volume.Id, done.VolumeId);
        Assert.Single(await target.DescribeSnapshotsAsync());
    }

    [Fact]
    public async Task CopySnapshot_OfAMissingSnapshot_IsNotFound()
    {
        await using var f = await CreateFixtureAsync();
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Registry.For(f.OtherRegion)
            .CopySnapshotAsync(new CopySnapshotRequest(f.Region, "snap-00000000000000000", Tags.Of())));
    }

    [Fact]
    public async Task DeleteSnapshot_RemovesIt_AndDeletingItAgainIsSuccess()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);

        await f.Provider.DeleteSnapshotAsync(snapshot.Id);
        Assert.Empty(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
        await f.Provider.DeleteSnapshotAsync(snapshot.Id);
        await f.Provider.DeleteSnapshotAsync("snap-00000000000000000");
    }

    [Fact]
    public async Task DeleteSnapshot_InUse_IsIncorrectState()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        using (f.HoldInUse(f.Region, snapshot.Id))
        {
            await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.DeleteSnapshotAsync(snapshot.Id));
        }

        await f.Provider.DeleteSnapshotAsync(snapshot.Id);
        Assert.Empty(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
    }

    [Fact]
    public async Task ArchiveSnapshot_MovesItToTheArchiveTier_AndOnlyOnce()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);

        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        var archived = await TierAsync(f, snapshot.Id, StorageTier.Archive);
        Assert.NotNull(archived.ArchivedAt);
        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.ArchiveSnapshotAsync(snapshot.Id));
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.ArchiveSnapshotAsync("snap-00000000000000000"));
    }

    [Fact]
    public async Task CreateVolume_FromAnArchivedSnapshot_IsIncorrectState_UntilRestored()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        await TierAsync(f, snapshot.Id, StorageTier.Archive);

        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.CreateVolumeAsync(new CreateVolumeRequest(snapshot.Id, f.Zone, Tags.Of())));
        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Registry.For(f.OtherRegion).CopySnapshotAsync(new CopySnapshotRequest(f.Region, snapshot.Id, Tags.Of())));
        await f.Provider.RestoreSnapshotTierAsync(snapshot.Id, days: 3);
        var restored = await TierAsync(f, snapshot.Id, StorageTier.Standard);
        Assert.NotNull(restored.RestoreExpiryTime);
        var created = await f.Provider.CreateVolumeAsync(new CreateVolumeRequest(snapshot.Id, f.Zone, Tags.Of(("restored", "1"))));
        Assert.Equal(snapshot.Id, created.SnapshotId);
    }

    [Fact]
    public async Task RestoreSnapshotTier_OfAStandardSnapshot_IsIncorrectState()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.RestoreSnapshotTierAsync(snapshot.Id, null));
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.RestoreSnapshotTierAsync("snap-00000000000000000", null));
    }

    [Fact]
    public async Task RestoreSnapshotTier_Permanently_ReturnsItToTheStandardTierForGood()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        await TierAsync(f, snapshot.Id, StorageTier.Archive);
        await f.Provider.RestoreSnapshotTierAsync(snapshot.Id, null);

        var restored = await TierAsync(f, snapshot.Id, StorageTier.Standard);
        Assert.Null(restored.RestoreExpiryTime);
        await f.Provider.DeleteSnapshotAsync(snapshot.Id);
    }

    [Fact]
    public async Task CreateVolume_FromASnapshot_RecordsTheSnapshot_AndAMissingSnapshotIsNotFound()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);

        var created = await f.Provider.CreateVolumeAsync(new CreateVolumeRequest(snapshot.Id, f.OtherZone, Tags.Of(("from", "snap"))));
        Assert.Equal(f.OtherZone, created.Zone);
        Assert.Equal(snapshot.Id, created.SnapshotId);
        Assert.Equal("snap", created.Tags["from"]);
        Assert.Contains(await f.Provider.DescribeVolumesAsync(), v => v.Id == created.Id);
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.CreateVolumeAsync(new CreateVolumeRequest("snap-00000000000000000", f.Zone, Tags.Of())));
    }

    [Fact]
    public async Task CreateTags_AddsAndOverwritesTags_AndAMissingResourceIsNotFound()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of(("a", "1")));
        var snapshot = await SnapshotAsync(f, volume.Id, ("a", "1"));

        await f.Provider.CreateTagsAsync(snapshot.Id, Tags.Of(("a", "2"), ("b", "3")));
        await f.Provider.CreateTagsAsync(volume.Id, Tags.Of(("c", "4")));
        var tagged = Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
        Assert.Equal(Tags.Of(("a", "2"), ("b", "3")), tagged.Tags);
        Assert.Equal("4", Assert.Single(await f.Provider.DescribeVolumesAsync(TagFilter.Key("c", "4"))).Tags["c"]);
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.CreateTagsAsync("snap-00000000000000000", Tags.Of(("a", "1"))));
    }

    /// <summary>
    /// The planner disables fast restore on snapshots that leave the newest N by what DescribeSnapshots reports: every
    /// engine must report it there (EC2's DescribeSnapshots does not carry it; the provider adds it).
    /// </summary>
    [Fact]
    public async Task DescribeSnapshots_ReportsFastRestorePerZone_OnceEnabled_AndNothingForOthers()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var enabled = await SnapshotAsync(f, volume.Id);
        var plain = await SnapshotAsync(f, volume.Id);
        await f.Provider.EnableFastSnapshotRestoresAsync(enabled.Id, [f.Zone]);

        var described = (await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [enabled.Id, plain.Id] })).ToDictionary(s => s.Id);

        Assert.Contains(described[enabled.Id].FastRestore[f.Zone], new[] { FastRestoreState.Enabling, FastRestoreState.Optimizing, FastRestoreState.Enabled });
        Assert.Empty(described[plain.Id].FastRestore);
    }

    [Fact]
    public async Task EnableFastSnapshotRestores_OnAMissingSnapshot_IsNotFound_AndOnAnArchivedOne_IncorrectState()
    {
        await using var f = await CreateFixtureAsync();
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.EnableFastSnapshotRestoresAsync("snap-00000000000000000", [f.Zone]));
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        await TierAsync(f, snapshot.Id, StorageTier.Archive);
        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.EnableFastSnapshotRestoresAsync(snapshot.Id, [f.Zone]));
    }

    [Fact]
    public async Task DeleteSnapshot_MatchingARecycleBinRule_GoesToTheBin_AndCanBeRestored()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var binned = await SnapshotAsync(f, volume.Id, (f.RecycleBinTag.Key, f.RecycleBinTag.Value));
        var gone = await SnapshotAsync(f, volume.Id);

        await f.Provider.DeleteSnapshotAsync(binned.Id);
        await f.Provider.DeleteSnapshotAsync(gone.Id);
        Assert.Empty(await f.Provider.DescribeSnapshotsAsync());
        var entry = Assert.Single(await f.Provider.ListSnapshotsInRecycleBinAsync());
        Assert.Equal(binned.Id, entry.Snapshot.Id);
        Assert.Equal(TimeSpan.FromDays(7), entry.RecycleBinExitTime - entry.RecycleBinEnterTime);
        await ExpectAsync(ProviderErrorKind.NotFound, () => f.Provider.RestoreSnapshotFromRecycleBinAsync(gone.Id));

        var restored = await f.Provider.RestoreSnapshotFromRecycleBinAsync(binned.Id);
        Assert.Equal(binned.Id, restored.Id);
        Assert.Single(await f.Provider.DescribeSnapshotsAsync());
        Assert.Empty(await f.Provider.ListSnapshotsInRecycleBinAsync());
    }
}

/// <summary>Contract parts that need a clock the test can move: archive minimum, temporary restores, recycle-bin expiry, fast-restore progress.</summary>
public abstract class ClockedProviderConformanceTests
{
    protected abstract Task<IClockedProviderFixture> CreateFixtureAsync();

    private static async Task<SnapshotInfo> SnapshotAsync(IProviderFixture f, string volumeId, params (string, string)[] tags)
    {
        var started = await f.Provider.CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, Tags.Of(tags)));
        return await f.WaitForSnapshotAsync(f.Region, started.Id);
    }

    [Fact]
    public async Task FastSnapshotRestore_MovesFromEnablingThroughOptimizingToEnabled_AndBackToDisabled()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync("zone-a", Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);

        var enabling = await f.Provider.EnableFastSnapshotRestoresAsync(snapshot.Id, ["zone-a", "zone-b"]);
        Assert.All(enabling, z => Assert.Equal(FastRestoreState.Enabling, z.State));
        f.Advance(TimeSpan.FromSeconds(61));
        Assert.All(await f.Provider.DescribeFastSnapshotRestoresAsync(snapshot.Id), z => Assert.Equal(FastRestoreState.Optimizing, z.State));
        f.Advance(TimeSpan.FromMinutes(30));
        Assert.All(await f.Provider.DescribeFastSnapshotRestoresAsync(snapshot.Id), z => Assert.Equal(FastRestoreState.Enabled, z.State));
        var described = Assert.Single(await f.Provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
        Assert.Equal(FastRestoreState.Enabled, described.FastRestore["zone-b"]);

        var disabling = await f.Provider.DisableFastSnapshotRestoresAsync(snapshot.Id, ["zone-b"]);
        Assert.Equal(FastRestoreState.Disabling, Assert.Single(disabling).State);
        f.Advance(TimeSpan.FromMinutes(5));
        var left = Assert.Single(await f.Provider.DescribeFastSnapshotRestoresAsync(snapshot.Id));
        Assert.Equal(("zone-a", FastRestoreState.Enabled), (left.Zone, left.State));
    }

    [Fact]
    public async Task TemporaryTierRestore_ReturnsToTheArchive_WhenItsDaysAreOver()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync("zone-a", Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        await f.Provider.RestoreSnapshotTierAsync(snapshot.Id, days: 2);

        f.Advance(TimeSpan.FromDays(1));
        Assert.Equal(StorageTier.Standard, Assert.Single(await f.Provider.DescribeSnapshotsAsync()).Tier);
        f.Advance(TimeSpan.FromDays(1.5));
        Assert.Equal(StorageTier.Archive, Assert.Single(await f.Provider.DescribeSnapshotsAsync()).Tier);
    }

    [Fact]
    public async Task DeleteSnapshot_ArchivedMoreThan90DaysAgo_Succeeds()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync("zone-a", Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        f.Advance(TimeSpan.FromDays(89));
        await Assert.ThrowsAsync<ProviderException>(() => f.Provider.DeleteSnapshotAsync(snapshot.Id));
        f.Advance(TimeSpan.FromDays(2));
        await f.Provider.DeleteSnapshotAsync(snapshot.Id);
        Assert.Empty(await f.Provider.DescribeSnapshotsAsync());
    }

    [Fact]
    public async Task RecycleBinEntries_ArePurged_WhenTheirRetentionEnds()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync("zone-a", Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id, (f.RecycleBinTag.Key, f.RecycleBinTag.Value));
        await f.Provider.DeleteSnapshotAsync(snapshot.Id);

        f.Advance(TimeSpan.FromDays(6.9));
        Assert.Single(await f.Provider.ListSnapshotsInRecycleBinAsync());
        f.Advance(TimeSpan.FromDays(0.2));
        Assert.Empty(await f.Provider.ListSnapshotsInRecycleBinAsync());
        await Assert.ThrowsAsync<ProviderException>(() => f.Provider.RestoreSnapshotFromRecycleBinAsync(snapshot.Id));
    }
}

/// <summary>
/// Expectations of the local engine's own rules that EC2 (and so the EC2-compatible endpoint) does not share: EC2
/// deletes an archived snapshot before its 90 days (billing the rest), and does not know a snapshot in the recycle
/// bin (NotFound rather than IncorrectState).
/// </summary>
public abstract class LocalEngineOnlyConformanceTests
{
    protected abstract Task<IProviderFixture> CreateFixtureAsync();

    private static async Task<ProviderException> ExpectAsync(ProviderErrorKind kind, Func<Task> action)
    {
        var error = await Assert.ThrowsAsync<ProviderException>(action);
        Assert.Equal(kind, error.Kind);
        return error;
    }

    private static async Task<SnapshotInfo> SnapshotAsync(IProviderFixture f, string volumeId, params (string, string)[] tags)
    {
        var started = await f.Provider.CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, Tags.Of(tags)));
        return await f.WaitForSnapshotAsync(f.Region, started.Id);
    }

    [Fact]
    public async Task DeleteSnapshot_ArchivedLessThan90DaysAgo_IsIncorrectState()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var snapshot = await SnapshotAsync(f, volume.Id);
        await f.Provider.ArchiveSnapshotAsync(snapshot.Id);
        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.DeleteSnapshotAsync(snapshot.Id));
    }

    [Fact]
    public async Task CreateVolume_FromASnapshotInTheRecycleBin_IsIncorrectState()
    {
        await using var f = await CreateFixtureAsync();
        var volume = await f.CreateVolumeAsync(f.Zone, Tags.Of());
        var binned = await SnapshotAsync(f, volume.Id, (f.RecycleBinTag.Key, f.RecycleBinTag.Value));
        await f.Provider.DeleteSnapshotAsync(binned.Id);

        await ExpectAsync(ProviderErrorKind.IncorrectState, () => f.Provider.CreateVolumeAsync(new CreateVolumeRequest(binned.Id, f.Zone, Tags.Of())));
    }
}
