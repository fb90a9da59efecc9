using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;

namespace Lifecycle.Core.Simulation;

/// <summary>
/// Runs the planner forward in virtual time over an in-memory inventory and measures what the policies would hold
/// and cost. Pure and deterministic: no clock, no I/O.
/// </summary>
/// <remarks>
/// <para>The clock stops at every fire time of every enabled schedule and once a day (from <c>From</c>). At each
/// stop the policies concerned (those firing then; all of them on a daily tick) are planned twice: the first plan's
/// creates are applied (snapshots complete at once), then a second plan at the same instant supplies copies,
/// archive moves, fast-restore changes and deletions, which therefore see the new snapshot, as the executor does
/// after a creation completes.</para>
/// <para>Storage model (EBS-like incremental chains): per volume and region, the standard-tier snapshots ordered by
/// start time form a chain. The oldest holds the full volume size; each later one holds what changed since its
/// predecessor in the chain: min(size, change rate × size × days between them). Deleting a snapshot merges its
/// interval into its successor's, so storage falls by less than its own increment, as on EBS. Copies form their own
/// chain in their region (the first copy full, then incremental). An archived snapshot holds the full volume size.
/// Storage is integrated over time into GiB-months (a month is 730 hours).</para>
/// </remarks>
public sealed class SnapshotSimulator
{
    private const double HoursPerMonth = 730;

    private readonly SnapshotPlanner planner = new(cacheOwnershipTags: true);

    public SimulationReport Run(PolicySet policies, Inventory.Inventory inventory, SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(inventory);
        ArgumentNullException.ThrowIfNull(options);
        return new SimulationRun(planner, policies, inventory, options).Execute();
    }

    /// <summary>
    /// The policy that adopts the Amazon DLM policy which made an untagged snapshot, for the storage totals (the planner
    /// decides which of them it really adopts); null when none, or several, adopt it.
    /// </summary>
    private static string? AdopterOf(PolicySet policies, SnapshotInfo snapshot)
    {
        if (!snapshot.Tags.TryGetValue(DlmTags.PolicyId, out var dlmPolicy))
        {
            return null;
        }

        var adopters = policies.Policies.Where(p => p.Adopt?.DlmPolicyId == dlmPolicy).Take(2).ToList();
        return adopters.Count == 1 ? adopters[0].Name : null;
    }

    private sealed class SimulationRun(SnapshotPlanner planner, PolicySet policies, Inventory.Inventory inventory, SimulationOptions options)
    {
        private readonly Dictionary<string, SnapshotInfo> live = inventory.Snapshots.ToDictionary(s => s.Id, StringComparer.Ordinal);
        private readonly Dictionary<string, string?> owners = inventory.Snapshots.ToDictionary(
            s => s.Id, s => s.Tags.GetValueOrDefault(OwnershipTags.Policy) ?? AdopterOf(policies, s), StringComparer.Ordinal);
        private readonly Dictionary<string, VolumeInfo> volumes = inventory.Volumes.ToDictionary(v => v.Id, StringComparer.Ordinal);
        private readonly Dictionary<(string Policy, string Region), Accumulator> totals = [];
        private readonly List<TimelineSample> timeline = [];
        private readonly HashSet<string> policyNames = policies.Policies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        private readonly double changePerDay = options.ChangeRatePercentPerDay / 100.0;
        private Dictionary<(string Policy, string Region), Level> levels = [];
        private int sequence;

