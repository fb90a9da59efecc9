using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;

namespace Lifecycle.Server.Metrics;

/// <summary>
/// The inventory gauges from one read of the inventory: snapshots by policy, region, tier and state; stored bytes by
/// region and tier; the newest completed snapshot of each targeted volume by policy and schedule; each schedule's
/// interval. A pure function (no I/O, <c>now</c> passed in), run by the background refresh, never by a scrape.
/// </summary>
public static class InventoryMetrics
{
    /// <summary>The measurements of <paramref name="inventory"/> under <paramref name="policies"/>.</summary>
    /// <param name="previousKeys">Label sets of counts reported before: those now empty are reported as 0 (while their
    /// policy exists), so a state that emptied (pending → none) drops to zero instead of keeping its last value.</param>
    public static InventoryGauges Compute(PolicySet policies, Inventory inventory, DateTimeOffset now, IReadOnlySet<(string Policy, string Region, string Tier, string State)>? previousKeys = null)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(inventory);
        var policyNames = policies.Policies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var counts = new Dictionary<(string Policy, string Region, string Tier, string State), long>();
        var bytes = new Dictionary<(string Region, string Tier), double>();
        var newest = new Dictionary<(string Policy, string Schedule, string Volume), DateTimeOffset>();
        var targeted = inventory.Volumes.Select(v => (v.Region, v.Id)).ToHashSet();

        foreach (var s in inventory.Snapshots)
        {
            if (!s.Tags.TryGetValue(OwnershipTags.Policy, out var policy) || !policyNames.Contains(policy))
            {
                continue;
            }

            var tier = Name(s.Tier);
            var key = (policy, s.Region, tier, Name(s.State));
            counts[key] = counts.GetValueOrDefault(key) + 1;
            var byTier = (s.Region, tier);
            bytes[byTier] = bytes.GetValueOrDefault(byTier) + (s.StoredBytes ?? s.FullSizeBytes ?? 0);

            if (s.State == SnapshotState.Completed
                && !s.Tags.ContainsKey(OwnershipTags.SourceSnapshot)
                && s.Tags.TryGetValue(OwnershipTags.Schedule, out var schedule)
                && targeted.Contains((s.Region, s.VolumeId)))
            {
                var at = (policy, schedule, s.VolumeId);
                if (!newest.TryGetValue(at, out var known) || s.StartTime > known)
                {
                    newest[at] = s.StartTime;
                }
            }
        }

        foreach (var key in previousKeys ?? ImmutableHashSet<(string, string, string, string)>.Empty)
        {
            if (policyNames.Contains(key.Policy))
            {
                counts.TryAdd(key, 0);
            }
        }

        var intervals = ImmutableArray.CreateBuilder<Measurement<double>>();
        foreach (var policy in policies.Policies)
        {
            foreach (var schedule in policy.Schedules)
            {
                var interval = IntervalOf(schedule.Trigger, now);
                if (interval > TimeSpan.Zero)
                {
                    intervals.Add(new Measurement<double>(interval.TotalSeconds, Tag("policy", policy.Name), Tag("schedule", schedule.Name)));
                }
            }
        }

        return new InventoryGauges(
            [.. counts.Select(p => new Measurement<long>(p.Value, Tag("policy", p.Key.Policy), Tag("region", p.Key.Region), Tag("tier", p.Key.Tier), Tag("state", p.Key.State)))],
            [.. bytes.Select(p => new Measurement<double>(p.Value, Tag("region", p.Key.Region), Tag("tier", p.Key.Tier)))],
            [.. newest.Select(p => new Measurement<double>(p.Value.ToUnixTimeMilliseconds() / 1000.0, Tag("policy", p.Key.Policy), Tag("schedule", p.Key.Schedule), Tag("volume", p.Key.Volume)))],
            intervals.ToImmutable(),
            counts.Keys.ToImmutableHashSet());
    }

    /// <summary>The gap between the schedule's next two fire times after <paramref name="now"/> (zero when it has none).</summary>
    public static TimeSpan IntervalOf(ScheduleTrigger trigger, DateTimeOffset now)
    {
        var calendar = ScheduleCalendar.For(trigger);
        return calendar.NextAfter(now) is { } first && calendar.NextAfter(first) is { } second ? second - first : TimeSpan.Zero;
    }

    private static KeyValuePair<string, object?> Tag(string name, string value) => new(name, value);

    private static string Name(StorageTier tier) => tier == StorageTier.Archive ? "archive" : "standard";

    private static string Name(SnapshotState state) => state switch
    {
        SnapshotState.Pending => "pending",
        SnapshotState.Completed => "completed",
        SnapshotState.Error => "error",
        SnapshotState.Recoverable => "recoverable",
        SnapshotState.Recovering => "recovering",
        _ => "other",
    };
}

/// <summary>The inventory gauges' measurements, and the count label sets reported (for the next refresh's zeros).</summary>
public sealed record InventoryGauges(
    ImmutableArray<Measurement<long>> Snapshots,
    ImmutableArray<Measurement<double>> StoredBytes,
    ImmutableArray<Measurement<double>> Newest,
    ImmutableArray<Measurement<double>> Intervals,
    ImmutableHashSet<(string Policy, string Region, string Tier, string State)> CountKeys);
