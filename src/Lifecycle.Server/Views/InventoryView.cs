using System.Collections.Frozen;
using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Core.Scheduling;
using Lifecycle.Core.Simulation;

namespace Lifecycle.Server.Views;

/// <summary>One snapshot as the views show it: where it is, its state, and what the planner decided about it.</summary>
/// <param name="TierLabel">standard, archive, or recycle-bin (a deleted snapshot the recycle bin still holds).</param>
/// <param name="Reasons">The planner's rules for keeping or releasing it ("count 1 of 3", "daily bucket …"), the plan's own array.</param>
public sealed record SnapshotRow(
    SnapshotInfo Snapshot, string TierLabel, string? Policy, SnapshotVerdict? Verdict, ImmutableArray<string> Reasons, DateTimeOffset? RecycleBinExit)
{
    /// <summary>Bytes billed for it: the incremental bytes in the standard tier, the full copy in the archive.</summary>
    public long BilledBytes => InventoryView.BilledBytes(Snapshot, TierLabel);
}

/// <summary>A target volume of a policy: its newest completed snapshot against the policy's RPO.</summary>
/// <param name="Status">ok (age ≤ RPO), late (≤ 2 × RPO), stale (older, or no snapshot): the stale-backup alert's line.</param>
public sealed record VolumeRow(string Policy, string Region, string VolumeId, DateTimeOffset? NewestSnapshot, TimeSpan? Age, TimeSpan? Rpo, string Status);

/// <summary>Stored bytes and the estimated monthly cost of one region and tier (the simulator's price table).</summary>
public sealed record StorageRow(string Region, string Tier, int Snapshots, long Bytes, decimal PricePerGbMonth, decimal MonthlyCost);

/// <summary>Fast snapshot restore in one region: snapshot-zones enabled (or enabling) and their monthly cost.</summary>
public sealed record FastRestoreRow(string Region, int SnapshotZones, decimal PricePerZoneHour, decimal MonthlyCost);

/// <summary>What the policies page shows of a policy from the inventory.</summary>
public sealed record PolicyInventory(int MatchedVolumes, int WithinRpo, int Late, int Stale, int Snapshots, TimeSpan? Rpo, DateTimeOffset? Newest);

/// <summary>
/// The inventory the views read, built once per refresh (<see cref="InventoryViewCache"/>) from the provider inventory
/// of the applied policies, the recycle bins and the planner's plan, with the indexes the pages page through: a page
/// request reads a slice, never the whole inventory. Immutable.
/// </summary>
public sealed class InventoryView
{
    /// <summary>Hours in the billing month the estimate uses (as <c>lifecycle simulate</c>).</summary>
    public const double HoursPerMonth = 730;

    public const long GiB = 1L << 30;

    private InventoryView()
    {
    }

    public static InventoryView Empty(DateTimeOffset now) => Build(new PolicySet([]), Inventory.Empty, Plan.Empty(now), [], now, StoragePrices.Default, TimeSpan.Zero, 0);

    /// <summary>When the inventory was read.</summary>
    public DateTimeOffset Taken { get; private init; }

    /// <summary>How long reading and planning took.</summary>
    public TimeSpan ReadDuration { get; private init; }

    public long RevisionSeq { get; private init; }

    public StoragePrices Prices { get; private init; } = StoragePrices.Default;

    /// <summary>Every snapshot, by region, tier, newest first.</summary>
    public ImmutableArray<SnapshotRow> Snapshots { get; private init; } = [];

    /// <summary>(region, tier) → the slice of <see cref="Snapshots"/> that holds it, in order.</summary>
    public ImmutableArray<(string Region, string Tier, int Start, int Count)> SnapshotGroups { get; private init; } = [];

    /// <summary>Every target volume of every policy, by policy, then stale first, then volume.</summary>
    public ImmutableArray<VolumeRow> Volumes { get; private init; } = [];

    public FrozenDictionary<string, (int Start, int Count)> VolumesByPolicy { get; private init; } = FrozenDictionary<string, (int, int)>.Empty;

    public FrozenDictionary<string, PolicyInventory> Policies { get; private init; } = FrozenDictionary<string, PolicyInventory>.Empty;

    public ImmutableArray<StorageRow> Storage { get; private init; } = [];

