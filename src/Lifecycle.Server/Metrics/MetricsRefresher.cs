using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Dapper;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Scheduling.Telemetry;
using Lifecycle.Server.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Server.Metrics;

/// <summary>
/// Refreshes the gauges that describe state rather than events, off the scrape path: the inventory of the applied
/// policies (one filtered read per engine and region, as a policy run reads it), the unfinished actions by kind and
/// region, the pauses and the /healthz checks; every <see cref="DefaultInterval"/> (or
/// <c>LIFECYCLE_METRICS_REFRESH_SECONDS</c>). A scrape only copies the last result out, whatever the inventory's size.
/// A failed refresh keeps the previous state and is logged; when an engine's inventory cannot be read (AWS without
/// credentials, an unreachable endpoint), the inventory gauges keep their last values and
/// <c>lifecycle_state_refresh_timestamp_seconds</c> stops advancing, while health and backlog stay current.
/// </summary>
internal sealed class MetricsRefresher(
    AppliedPolicies applied, InventoryReader inventory, IEngineRegistry engines, RunStore runs, LifecycleDatabase database, ISchedulerFactory schedulers,
    PolicySourceStatus source, ServerOptions options, TimeProvider time, ILogger<MetricsRefresher> logger) : BackgroundService
{
    public const string IntervalVariable = "LIFECYCLE_METRICS_REFRESH_SECONDS";

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);

    private ImmutableHashSet<(string Policy, string Region, string Tier, string State)> countKeys = [];
    private ImmutableHashSet<(string Kind, string Region)> queueKeys = [];
    private InventoryGauges? lastInventory;
    private double lastInventoryAt;
    private double lastInventorySeconds;
    private string? lastInventoryError;

    /// <summary>The refresh interval: the variable's seconds (1..3600) when set, else <see cref="DefaultInterval"/>.</summary>
    public static TimeSpan Interval(string? variable) =>
        int.TryParse(variable, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 1 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : DefaultInterval;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Real time on purpose: the refresh is the exporter's cadence, not the policies' clock (an accelerated test clock
        // would refresh many times a second).
        using var timer = new PeriodicTimer(Interval(Environment.GetEnvironmentVariable(IntervalVariable)));
        try
        {
            do
            {
                try
                {
                    await RefreshAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning("metrics: refreshing the inventory and health gauges failed ({Error}); they keep their last values", e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var now = time.GetUtcNow();
        var health = await HealthEndpoint.EvaluateAsync(database, runs, schedulers, applied, source, options, time, cancellationToken).ConfigureAwait(false);
        var policies = (await applied.GetAsync(cancellationToken).ConfigureAwait(false)).Policies;
        foreach (var policy in policies.Policies)
        {
            LifecycleMetrics.DeclarePolicy(policy.Name);
        }

        var read = await ReadInventoryAsync(policies, cancellationToken).ConfigureAwait(false);
        if (read is not null)
        {
            lastInventory = InventoryMetrics.Compute(policies, read, now, countKeys);
            countKeys = lastInventory.CountKeys;
            lastInventoryAt = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
            lastInventorySeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        }

        var gauges = lastInventory ?? InventoryMetrics.Compute(policies, Inventory.Empty, now);
        LifecycleMetrics.KeepAlive();
        var paused = await runs.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        var queue = await QueueDepthAsync(cancellationToken).ConfigureAwait(false);
        LifecycleMetrics.PublishState(new MetricsState
        {
            Snapshots = gauges.Snapshots,
            StoredBytes = gauges.StoredBytes,
            Newest = gauges.Newest,
            Intervals = gauges.Intervals,
            QueueDepth = queue,
            Paused = [.. policies.Policies.Select(p => new Measurement<long>(paused.ContainsKey(p.Name) ? 1 : 0, Tag("policy", p.Name)))],
            Health = [.. health.Checks.Select(c => new Measurement<long>(c.Ok ? 1 : 0, Tag("check", c.Name)))],
            Healthy = [new Measurement<long>(health.Healthy ? 1 : 0)],
            RefreshedAt = lastInventory is null ? [] : [new Measurement<double>(lastInventoryAt)],
            RefreshSeconds = lastInventory is null ? [] : [new Measurement<double>(lastInventorySeconds)],
        });
    }

    /// <summary>
    /// The applied policies' inventory, each engine read as a policy run reads it (policies of an engine this server
    /// does not run are left out: they never run). Null when an engine could not be read (logged once per new error).
    /// </summary>
    private async Task<Inventory?> ReadInventoryAsync(PolicySet policies, CancellationToken cancellationToken)
    {
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>();
        var snapshots = ImmutableArray.CreateBuilder<SnapshotInfo>();
        foreach (var group in policies.Policies.Where(p => engines.Engines.Contains(p.Engine)).GroupBy(p => p.Engine))
        {
            try
            {
                var read = await inventory.ReadAsync(new PolicySet([.. group]), cancellationToken).ConfigureAwait(false);
                volumes.AddRange(read.Volumes);
                snapshots.AddRange(read.Snapshots);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var error = $"{EngineRegistry.Name(group.Key)}: {e.Message}";
                if (error != lastInventoryError)
                {
                    logger.LogWarning("metrics: cannot read the inventory of engine {Error}; the snapshot gauges keep their last values", error);
                }

                lastInventoryError = error;
                return null;
            }
        }

        lastInventoryError = null;
        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
    }

    /// <summary>
    /// Unfinished actions by kind and region, from the run store (the state index); a pair seen before and now empty
    /// is reported as 0, and every copy target region of the policies is reported (0 when nothing is owed).
    /// </summary>
    private async Task<ImmutableArray<Measurement<long>>> QueueDepthAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<(string Kind, string Region, long Count)>(new CommandDefinition(
            "SELECT kind, region, COUNT(*) FROM actions WHERE state IN ('enqueued', 'running', 'completing') GROUP BY kind, region",
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        var depth = rows.ToDictionary(r => (r.Kind, r.Region), r => r.Count);
        var policies = (await applied.GetAsync(cancellationToken).ConfigureAwait(false)).Policies;
        foreach (var region in policies.Policies.SelectMany(p => p.Schedules).SelectMany(s => s.Copies).Select(c => c.Region))
        {
            depth.TryAdd(("copy", region), 0);
        }

        foreach (var key in queueKeys)
        {
            depth.TryAdd(key, 0);
        }

        queueKeys = [.. depth.Keys];
        return [.. depth.Select(p => new Measurement<long>(p.Value, Tag("kind", p.Key.Kind), Tag("region", p.Key.Region)))];
    }

    private static KeyValuePair<string, object?> Tag(string name, string value) => new(name, value);
}