        public SimulationReport Execute()
        {
            var from = options.From;
            var to = from.AddDays(options.Days);
            var stops = Stops(from, to);
            foreach (var policy in policies.Policies)
            {
                foreach (var region in policy.Regions.Concat(policy.Schedules.SelectMany(s => s.Copies.Select(c => c.Region))))
                {
                    Totals(policy.Name, region);
                }
            }

            levels = Measure();
            var previous = from;
            var nextSample = from;
            foreach (var (at, firing) in stops)
            {
                Integrate(previous, at);
                previous = at;
                while (nextSample < at)
                {
                    Sample(nextSample);
                    nextSample += options.SampleEvery;
                }

                var active = new PolicySet([.. policies.Policies.Where(p => firing is null || firing.Contains(p.Name))]);
                foreach (var create in planner.DueCreates(active, Snapshot(), at))
                {
                    ApplyCreate(create, at);
                }

                foreach (var action in planner.Plan(active, Snapshot(), at).Actions.Where(a => a.Kind != ActionKind.Create))
                {
                    Apply(action, at);
                }

                levels = Measure();
                foreach (var (key, level) in levels)
                {
                    var acc = Totals(key.Policy, key.Region);
                    acc.PeakStandard = Math.Max(acc.PeakStandard, level.Standard);
                }

                while (nextSample <= at)
                {
                    Sample(nextSample);
                    nextSample += options.SampleEvery;
                }
            }

            Integrate(previous, to);
            while (nextSample <= to)
            {
                Sample(nextSample);
                nextSample += options.SampleEvery;
            }

            var prices = options.Prices;
            var rows = totals
                .OrderBy(t => t.Key.Policy, StringComparer.Ordinal).ThenBy(t => t.Key.Region, StringComparer.Ordinal)
                .Select(t =>
                {
                    var level = levels.GetValueOrDefault(t.Key);
                    var acc = t.Value;
                    return new PolicyRegionTotals
                    {
                        Policy = t.Key.Policy,
                        Region = t.Key.Region,
                        Created = acc.Created,
                        Copied = acc.Copied,
                        Archived = acc.Archived,
                        Deleted = acc.Deleted,
                        FinalStandard = level.Standard,
                        FinalArchive = level.Archive,
                        PeakStandard = acc.PeakStandard,
                        FinalStandardGiB = level.StandardGiB,
                        FinalArchiveGiB = level.ArchiveGiB,
                        StandardGiBMonths = acc.StandardGiBMonths,
                        ArchiveGiBMonths = acc.ArchiveGiBMonths,
                        FastRestoreZoneHours = acc.FastRestoreZoneHours,
                        FinalFastRestoreZones = level.FastRestoreZones,
                        PeriodCost = Money((acc.StandardGiBMonths * (double)prices.StandardPerGbMonth)
                            + (acc.ArchiveGiBMonths * (double)prices.ArchivePerGbMonth)
                            + (acc.FastRestoreZoneHours * (double)prices.FastRestorePerSnapshotZoneHour)),
                        MonthlyCostAtEnd = Money((level.StandardGiB * (double)prices.StandardPerGbMonth)
                            + (level.ArchiveGiB * (double)prices.ArchivePerGbMonth)
                            + (level.FastRestoreZones * HoursPerMonth * (double)prices.FastRestorePerSnapshotZoneHour)),
                    };
                })
                .ToImmutableArray();

            return new SimulationReport
            {
                From = from,
                To = to,
                ChangeRatePercentPerDay = options.ChangeRatePercentPerDay,
                Prices = prices,
                Steps = stops.Count,
                Totals = rows,
                Timeline = [.. timeline],
            };
        }

        private static decimal Money(double dollars) => Math.Round((decimal)dollars, 2, MidpointRounding.AwayFromZero);

        /// <summary>Every fire time of every enabled schedule in (from, to], the start itself, and daily ticks (null = all policies).</summary>
        private List<(DateTimeOffset At, HashSet<string>? Firing)> Stops(DateTimeOffset from, DateTimeOffset to)
        {
            var stops = new SortedDictionary<DateTimeOffset, HashSet<string>?> { [from] = null };
            for (var day = from.AddDays(1); day <= to; day = day.AddDays(1))
            {
                stops[day] = null;
            }

            foreach (var policy in policies.Policies.Where(p => p.Enabled))
            {
                foreach (var schedule in policy.Schedules)
                {
                    foreach (var fire in ScheduleCalendar.For(schedule.Trigger).FireTimesBetween(from, to))
                    {
                        if (!stops.TryGetValue(fire, out var firing))
                        {
                            stops[fire] = firing = new HashSet<string>(StringComparer.Ordinal);
                        }

                        firing?.Add(policy.Name);
                    }
                }
            }

            return [.. stops.Select(s => (s.Key, s.Value))];
        }

