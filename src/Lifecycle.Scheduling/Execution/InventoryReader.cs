using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Core.Scheduling;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Reads what the planner needs from the engines, and plans with it. Each policy is planned against the inventory of
/// its own engine (its <c>engine:</c> field), so local and AWS policies run side by side and a local policy never
/// sees an AWS volume with the same region name. Reads are filtered at the engine: snapshots by the
/// <c>lifecycle:policy</c> tag of the policies read, volumes by the policies' target tags.
/// </summary>
public sealed class InventoryReader
{
    private readonly IEngineRegistry engines;
    private readonly Polly.ResiliencePipeline retry;

    /// <param name="options">Its retry options (throttling and transient faults) serve the reads too: one failed
    /// describe must not fail a policy run, whose follow-up (copies, deletions) would then wait for the next reconcile.</param>
    public InventoryReader(IEngineRegistry engines, ExecutorOptions? options = null, TimeProvider? timeProvider = null)
    {
        this.engines = engines;
        retry = ProviderRetry.Create((options ?? new ExecutorOptions()).Retry, timeProvider ?? TimeProvider.System);
    }

    /// <summary>Source regions and copy-target regions of the policies.</summary>
    public static ImmutableSortedSet<string> RegionsOf(PolicySet policies) =>
        policies.Policies
            .SelectMany(p => p.Regions.Concat(p.Schedules.SelectMany(s => s.Copies.Select(c => c.Region))))
            .ToImmutableSortedSet(StringComparer.Ordinal);

    /// <summary>
    /// The plan of <paramref name="policies"/> at <paramref name="now"/>: each engine's policies planned against that
    /// engine's inventory, joined in policy order.
    /// </summary>
    /// <param name="shareRecent">Join a read of the same region started a moment ago (scheduled fires of many policies at once).</param>
    public async Task<Plan> PlanAsync(SnapshotPlanner planner, PolicySet policies, DateTimeOffset now, CancellationToken cancellationToken = default, bool shareRecent = false)
    {
        ArgumentNullException.ThrowIfNull(planner);
        ArgumentNullException.ThrowIfNull(policies);
        var plans = new List<Plan>();
        foreach (var group in ByEngine(policies))
        {
            if (!engines.Engines.Contains(group.Key))
            {
                // Nothing runs, nothing is deleted: the plan says why, for every policy of that engine.
                var why = $"engine: {EngineRegistry.Name(group.Key)}, which this server does not run (it runs {string.Join(", ", engines.Engines.Select(EngineRegistry.Name))}); nothing is created or deleted";
                plans.Add(new Plan(now, [], [], [.. group.Value.Policies.Select(p => new PlanNote(p.Name, why))]));
                continue;
            }

            var inventory = await ReadEngineAsync(group.Key, group.Value, shareRecent, cancellationToken).ConfigureAwait(false);
            plans.Add(planner.Plan(group.Value, inventory, now));
        }

        return plans.Count == 0 ? Plan.Empty(now) : SnapshotPlanner.Merge(now, plans);
    }

    /// <summary>
    /// The creates due at <paramref name="now"/> (what a fired schedule enqueues), planned against a read of only the
    /// snapshots they depend on: the policies' snapshots of the fire times now due (<see cref="CreateSnapshotFilters"/>),
    /// not every snapshot the policies keep. A policy that keeps 100 snapshots of 1,000 volumes would otherwise read
    /// 100,000 snapshots before each fire's first create. The creates are the ones <see cref="PlanAsync"/> would give
    /// (the planner skips a target only for a snapshot of a due fire time), and retention still plans on a full read
    /// in the follow-up. A policy of an engine this server lacks plans nothing here.
    /// </summary>
    public async Task<ImmutableArray<PlannedAction>> DueCreatesAsync(
        SnapshotPlanner planner, PolicySet policies, DateTimeOffset now, CancellationToken cancellationToken = default, bool shareRecent = false)
    {
        ArgumentNullException.ThrowIfNull(planner);
        ArgumentNullException.ThrowIfNull(policies);
        var creates = ImmutableArray.CreateBuilder<PlannedAction>();
        foreach (var group in ByEngine(policies).Where(g => engines.Engines.Contains(g.Key)))
        {
            var inventory = await ReadEngineAsync(group.Key, group.Value, shareRecent, cancellationToken, CreateSnapshotFilters(group.Value, now)).ConfigureAwait(false);
            creates.AddRange(planner.DueCreates(group.Value, inventory, now));
        }

        return creates.ToImmutable();
    }

