using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>What the planner needs from the engine's inventory, and the engine doing what a plan asks.</summary>
public sealed class PlannerOnTheEngineTests
{
    private const int Block = LocalRegion.BlockSize;

    [Fact]
    public async Task ArchivedAt_IsTheEngineClockWhenTheSnapshotEnteredTheArchive_AndSurvivesAReopen()
    {
        // DLM: archive retention is measured from the time the snapshot is moved to the archive tier, so the engine
        // must report that time (EC2: DescribeSnapshotTierStatus's LastTieringStartTime), not only the start time.
        await using var f = new LocalProviderFixture();
        var volume = await f.Local.CreateVolumeAsync("a", 2L * Block, LocalProviderFixture.NoTags);
        await f.Local.WriteAsync(volume.Id, 0, RandomBytes(2 * Block, 7));
        var snapshot = await SnapshotAsync(f.Local, volume.Id);
        Assert.Null(snapshot.ArchivedAt);

        f.Advance(TimeSpan.FromDays(40));
        var archivedAt = f.Clock.GetUtcNow();
        await f.Local.ArchiveSnapshotAsync(snapshot.Id);
        f.Reopen();

        var described = Assert.Single(await f.Local.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
        Assert.Equal(StorageTier.Archive, described.Tier);
        Assert.Equal(archivedAt, described.ArchivedAt);
        Assert.Equal(snapshot.StartTime, described.StartTime);

        // and the inventory file carries it
        var exported = InventoryJson.Read(InventoryJson.Write(new Core.Inventory.Inventory { Snapshots = [described] }));
        Assert.Equal(archivedAt, exported.Snapshots[0].ArchivedAt);
    }

    [Fact]
    public async Task InstanceSetCreate_FromThePlan_SnapshotsEveryAttachedVolume_ButTheBootAndExcludedOnes()
    {
        // DLM: a policy targeting instances snapshots all EBS volumes attached to the instance; ExcludeBootVolume
        // leaves out the root volume; ExcludeDataVolumeTags leaves out data volumes with those tags.
        await using var f = new LocalProviderFixture();
        var root = await f.CreateVolumeAsync("a", LocalProviderFixture.NoTags, "i-db", isBoot: true);
        var data = await f.CreateVolumeAsync("a", Tags(("role", "database")), "i-db");
        var logs = await f.CreateVolumeAsync("a", LocalProviderFixture.NoTags, "i-db");
        var scratch = await f.CreateVolumeAsync("a", Tags(("scratch", "true")), "i-db");
        await f.CreateVolumeAsync("a", Tags(("role", "database"))); // not attached: not part of any set

        var policy = new SnapshotPolicy
        {
            Name = "db",
            Regions = [f.Region],
            Targets = new TargetSelector
            {
                Resource = ResourceKind.Instance,
                Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("role", ImmutableArray.Create("database"))]),
                ExcludeTags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("scratch", ImmutableArray.Create("true"))]),
                ExcludeBootVolume = true,
            },
            Schedules = [new Schedule { Name = "daily", Trigger = new CronTrigger("0 2 * * *", "UTC"), Retain = new RetentionRule { Count = 3 } }],
        };
        var inventory = new Core.Inventory.Inventory { Volumes = await f.Local.DescribeVolumesAsync() };
        var create = Assert.Single(new SnapshotPlanner().Plan(new PolicySet([policy]), inventory, f.Clock.GetUtcNow()).Actions);
        Assert.Equal(new[] { data.Id, logs.Id }.Order(StringComparer.Ordinal), create.VolumeIds.Order(StringComparer.Ordinal));

        var snapshots = await f.Local.CreateSnapshotsAsync(CreateSnapshotsRequest.For(create, create.Tags));

        Assert.Equal(create.VolumeIds.Order(StringComparer.Ordinal), snapshots.Select(s => s.VolumeId).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(snapshots, s => s.VolumeId == root.Id || s.VolumeId == scratch.Id);
        Assert.All(snapshots, s => Assert.Equal("i-db", s.Tags[OwnershipTags.Instance]));
    }

    private static ImmutableSortedDictionary<string, string> Tags(params (string Key, string Value)[] tags) =>
        tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
}