        private Inventory.Inventory Snapshot() => new() { Volumes = [.. volumes.Values], Snapshots = [.. live.Values] };

        private Accumulator Totals(string policy, string region)
        {
            if (!totals.TryGetValue((policy, region), out var acc))
            {
                totals[(policy, region)] = acc = new Accumulator();
            }

            return acc;
        }

        private void ApplyCreate(PlannedAction create, DateTimeOffset at)
        {
            foreach (var volumeId in create.VolumeIds)
            {
                var volume = volumes[volumeId];
                var tags = create.Tags;
                if (tags.Values.Any(v => v.Contains("$(volume-id)", StringComparison.Ordinal)))
                {
                    tags = tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value.Replace("$(volume-id)", volumeId, StringComparison.Ordinal), StringComparer.Ordinal);
                }

                var snapshot = new SnapshotInfo
                {
                    Id = NextId(),
                    VolumeId = volumeId,
                    Region = volume.Region,
                    StartTime = at,
                    VolumeSizeGiB = volume.SizeGiB,
                    FullSizeBytes = volume.SizeGiB * (1L << 30),
                    Encrypted = volume.Encrypted,
                    Tags = tags,
                };
                live[snapshot.Id] = snapshot;
                owners[snapshot.Id] = create.Policy;
                Totals(create.Policy, volume.Region).Created++;
            }
        }

        private void Apply(PlannedAction action, DateTimeOffset at)
        {
            switch (action.Kind)
            {
                case ActionKind.Copy when action.SnapshotId is not null && live.TryGetValue(action.SnapshotId, out var source):
                    var copy = source with
                    {
                        Id = NextId(),
                        Region = action.Region,
                        StartTime = at,
                        Tags = action.Tags,
                        SourceSnapshotId = source.Id,
                        SourceRegion = source.Region,
                        Encrypted = action.Encrypted,
                        KeyId = action.KeyId,
                        FastRestore = ImmutableSortedDictionary<string, FastRestoreState>.Empty,
                    };
                    live[copy.Id] = copy;
                    owners[copy.Id] = action.Policy;
                    Totals(action.Policy, action.Region).Copied++;
                    break;
                case ActionKind.Archive when live.TryGetValue(action.SnapshotId!, out var standard):
                    live[standard.Id] = standard with
                    {
                        Tier = StorageTier.Archive,
                        ArchivedAt = at,
                        FastRestore = ImmutableSortedDictionary<string, FastRestoreState>.Empty,
                    };
                    Totals(action.Policy, action.Region).Archived++;
                    break;
                case ActionKind.EnableFastRestore when live.TryGetValue(action.SnapshotId!, out var enabling):
                    live[enabling.Id] = enabling with
                    {
                        FastRestore = enabling.FastRestore.SetItems(action.Zones.Select(z => KeyValuePair.Create(z, FastRestoreState.Enabled))),
                    };
                    break;
                case ActionKind.DisableFastRestore when live.TryGetValue(action.SnapshotId!, out var disabling):
                    live[disabling.Id] = disabling with { FastRestore = disabling.FastRestore.RemoveRange(action.Zones) };
                    break;
                case ActionKind.Delete when live.Remove(action.SnapshotId!):
                    Totals(action.Policy, action.Region).Deleted++;
                    break;
            }
        }

        private string NextId() => string.Create(CultureInfo.InvariantCulture, $"snap-sim-{++sequence:D6}");