    /// <summary>The snapshots and target volumes of the policies, from every engine they run on.</summary>
    public async Task<Inventory> ReadAsync(PolicySet policies, CancellationToken cancellationToken = default)
    {
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>();
        var snapshots = ImmutableArray.CreateBuilder<SnapshotInfo>();
        foreach (var group in ByEngine(policies))
        {
            var inventory = await ReadEngineAsync(group.Key, group.Value, shareRecent: false, cancellationToken).ConfigureAwait(false);
            volumes.AddRange(inventory.Volumes);
            snapshots.AddRange(inventory.Snapshots);
        }

        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
    }

    private static SortedDictionary<EngineKind, PolicySet> ByEngine(PolicySet policies) =>
        new(policies.Policies.GroupBy(p => p.Engine).ToDictionary(g => g.Key, g => new PolicySet([.. g])));

    private async Task<Inventory> ReadEngineAsync(
        EngineKind engine, PolicySet policies, bool shareRecent, CancellationToken cancellationToken, ImmutableArray<TagFilter> snapshotFilters = default)
    {
        IProviderRegistry registry;
        try
        {
            registry = engines.For(engine);
        }
        catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
        {
            // An engine this server does not have: the planner reports the policies' volumes as missing, nothing is
            // deleted (retention sees no snapshots), and the apply check names the policies.
            return Inventory.Empty;
        }

        snapshotFilters = snapshotFilters.IsDefault ? SnapshotFilters(policies) : snapshotFilters;
        var volumeFilters = VolumeFilters(policies);
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>();
        var snapshots = ImmutableArray.CreateBuilder<SnapshotInfo>();
        foreach (var region in RegionsOf(policies))
        {
            ISnapshotProvider provider;
            try
            {
                provider = registry.For(region);
            }
            catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
            {
                continue; // a region this engine does not have: the planner reports its volumes as missing
            }

            var (regionVolumes, regionSnapshots) = await ReadRegionAsync(engine, region, provider, volumeFilters, snapshotFilters, shareRecent, cancellationToken).ConfigureAwait(false);
            volumes.AddRange(regionVolumes);
            snapshots.AddRange(regionSnapshots);
        }

        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
    }

