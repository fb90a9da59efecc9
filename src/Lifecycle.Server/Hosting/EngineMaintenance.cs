using Hangfire;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The local engine's upkeep as Hangfire recurring jobs (on the dashboard's Recurring Jobs page beside the reconcile
/// pass), on the node that runs the engine: garbage collection every night (blocks no snapshot references, sparse
/// packs, expired recycle-bin entries and temporary restores; safe while snapshots are created) and a weekly verify
/// that reads back a share of the stored blocks. A verify that finds damage fails its job with what it found.
/// </summary>
public sealed class EngineMaintenance
{
    public const string GcJobId = "engine-gc";
    public const string VerifyJobId = "engine-verify";

    /// <summary>Share of stored blocks the weekly verify reads back (every manifest and pack is checked whatever it is).</summary>
    public const double VerifyReadShare = 0.02;

    private readonly EngineHost engine;
    private readonly ILogger<EngineMaintenance> logger;

    private readonly TimeProvider time;

    public EngineMaintenance(EngineHost engine, TimeProvider time, ILogger<EngineMaintenance> logger)
    {
        this.time = time;
        this.engine = engine;
        this.logger = logger;
    }

    [Queue(ActionQueues.System)]
    [JobDisplayName("engine: collect garbage in every region")]
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(3600)]
    public async Task<string> CollectGarbageAsync(CancellationToken cancellationToken)
    {
        var local = engine.Local ?? throw new InvalidOperationException("this node runs no local engine");
        var lines = new List<string>();
        long reclaimed = 0;
        foreach (var name in local.Regions)
        {
            Lifecycle.LocalEngine.GcReport report;
            try
            {
                report = await local.Region(name).CollectGarbageAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                LifecycleMetrics.EngineGc(null, time.GetUtcNow());
                throw;
            }

            reclaimed += report.BytesReclaimed;
            lines.Add($"{name}: {report.BlocksRemoved} blocks ({report.BytesReclaimed} bytes) removed, {report.PacksRepacked} packs repacked, "
                + $"{report.SnapshotsPurged} recycle-bin snapshots purged in {report.Duration.TotalSeconds:0.0} s");
        }

        LifecycleMetrics.EngineGc(reclaimed, time.GetUtcNow());
        logger.LogInformation("engine gc: {Report}", string.Join("; ", lines));
        return string.Join("\n", lines);
    }

    [Queue(ActionQueues.System)]
    [JobDisplayName("engine: verify every region")]
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(3600)]
    public async Task<string> VerifyAsync(CancellationToken cancellationToken)
    {
        var local = engine.Local ?? throw new InvalidOperationException("this node runs no local engine");
        var lines = new List<string>();
        var errors = new List<string>();
        foreach (var name in local.Regions)
        {
            var report = await local.Region(name).VerifyAsync(VerifyReadShare, cancellationToken: cancellationToken).ConfigureAwait(false);
            lines.Add($"{name}: {report.Snapshots} snapshots, {report.BlocksChecked} blocks read back, {report.Errors.Length} errors");
            errors.AddRange(report.Errors.Select(e => $"{name}: {e}"));
        }

        LifecycleMetrics.EngineVerify(errors.Count, time.GetUtcNow());
        if (errors.Count > 0)
        {
            logger.LogError("engine verify found damage: {Errors}", string.Join("; ", errors.Take(20)));
            throw new InvalidOperationException($"verify found {errors.Count} errors: {string.Join("; ", errors.Take(20))}");
        }

        return string.Join("\n", lines);
    }
}

/// <summary>Registers the engine's recurring jobs at start when this node runs the local engine.</summary>
internal sealed class EngineMaintenanceSchedule(EngineHost engine, IRecurringJobManager recurring) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (engine.Local is null)
        {
            return Task.CompletedTask;
        }

        recurring.AddOrUpdate<EngineMaintenance>(EngineMaintenance.GcJobId, m => m.CollectGarbageAsync(CancellationToken.None), "30 3 * * *");
        recurring.AddOrUpdate<EngineMaintenance>(EngineMaintenance.VerifyJobId, m => m.VerifyAsync(CancellationToken.None), "45 4 * * 0");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