    public ImmutableArray<FastRestoreRow> FastRestore { get; private init; } = [];

    /// <summary>What the read could not see (a region's recycle bin that did not answer), shown on every page.</summary>
    public ImmutableArray<string> Notes { get; private init; } = [];

    /// <summary>Bytes billed for a snapshot: incremental in the standard tier (and the bin), the full copy in the archive.</summary>
    public static long BilledBytes(SnapshotInfo s, string tier) => tier == "archive"
        ? s.FullSizeBytes ?? s.StoredBytes ?? s.VolumeSizeGiB * GiB
        : s.StoredBytes ?? s.FullSizeBytes ?? s.VolumeSizeGiB * GiB;

    /// <summary>
    /// The shortest interval between two fires of the policy's schedules after <paramref name="now"/>: the RPO its
    /// volumes are held to. Null for a policy without schedules.
    /// </summary>
    public static TimeSpan? RpoOf(SnapshotPolicy policy, DateTimeOffset now)
    {
        TimeSpan? best = null;
        foreach (var schedule in policy.Schedules)
        {
            var calendar = ScheduleCalendar.For(schedule.Trigger);
            if (calendar.NextAfter(now) is { } first && calendar.NextAfter(first) is { } second && (best is null || second - first < best))
            {
                best = second - first;
            }
        }

        return best;
    }

    /// <summary>Builds the view (pure: everything it needs is passed in).</summary>
    public static InventoryView Build(
        PolicySet policies, Inventory inventory, Plan plan, IReadOnlyList<RecycleBinEntry> recycleBin, DateTimeOffset now, StoragePrices prices,
        TimeSpan readDuration, long revisionSeq, IReadOnlyList<string>? notes = null)
    {
        var decisions = new Dictionary<string, SnapshotDecision>(plan.Decisions.Length, StringComparer.Ordinal);
        foreach (var decision in plan.Decisions)
        {
            decisions.TryAdd(decision.SnapshotId, decision);
        }

        var rows = new SnapshotRow[inventory.Snapshots.Length + recycleBin.Count];
        var n = 0;
        foreach (var s in inventory.Snapshots)
        {
            decisions.TryGetValue(s.Id, out var decision);
            rows[n++] = new SnapshotRow(s, s.Tier == StorageTier.Archive ? "archive" : "standard", s.Tags.GetValueOrDefault(OwnershipTags.Policy),
                decision?.Verdict, decision?.Reasons ?? [], null);
        }

        foreach (var entry in recycleBin)
        {
            rows[n++] = new SnapshotRow(entry.Snapshot, "recycle-bin", entry.Snapshot.Tags.GetValueOrDefault(OwnershipTags.Policy), null,
                [$"deleted; in the recycle bin until {entry.RecycleBinExitTime.UtcDateTime:yyyy-MM-dd HH:mm}Z"], entry.RecycleBinExitTime);
        }

        Array.Sort(rows, static (a, b) =>
        {
            var c = string.CompareOrdinal(a.Snapshot.Region, b.Snapshot.Region);
            if (c == 0) c = TierOrder(a.TierLabel).CompareTo(TierOrder(b.TierLabel));
            if (c == 0) c = b.Snapshot.StartTime.CompareTo(a.Snapshot.StartTime);
            return c != 0 ? c : string.CompareOrdinal(a.Snapshot.Id, b.Snapshot.Id);
        });

        var groups = ImmutableArray.CreateBuilder<(string, string, int, int)>();
        var storage = ImmutableArray.CreateBuilder<StorageRow>();
        for (var start = 0; start < rows.Length;)
        {
            var end = start;
            long bytes = 0;
            while (end < rows.Length && rows[end].Snapshot.Region == rows[start].Snapshot.Region && rows[end].TierLabel == rows[start].TierLabel)
            {
                bytes += rows[end].BilledBytes;
                end++;
            }

            var (region, tier) = (rows[start].Snapshot.Region, rows[start].TierLabel);
            groups.Add((region, tier, start, end - start));
            var price = tier == "archive" ? prices.ArchivePerGbMonth : prices.StandardPerGbMonth;
            storage.Add(new StorageRow(region, tier, end - start, bytes, price, Money((double)bytes / GiB * (double)price)));
            start = end;
        }

        var fastRestore = inventory.Snapshots
            .GroupBy(s => s.Region, StringComparer.Ordinal)
            .Select(g => (Region: g.Key, Zones: g.Sum(s => s.FastRestore.Count(z => z.Value is FastRestoreState.Enabled or FastRestoreState.Enabling or FastRestoreState.Optimizing))))
            .Where(r => r.Zones > 0)
            .OrderBy(r => r.Region, StringComparer.Ordinal)
            .Select(r => new FastRestoreRow(r.Region, r.Zones, prices.FastRestorePerSnapshotZoneHour, Money(r.Zones * HoursPerMonth * (double)prices.FastRestorePerSnapshotZoneHour)))
            .ToImmutableArray();

        // Newest completed snapshot a policy took of each volume (copies are another region's, grouped by their source).
        var newest = new Dictionary<(string Policy, string Volume), DateTimeOffset>();
        var owned = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in inventory.Snapshots)
        {
            if (s.Tags.GetValueOrDefault(OwnershipTags.Policy) is not { } policy)
            {
                continue;
            }

            owned[policy] = owned.GetValueOrDefault(policy) + 1;
            if (s.State != SnapshotState.Completed || s.Tags.ContainsKey(OwnershipTags.SourceSnapshot))
            {
                continue;
            }

            var key = (policy, s.VolumeId);
            if (!newest.TryGetValue(key, out var t) || s.StartTime > t)
            {
                newest[key] = s.StartTime;
            }
        }