        /// <summary>Counts, stored GiB and enabled fast-restore zones per policy and region, from the chain model.</summary>
        private Dictionary<(string Policy, string Region), Level> Measure()
        {
            var result = new Dictionary<(string Policy, string Region), Level>();
            foreach (var key in totals.Keys)
            {
                result[key] = default;
            }

            var chains = new Dictionary<(string Region, string Volume), List<SnapshotInfo>>();
            foreach (var snapshot in live.Values)
            {
                if (snapshot.State != SnapshotState.Completed)
                {
                    continue;
                }

                var owner = owners[snapshot.Id];
                if (snapshot.Tier == StorageTier.Archive)
                {
                    if (owner is not null && policyNames.Contains(owner))
                    {
                        var level = result.GetValueOrDefault((owner, snapshot.Region));
                        result[(owner, snapshot.Region)] = level with { Archive = level.Archive + 1, ArchiveGiB = level.ArchiveGiB + snapshot.VolumeSizeGiB };
                    }

                    continue;
                }

                if (!chains.TryGetValue((snapshot.Region, snapshot.VolumeId), out var chain))
                {
                    chains[(snapshot.Region, snapshot.VolumeId)] = chain = [];
                }

                chain.Add(snapshot);
            }

            foreach (var chain in chains.Values)
            {
                chain.Sort((a, b) => a.StartTime != b.StartTime ? a.StartTime.CompareTo(b.StartTime) : string.CompareOrdinal(a.Id, b.Id));
                for (var i = 0; i < chain.Count; i++)
                {
                    var snapshot = chain[i];
                    var owner = owners[snapshot.Id];
                    if (owner is null || !policyNames.Contains(owner))
                    {
                        continue;
                    }

                    double size = snapshot.VolumeSizeGiB;
                    var stored = i == 0 ? size : Math.Min(size, changePerDay * size * (snapshot.StartTime - chain[i - 1].StartTime).TotalDays);
                    var level = result.GetValueOrDefault((owner, snapshot.Region));
                    result[(owner, snapshot.Region)] = level with
                    {
                        Standard = level.Standard + 1,
                        StandardGiB = level.StandardGiB + stored,
                        FastRestoreZones = level.FastRestoreZones + snapshot.FastRestore.Count(z => z.Value is FastRestoreState.Enabled or FastRestoreState.Enabling or FastRestoreState.Optimizing),
                    };
                }
            }

            return result;
        }

        private void Integrate(DateTimeOffset from, DateTimeOffset to)
        {
            var hours = (to - from).TotalHours;
            if (hours <= 0)
            {
                return;
            }

            foreach (var (key, level) in levels)
            {
                var acc = Totals(key.Policy, key.Region);
                acc.StandardGiBMonths += level.StandardGiB * hours / HoursPerMonth;
                acc.ArchiveGiBMonths += level.ArchiveGiB * hours / HoursPerMonth;
                acc.FastRestoreZoneHours += level.FastRestoreZones * hours;
            }
        }

        private void Sample(DateTimeOffset at)
        {
            foreach (var key in totals.Keys.OrderBy(k => k.Policy, StringComparer.Ordinal).ThenBy(k => k.Region, StringComparer.Ordinal))
            {
                var level = levels.GetValueOrDefault(key);
                timeline.Add(new TimelineSample(at, key.Policy, key.Region, level.Standard, level.Archive));
            }
        }
    }

    private sealed class Accumulator
    {
        public int Created { get; set; }

        public int Copied { get; set; }

        public int Archived { get; set; }

        public int Deleted { get; set; }

        public int PeakStandard { get; set; }

        public double StandardGiBMonths { get; set; }

        public double ArchiveGiBMonths { get; set; }

        public double FastRestoreZoneHours { get; set; }
    }

    private readonly record struct Level(int Standard, int Archive, double StandardGiB, double ArchiveGiB, int FastRestoreZones);
}
