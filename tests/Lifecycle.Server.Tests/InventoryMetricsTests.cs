using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Server.Metrics;

namespace Lifecycle.Server.Tests;

/// <summary>The inventory gauges: what counts, what is the newest snapshot of a volume, and states that emptied.</summary>
public sealed class InventoryMetricsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly SnapshotPolicy Policy = new()
    {
        Name = "prod",
        Engine = EngineKind.Local,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules =
        [
            new Schedule { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 3 } },
            new Schedule { Name = "daily", Trigger = new CronTrigger("0 3 * * *", "UTC"), Retain = new RetentionRule { Count = 3 } },
        ],
    };

    private static SnapshotInfo Snapshot(string id, string volume, string region, DateTimeOffset start, string? policy = "prod", string schedule = "hourly",
        SnapshotState state = SnapshotState.Completed, StorageTier tier = StorageTier.Standard, bool copy = false, long bytes = 100)
    {
        var tags = ImmutableSortedDictionary<string, string>.Empty.Add(OwnershipTags.Schedule, schedule);
        tags = policy is null ? tags : tags.Add(OwnershipTags.Policy, policy);
        tags = copy ? tags.Add(OwnershipTags.SourceSnapshot, "snap-src").Add(OwnershipTags.SourceVolume, volume) : tags;
        return new SnapshotInfo { Id = id, VolumeId = volume, Region = region, StartTime = start, State = state, Tier = tier, StoredBytes = bytes, Tags = tags };
    }

    private static VolumeInfo Volume(string id) => new() { Id = id, Region = "r1", Zone = "r1a" };

    private static Dictionary<string, double> Values<T>(IEnumerable<Measurement<T>> measurements)
        where T : struct =>
        measurements.ToDictionary(
            m => string.Join(",", m.Tags.ToArray().Select(t => $"{t.Key}={t.Value}")),
            m => Convert.ToDouble(m.Value, System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Compute_CountsOwnedSnapshotsByPolicyRegionTierAndState_AndSumsBytesByRegionAndTier()
    {
        var inventory = new Inventory
        {
            Volumes = [Volume("vol-1")],
            Snapshots =
            [
                Snapshot("s1", "vol-1", "r1", Now.AddHours(-2)),
                Snapshot("s2", "vol-1", "r1", Now.AddHours(-1)),
                Snapshot("s3", "vol-1", "r1", Now, state: SnapshotState.Pending),
                Snapshot("s4", "vol-1", "r1", Now.AddDays(-30), tier: StorageTier.Archive, bytes: 1000),
                Snapshot("s5", "vol-x", "r2", Now.AddHours(-1), copy: true),
                Snapshot("s6", "vol-1", "r1", Now, policy: null), // by hand: nobody's
                Snapshot("s7", "vol-1", "r1", Now, policy: "removed"), // a policy no longer applied
            ],
        };

        var gauges = InventoryMetrics.Compute(new PolicySet([Policy]), inventory, Now);

        var counts = Values(gauges.Snapshots);
        Assert.Equal(2, counts["policy=prod,region=r1,tier=standard,state=completed"]);
        Assert.Equal(1, counts["policy=prod,region=r1,tier=standard,state=pending"]);
        Assert.Equal(1, counts["policy=prod,region=r1,tier=archive,state=completed"]);
        Assert.Equal(1, counts["policy=prod,region=r2,tier=standard,state=completed"]);
        Assert.Equal(4, counts.Count);
        var bytes = Values(gauges.StoredBytes);
        Assert.Equal(300, bytes["region=r1,tier=standard"]);
        Assert.Equal(1000, bytes["region=r1,tier=archive"]);
        Assert.Equal(100, bytes["region=r2,tier=standard"]);
    }

    [Fact]
    public void Compute_NewestIsTheLatestCompletedSourceSnapshotOfEachTargetedVolume_PerSchedule()
    {
        var inventory = new Inventory
        {
            Volumes = [Volume("vol-1"), Volume("vol-2")],
            Snapshots =
            [
                Snapshot("s1", "vol-1", "r1", Now.AddHours(-2)),
                Snapshot("s2", "vol-1", "r1", Now.AddHours(-1)),
                Snapshot("s3", "vol-1", "r1", Now, state: SnapshotState.Pending), // not completed yet
                Snapshot("s4", "vol-1", "r1", Now.AddDays(-1), schedule: "daily"),
                Snapshot("s5", "vol-1", "r1", Now.AddMinutes(-5), copy: true), // a copy is not the volume's backup in r1
                Snapshot("s6", "vol-9", "r1", Now.AddHours(-1)), // no longer targeted: no series
            ],
        };

        var newest = Values(InventoryMetrics.Compute(new PolicySet([Policy]), inventory, Now).Newest);

        Assert.Equal(Now.AddHours(-1).ToUnixTimeSeconds(), newest["policy=prod,schedule=hourly,volume=vol-1"]);
        Assert.Equal(Now.AddDays(-1).ToUnixTimeSeconds(), newest["policy=prod,schedule=daily,volume=vol-1"]);
        Assert.Equal(2, newest.Count);
    }

    [Fact]
    public void Compute_ReportsEachSchedulesInterval()
    {
        var intervals = Values(InventoryMetrics.Compute(new PolicySet([Policy]), Inventory.Empty, Now).Intervals);
        Assert.Equal(3600, intervals["policy=prod,schedule=hourly"]);
        Assert.Equal(86400, intervals["policy=prod,schedule=daily"]);
    }

    [Fact]
    public void Compute_ReportsACountThatEmptiedAsZero_WhileItsPolicyExists()
    {
        var before = InventoryMetrics.Compute(new PolicySet([Policy]), new Inventory
        {
            Snapshots = [Snapshot("s1", "vol-1", "r1", Now, state: SnapshotState.Pending), Snapshot("s2", "vol-1", "r1", Now, policy: "other")],
        }, Now);
        var keys = before.CountKeys.Add(("gone", "r1", "standard", "completed"));

        var after = Values(InventoryMetrics.Compute(new PolicySet([Policy]), new Inventory { Snapshots = [Snapshot("s1", "vol-1", "r1", Now)] }, Now, keys).Snapshots);

        Assert.Equal(0, after["policy=prod,region=r1,tier=standard,state=pending"]);
        Assert.Equal(1, after["policy=prod,region=r1,tier=standard,state=completed"]);
        Assert.DoesNotContain(after.Keys, k => k.Contains("policy=gone", StringComparison.Ordinal));
    }
}
