using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Telemetry;

/// <summary>
/// The server's instruments (<see cref="System.Diagnostics.Metrics"/>, meter <see cref="MeterName"/>), exported at
/// /metrics by the server. Existing code calls one static hook per event (<see cref="ActionClaimed"/>,
/// <see cref="ActionFinished"/>, <see cref="HookFinished"/>, <see cref="ProviderCall"/>, <see cref="EngineGc"/>,
/// <see cref="EngineVerify"/>); the inventory, health and backlog gauges read a state the server refreshes in the
/// background (<see cref="PublishState"/>), so a scrape never reads the store or the engine.
/// <para>
/// Counters are <see cref="Counter{T}"/>s; prometheus-net's meter adapter exports every .NET counter as a Prometheus
/// gauge (a .NET instrument may be re-created, so its value is not promised to be monotonic), which is why their names
/// carry no <c>_total</c>: they only rise while the process lives, and <c>rate()</c>/<c>increase()</c> apply. The
/// exporter drops a series nobody updated for a while (the Meters API has no "series gone"), so the background refresh
/// re-reports every counter series with +0 (<see cref="KeepAlive"/>): a counter that stays at 3 for a week stays
/// exported. Label values are bounded: policies and schedules (configuration), kinds, outcomes,
/// stages, operations, regions, tiers and states (fixed sets); volume ids only on <c>lifecycle_newest_snapshot_timestamp_seconds</c>
/// (one series per targeted volume and schedule); never a snapshot id.
/// </para>
/// </summary>
public static class LifecycleMetrics
{
    public const string MeterName = "Lifecycle";

    /// <summary>Provider operations: the verbs of <see cref="ISnapshotProvider"/> (fixed set, pre-declared at zero).</summary>
    public static readonly ImmutableArray<string> ProviderOperations =
    [
        "DescribeVolumes", "DescribeSnapshots", "WaitForCompletion", "CreateSnapshot", "CreateSnapshots", "CopySnapshot",
        "DeleteSnapshot", "ModifySnapshotTier", "RestoreSnapshotTier", "EnableFastSnapshotRestores",
        "DisableFastSnapshotRestores", "DescribeFastSnapshotRestores", "ListSnapshotsInRecycleBin",
        "RestoreSnapshotFromRecycleBin", "CreateVolume", "CreateTags",
    ];

    /// <summary>Outcomes of an action delivery that ends a step: its final states, and retry-later (a limit that clears).</summary>
    public static readonly ImmutableArray<string> ActionOutcomes = ["succeeded", "failed", "skipped", "retry-later"];

    public static readonly ImmutableArray<string> ActionKinds = ["create", "copy", "archive", "enable-fast-restore", "disable-fast-restore", "delete"];

    private static readonly Meter Meter = new(MeterName, "1.0");

    private static readonly Totals Actions = new(Meter, "actions",
        "Action steps that ended, by policy, kind and outcome (succeeded, failed, skipped, retry-later)", "policy", "kind", "outcome");

    private static readonly Totals Hooks = new(Meter, "hooks",
        "Hooks run (all attempts of one hook count once), by policy, stage and outcome (succeeded, failed, timedout)", "policy", "stage", "outcome");

    private static readonly Totals ProviderCalls = new(Meter, "provider_calls", "Provider (engine or EC2) calls, each attempt once, by operation", "operation");

    private static readonly Totals ProviderErrors = new(Meter, "provider_errors", "Provider calls that failed (throttles included), by operation", "operation");

    private static readonly Totals ProviderThrottles = new(Meter, "provider_throttles",
        "Provider calls refused by a rate limit (RequestLimitExceeded, and limits that clear by themselves), by operation", "operation");

    private static readonly Totals GcRuns = new(Meter, "engine_gc_runs", "Local engine garbage collections, by outcome", "outcome");

    private static readonly Totals GcReclaimedBytes = new(Meter, "engine_gc_reclaimed_bytes", "Bytes the local engine's garbage collection removed");

    private static readonly Totals VerifyRuns = new(Meter, "engine_verify_runs", "Local engine verifications, by outcome", "outcome");
    private static readonly ConcurrentDictionary<string, double> MaintenanceLast = new(StringComparer.Ordinal);
    private static long verifyErrors;

    private static readonly Histogram<double> ActionDuration = Meter.CreateHistogram<double>(
        "action_duration_seconds", "s", "From an action's start (its claim) to its final outcome, by kind and outcome (a create includes its completion)");

    private static readonly Histogram<double> HookDuration = Meter.CreateHistogram<double>(
        "hook_duration_seconds", "s", "Duration of a hook, all attempts, by stage, type and outcome");

    private static readonly Histogram<double> FireStartDelay = Meter.CreateHistogram<double>(
        "fire_start_delay_seconds", "s", "From a schedule's fire time to the first start of its create, by policy");

    private static volatile MetricsState state = MetricsState.Empty;