        var volumes = new List<VolumeRow>();
        var byPolicy = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        var summaries = new Dictionary<string, PolicyInventory>(StringComparer.Ordinal);
        foreach (var policy in policies.Policies.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            var rpo = RpoOf(policy, now);
            var targets = TargetMatcher.Compile(policy);
            var regions = policy.Regions.ToHashSet(StringComparer.Ordinal);
            var mine = new List<VolumeRow>();
            foreach (var volume in inventory.Volumes)
            {
                if (!regions.Contains(volume.Region) || !targets.Matches(volume))
                {
                    continue;
                }

                DateTimeOffset? last = newest.TryGetValue((policy.Name, volume.Id), out var t) ? t : null;
                TimeSpan? age = last is { } l ? now - l : null;
                var status = age is not { } a || rpo is not { } r ? (rpo is null ? "unscheduled" : "stale")
                    : a <= r ? "ok" : a <= 2 * r ? "late" : "stale";
                mine.Add(new VolumeRow(policy.Name, volume.Region, volume.Id, last, age, rpo, status));
            }

            mine.Sort(static (a, b) =>
            {
                var c = StatusOrder(a.Status).CompareTo(StatusOrder(b.Status));
                return c != 0 ? c : string.CompareOrdinal(a.VolumeId, b.VolumeId);
            });
            byPolicy[policy.Name] = (volumes.Count, mine.Count);
            volumes.AddRange(mine);
            summaries[policy.Name] = new PolicyInventory(mine.Count, mine.Count(v => v.Status == "ok"), mine.Count(v => v.Status == "late"),
                mine.Count(v => v.Status == "stale"), owned.GetValueOrDefault(policy.Name), rpo, mine.Max(v => v.NewestSnapshot));
        }

        return new InventoryView
        {
            Taken = now,
            ReadDuration = readDuration,
            RevisionSeq = revisionSeq,
            Prices = prices,
            Snapshots = ImmutableArray.Create(rows),
            SnapshotGroups = groups.ToImmutable(),
            Storage = storage.ToImmutable(),
            FastRestore = fastRestore,
            Volumes = [.. volumes],
            VolumesByPolicy = byPolicy.ToFrozenDictionary(StringComparer.Ordinal),
            Policies = summaries.ToFrozenDictionary(StringComparer.Ordinal),
            Notes = notes is null ? [] : [.. notes],
        };
    }

    private static int TierOrder(string tier) => tier switch { "standard" => 0, "archive" => 1, _ => 2 };

    private static int StatusOrder(string status) => status switch { "stale" => 0, "late" => 1, "unscheduled" => 2, _ => 3 };

    private static decimal Money(double dollars) => Math.Round((decimal)dollars, 2, MidpointRounding.AwayFromZero);
}