    /// <summary>
    /// The volume reads that cover every policy's targets: one per distinct target tag filter of volume targets. An
    /// instance target matches on the instance's tags too, which a volume filter cannot express, so a set with one
    /// reads all volumes of its regions (a single null filter). A key whose patterns hold a wildcard is filtered on the
    /// key alone (engines differ in wildcard support); the planner's <see cref="TargetMatcher"/> decides the rest.
    /// </summary>
    internal static ImmutableArray<TagFilter?> VolumeFilters(PolicySet policies)
    {
        if (policies.Policies.Any(p => p.Targets.Resource == ResourceKind.Instance || p.Targets.Tags.IsEmpty))
        {
            return [null];
        }

        return [.. policies.Policies
            .Select(p => new TagFilter(p.Targets.Tags.ToImmutableSortedDictionary(
                t => t.Key, t => t.Value.Any(v => v.Contains('*') || v.Contains('?')) ? [] : t.Value, StringComparer.Ordinal)))
            .DistinctBy(Describe)
            .OrderBy(Describe, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The snapshot reads: those tagged lifecycle:policy = one of the policies, and, when a policy adopts an Amazon DLM
    /// policy, those tagged aws:dlm:lifecycle-policy-id = one of the adopted ids (the planner decides which it takes).
    /// </summary>
    internal static ImmutableArray<TagFilter> SnapshotFilters(PolicySet policies)
    {
        var owned = TagFilter.Key(OwnershipTags.Policy, [.. policies.Policies.Select(p => p.Name).Order(StringComparer.Ordinal)]);
        var adopted = policies.Policies.Where(p => p.Adopt is not null).Select(p => p.Adopt!.DlmPolicyId)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return adopted.Length == 0 ? [owned] : [owned, TagFilter.Key(DlmTags.PolicyId, adopted)];
    }

    /// <summary>
    /// The snapshot read that due creates depend on: the policies' snapshots tagged with a fire time that is due now (the
    /// latest fire at or before <paramref name="now"/> of each schedule), the only ones the planner looks at to skip a
    /// create that already happened. A policy that adopts an Amazon DLM policy reads as for a full plan, since the
    /// adopted snapshots that cover a fire carry no fire-time tag of ours.
    /// </summary>
    internal static ImmutableArray<TagFilter> CreateSnapshotFilters(PolicySet policies, DateTimeOffset now)
    {
        var fireTimes = policies.Policies.SelectMany(p => p.Schedules)
            .Select(s => ScheduleCalendar.For(s.Trigger).LatestAtOrBefore(now))
            .OfType<DateTimeOffset>()
            .Select(OwnershipTags.FormatFireTime)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToImmutableArray();
        if (fireTimes.IsEmpty || policies.Policies.Any(p => p.Adopt is not null))
        {
            return SnapshotFilters(policies);
        }

        return [new TagFilter(ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal)
            .Add(OwnershipTags.Policy, [.. policies.Policies.Select(p => p.Name).Order(StringComparer.Ordinal)])
            .Add(OwnershipTags.FireTime, fireTimes))];
    }

    private static string Describe(TagFilter? filter) =>
        filter is null ? "*" : string.Join(';', filter.Tags.Select(t => t.Key + "=" + string.Join(',', t.Value.Order(StringComparer.Ordinal))));

    /// <summary>
    /// Policies firing at the same moment share one read of a region and filter (single flight): a caller joins a
    /// read that started at most <see cref="ShareWindow"/> ago. That read is slightly in the past, which is safe: the
    /// executor looks every token up before creating, and a snapshot missing from a read only makes retention keep more.
    /// </summary>
    private Task<(ImmutableArray<VolumeInfo> Volumes, ImmutableArray<SnapshotInfo> Snapshots)> ReadRegionAsync(
        EngineKind engine, string region, ISnapshotProvider provider, ImmutableArray<TagFilter?> volumeFilters, ImmutableArray<TagFilter> snapshotFilters, bool shareRecent,
        CancellationToken cancellationToken)
    {
        var key = $"{engine}|{region}|{string.Join('|', volumeFilters.Select(Describe))}|{string.Join('|', snapshotFilters.Select(f => Describe(f)))}";
        lock (inFlight)
        {
            if (shareRecent && inFlight.TryGetValue(key, out var shared) && TimeProvider.System.GetElapsedTime(shared.Started) < ShareWindow && !shared.Read.IsFaulted)
            {
                return shared.Read.WaitAsync(cancellationToken);
            }

            foreach (var stale in inFlight.Where(kv => TimeProvider.System.GetElapsedTime(kv.Value.Started) >= ShareWindow).Select(kv => kv.Key).ToList())
            {
                inFlight.Remove(stale);
            }

            var read = ReadAsync(provider, volumeFilters, snapshotFilters, retry);
            inFlight[key] = (TimeProvider.System.GetTimestamp(), read);
            return read.WaitAsync(cancellationToken);
        }

        static async Task<(ImmutableArray<VolumeInfo>, ImmutableArray<SnapshotInfo>)> ReadAsync(
            ISnapshotProvider provider, ImmutableArray<TagFilter?> volumeFilters, ImmutableArray<TagFilter> snapshotFilters, Polly.ResiliencePipeline retry)
        {
            // Not cancelled by one caller: others may be waiting on the same read.
            var volumes = new Dictionary<string, VolumeInfo>(StringComparer.Ordinal);
            foreach (var filter in volumeFilters)
            {
                var read = await retry.ExecuteAsync(async ct => await provider.DescribeVolumesAsync(filter, ct).ConfigureAwait(false), CancellationToken.None).ConfigureAwait(false);
                foreach (var volume in read)
                {
                    volumes.TryAdd(volume.Id, volume);
                }
            }

            var snapshots = await retry.ExecuteAsync(async ct => await provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = snapshotFilters[0] }, ct).ConfigureAwait(false),
                CancellationToken.None).ConfigureAwait(false);
            for (var i = 1; i < snapshotFilters.Length; i++)
            {
                var filter = snapshotFilters[i];
                var more = await retry.ExecuteAsync(async ct => await provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = filter }, ct).ConfigureAwait(false),
                    CancellationToken.None).ConfigureAwait(false);
                var seen = snapshots.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
                snapshots = snapshots.AddRange(more.Where(s => !seen.Contains(s.Id)));
            }

            return ([.. volumes.Values.OrderBy(v => v.Id, StringComparer.Ordinal)], snapshots);
        }
    }

    private static readonly TimeSpan ShareWindow = TimeSpan.FromMilliseconds(500);
    private readonly Dictionary<string, (long Started, Task<(ImmutableArray<VolumeInfo> Volumes, ImmutableArray<SnapshotInfo> Snapshots)> Read)> inFlight = new(StringComparer.Ordinal);
}
