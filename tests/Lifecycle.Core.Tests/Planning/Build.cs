using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>Small builders for policies and inventories in tests.</summary>
internal static class Build
{
    public static DateTimeOffset At(string iso) =>
        DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public static ImmutableSortedDictionary<string, string> Tags(params string[] pairs)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < pairs.Length; i += 2)
        {
            builder[pairs[i]] = pairs[i + 1];
        }

        return builder.ToImmutable();
    }

    public static Schedule Daily(string name = "daily", RetentionRule? retain = null, string cron = "0 2 * * *") => new()
    {
        Name = name,
        Trigger = new CronTrigger(cron, "UTC"),
        Retain = retain ?? new RetentionRule { Count = 3 },
    };

    public static Schedule Every(string name, string every, RetentionRule retain, string startAt = "00:00") => new()
    {
        Name = name,
        Trigger = new IntervalTrigger(PolicyDuration.Parse(every), TimeOnly.Parse(startAt, CultureInfo.InvariantCulture)),
        Retain = retain,
    };

    public static SnapshotPolicy Policy(string name = "prod", params Schedule[] schedules) => new()
    {
        Name = name,
        Regions = ["eu-west-1"],
        Targets = new TargetSelector
        {
            Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                [KeyValuePair.Create("backup", ImmutableArray.Create("yes"))]),
        },
        Schedules = schedules.Length == 0 ? [Daily()] : [.. schedules],
    };

    public static VolumeInfo Volume(string id = "vol-1", string region = "eu-west-1", string backup = "yes") => new()
    {
        Id = id,
        Region = region,
        Zone = region + "a",
        SizeGiB = 100,
        Tags = Tags("backup", backup),
    };

    /// <summary>An owned snapshot as the planner would have created it for a fire time.</summary>
    public static SnapshotInfo Owned(string id, string fireTime, string policy = "prod", string schedule = "daily",
        string volume = "vol-1", string region = "eu-west-1", SnapshotState state = SnapshotState.Completed)
    {
        var fire = At(fireTime);
        return new SnapshotInfo
        {
            Id = id,
            VolumeId = volume,
            Region = region,
            StartTime = fire.AddMinutes(1),
            State = state,
            VolumeSizeGiB = 100,
            Tags = Tags(
                OwnershipTags.Policy, policy,
                OwnershipTags.Schedule, schedule,
                OwnershipTags.Schedules, schedule,
                OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire),
                OwnershipTags.Token, CreationToken.ForCreate(policy, schedule, fire, volume)),
        };
    }

    /// <summary>Daily owned snapshots at 02:00 for the given days before (and including) the last one.</summary>
    public static IEnumerable<SnapshotInfo> DailySeries(string lastDay, int days, string schedule = "daily", string volume = "vol-1")
    {
        var last = At(lastDay + "T02:00:00Z");
        for (var i = 0; i < days; i++)
        {
            var fire = last.AddDays(-i);
            yield return Owned($"snap-{volume}-{fire:yyyyMMdd}", OwnershipTags.FormatFireTime(fire), schedule: schedule, volume: volume);
        }
    }

    public static Inventory.Inventory InventoryOf(IEnumerable<VolumeInfo> volumes, IEnumerable<SnapshotInfo> snapshots) =>
        new() { Volumes = [.. volumes], Snapshots = [.. snapshots] };

    public static PolicySet Set(params SnapshotPolicy[] policies) => new([.. policies]);
}