    /// <summary>Histogram buckets (seconds) by instrument name, for the exporter.</summary>
    public static double[]? BucketsOf(string instrument) => instrument switch
    {
        "action_duration_seconds" => [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200],
        "hook_duration_seconds" => [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
        "fire_start_delay_seconds" => [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
        _ => null,
    };

    static LifecycleMetrics()
    {
        foreach (var operation in ProviderOperations)
        {
            ProviderCalls.Touch(operation);
            ProviderErrors.Touch(operation);
            ProviderThrottles.Touch(operation);
        }

        foreach (var outcome in new[] { "succeeded", "failed" })
        {
            GcRuns.Touch(outcome);
            VerifyRuns.Touch(outcome);
        }

        GcReclaimedBytes.Touch();
        Meter.CreateObservableGauge("engine_verify_errors", () => Interlocked.Read(ref verifyErrors), null,
            "Errors the last verification of the local engine found (0: none)");
        Meter.CreateObservableGauge("engine_maintenance_last_run_timestamp_seconds",
            () => MaintenanceLast.Select(p => new Measurement<double>(p.Value, new KeyValuePair<string, object?>("job", p.Key))), "s",
            "When the local engine's gc or verify last ended (unix seconds), by job");

        Meter.CreateObservableGauge<long>("snapshots", () => state.Snapshots, null,
            "Snapshots the policies own, by policy, region, tier and state (from the inventory refreshed in the background)");
        Meter.CreateObservableGauge<double>("stored_bytes", () => state.StoredBytes, "By",
            "Bytes the policies' snapshots store (incremental sizes where the engine reports them, else full sizes), by region and tier");
        Meter.CreateObservableGauge<double>("newest_snapshot_timestamp_seconds", () => state.Newest, "s",
            "Start time (unix seconds) of the newest completed snapshot of each targeted volume, by policy, schedule and volume (source region only)");
        Meter.CreateObservableGauge<double>("schedule_interval_seconds", () => state.Intervals, "s",
            "Expected interval of each schedule (the gap between its next two fire times), by policy and schedule");
        Meter.CreateObservableGauge<long>("action_queue_depth", () => state.QueueDepth, null,
            "Unfinished actions (enqueued, running, completing), by kind and region (for copies: the destination region)");
        Meter.CreateObservableGauge<long>("policy_paused", () => state.Paused, null, "1 when the policy is paused, by policy");
        Meter.CreateObservableGauge<long>("health_check", () => state.Health, null, "1 when the /healthz check passes, 0 when it fails, by check");
        Meter.CreateObservableGauge<long>("healthy", () => state.Healthy, null, "1 when /healthz is healthy (200), 0 when degraded (503)");
        Meter.CreateObservableGauge<double>("state_refresh_timestamp_seconds", () => state.RefreshedAt, "s",
            "When the inventory, health and backlog gauges were last refreshed (unix seconds)");
        Meter.CreateObservableGauge<double>("state_refresh_duration_seconds", () => state.RefreshSeconds, "s",
            "How long the last refresh of the inventory, health and backlog gauges took");
    }

    /// <summary>The gauges' current state (the last refresh).</summary>
    public static MetricsState State => state;

    /// <summary>Replaces the state the inventory, health and backlog gauges report; called by the background refresh.</summary>
    public static void PublishState(MetricsState next) => state = next ?? MetricsState.Empty;

    /// <summary>
    /// A delivery claimed an action: on the first start of a create with a fire time, records fire → start. Never throws.
    /// </summary>
    public static void ActionClaimed(ActionRecord record, DateTimeOffset now)
    {
        if (record is { Kind: "create", State: ActionStates.Running, Attempts: 1, FireTime: { } fire })
        {
            FireStartDelay.Record(Math.Max(0, (now - fire).TotalSeconds), new KeyValuePair<string, object?>("policy", record.Policy));
        }
    }

    /// <summary>A delivery ended an action's step with <paramref name="outcomeState"/> (a final state, or enqueued: retry later).</summary>
    public static void ActionFinished(ActionRecord record, string outcomeState, DateTimeOffset now)
    {
        var outcome = outcomeState == ActionStates.Enqueued ? "retry-later" : outcomeState;
        if (outcome is not ("succeeded" or "failed" or "skipped" or "retry-later"))
        {
            return; // completing: the step goes on
        }

        Actions.Add(1, record.Policy, record.Kind, outcome);
        if (outcome != "retry-later" && record.StartedAt is { } started)
        {
            ActionDuration.Record(Math.Max(0, (now - started).TotalSeconds),
                new KeyValuePair<string, object?>("kind", record.Kind), new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    /// <summary>A hook ended (after its retries); returns <paramref name="result"/>.</summary>
    public static HookResult HookFinished(HookSpec hook, HookContext context, HookResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var outcome = result.Outcome.ToString().ToLowerInvariant();
        var stage = context.Stage.ToString().ToLowerInvariant();
        Hooks.Add(1, context.Policy, stage, outcome);
        HookDuration.Record(result.Duration.TotalSeconds,
            new KeyValuePair<string, object?>("stage", stage),
            new KeyValuePair<string, object?>("type", hook is HttpHook ? "http" : "exec"),
            new KeyValuePair<string, object?>("outcome", outcome));
        return result;
    }

    /// <summary>One provider call attempt ended; <paramref name="error"/> is its failure (null: success).</summary>
    public static void ProviderCall(string operation, Exception? error)
    {
        ProviderCalls.Add(1, operation);
        if (error is null or OperationCanceledException)
        {
            return;
        }

        ProviderErrors.Add(1, operation);
        if (error is ProviderException { Kind: ProviderErrorKind.Throttled or ProviderErrorKind.RetryLater })
        {
            ProviderThrottles.Add(1, operation);
        }
    }

    /// <summary>The local engine's garbage collection ended (reclaimed null: it failed).</summary>
    public static void EngineGc(long? reclaimedBytes, DateTimeOffset now)
    {
        GcRuns.Add(1, reclaimedBytes is null ? "failed" : "succeeded");
        GcReclaimedBytes.Add(reclaimedBytes ?? 0);
        MaintenanceLast["gc"] = now.ToUnixTimeMilliseconds() / 1000.0;
    }

    /// <summary>The local engine's verification ended with <paramref name="errors"/> errors found (null: it could not run).</summary>
    public static void EngineVerify(int? errors, DateTimeOffset now)
    {
        VerifyRuns.Add(1, errors is 0 ? "succeeded" : "failed");
        if (errors is { } found)
        {
            Interlocked.Exchange(ref verifyErrors, found);
        }

        MaintenanceLast["verify"] = now.ToUnixTimeMilliseconds() / 1000.0;
    }

    /// <summary>Declares a policy's action and hook series at zero, so rates and alerts have a series before the first event.</summary>
    public static void DeclarePolicy(string policy)
    {
        foreach (var kind in ActionKinds)
        {
            foreach (var outcome in ActionOutcomes)
            {
                Actions.Touch(policy, kind, outcome);
            }
        }

        foreach (var stage in new[] { "pre", "post" })
        {
            foreach (var outcome in new[] { "succeeded", "failed", "timedout" })
            {
                Hooks.Touch(policy, stage, outcome);
            }
        }
    }

    /// <summary>
    /// Re-reports every counter series with +0, so the exporter, which drops series nobody updated for a while, keeps
    /// a counter that has not moved (the background refresh calls it).
    /// </summary>
    public static void KeepAlive()
    {
        foreach (var totals in new[] { Actions, Hooks, ProviderCalls, ProviderErrors, ProviderThrottles, GcRuns, GcReclaimedBytes, VerifyRuns })
        {
            totals.KeepAlive();
        }
    }

    /// <summary>A counter and the label sets it has reported (a few hundred at most: see the class's note on cardinality).</summary>
    private sealed class Totals(Meter meter, string name, string description, params string[] labelNames)
    {
        private readonly Counter<long> counter = meter.CreateCounter<long>(name, null, description);
        private readonly ConcurrentDictionary<string, KeyValuePair<string, object?>[]> series = new(StringComparer.Ordinal);

        /// <summary>Reports the series at +0 (declares it).</summary>
        public void Touch(params string[] labels) => Add(0, labels);

        public void Add(long delta, params string[] labels)
        {
            var tags = series.GetOrAdd(string.Join('\u001f', labels), _ => Tags(labels));
            counter.Add(delta, tags);
        }

        public void KeepAlive()
        {
            foreach (var tags in series.Values)
            {
                counter.Add(0, tags);
            }
        }

        private KeyValuePair<string, object?>[] Tags(string[] labels)
        {
            var tags = new KeyValuePair<string, object?>[labelNames.Length];
            for (var i = 0; i < labelNames.Length; i++)
            {
                tags[i] = new KeyValuePair<string, object?>(labelNames[i], i < labels.Length ? labels[i] : "");
            }

            return tags;
        }
    }
}

/// <summary>
/// What the inventory, health and backlog gauges report, computed off the scrape path (the background refresh, or a
/// benchmark): measurements with their tags, ready to hand to the exporter.
/// </summary>
public sealed record MetricsState
{
    public static readonly MetricsState Empty = new();

    public ImmutableArray<Measurement<long>> Snapshots { get; init; } = [];

    public ImmutableArray<Measurement<double>> StoredBytes { get; init; } = [];

    public ImmutableArray<Measurement<double>> Newest { get; init; } = [];

    public ImmutableArray<Measurement<double>> Intervals { get; init; } = [];

    public ImmutableArray<Measurement<long>> QueueDepth { get; init; } = [];

    public ImmutableArray<Measurement<long>> Paused { get; init; } = [];

    public ImmutableArray<Measurement<long>> Health { get; init; } = [];

    public ImmutableArray<Measurement<long>> Healthy { get; init; } = [];

    public ImmutableArray<Measurement<double>> RefreshedAt { get; init; } = [];

    public ImmutableArray<Measurement<double>> RefreshSeconds { get; init; } = [];
}
