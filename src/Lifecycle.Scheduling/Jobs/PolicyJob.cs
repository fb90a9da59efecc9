using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// The job of one policy; its schedule triggers wake it. Never runs twice at once for a policy, on any node
/// (DisallowConcurrentExecution on a clustered store), so runs of one policy never overlap on a volume.
/// </summary>
[DisallowConcurrentExecution]
public sealed class PolicyJob : IJob
{
    private readonly AppliedPolicies applied;
    private readonly PolicyRunner runner;
    private readonly RunStore store;
    private readonly ILogger<PolicyJob> logger;

    public PolicyJob(AppliedPolicies applied, PolicyRunner runner, RunStore store, ILogger<PolicyJob> logger)
    {
        this.applied = applied;
        this.runner = runner;
        this.store = store;
        this.logger = logger;
    }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var name = context.JobDetail.Key.Name;
        var data = context.MergedJobDataMap;
        var mode = data.TryGetValue(JobKeys.Mode, out var m) && m is string text ? text : PolicyRunMode.Fire;
        var schedule = data.TryGetValue(JobKeys.Schedule, out var s) ? s as string : null;
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        var policy = set.Policies.Find(name);
        if (policy is null || !policy.Enabled)
        {
            logger.LogInformation("policy {Policy} is not applied or disabled; nothing to do", name);
            return;
        }

        // The store's pause is the truth for every way a policy is woken (a fire, reconcile, startup catch-up,
        // follow-up, manual): Quartz's TriggerJob runs a paused job, and a rebuilt trigger starts unpaused.
        if (await store.IsPausedAsync(name, cancellationToken).ConfigureAwait(false))
        {
            logger.LogInformation("policy {Policy} is paused; {Mode} run not started", name, mode);
            return;
        }

        var fireTime = mode == PolicyRunMode.Fire ? context.ScheduledFireTimeUtc : null;
        await runner.RunAsync(policy, mode, schedule, fireTime, cancellationToken).ConfigureAwait(false);
    }
}
