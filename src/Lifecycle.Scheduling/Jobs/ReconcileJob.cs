using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// Every 5 minutes: wake every enabled, unpaused policy in reconcile mode, so failed or missed copies, archive moves,
/// fast-restore changes and deletions catch up (through each policy's own job, so runs never overlap).
/// </summary>
[DisallowConcurrentExecution]
public sealed class ReconcileJob : IJob
{
    private readonly AppliedPolicies applied;
    private readonly RunStore store;

    public ReconcileJob(AppliedPolicies applied, RunStore store)
    {
        this.applied = applied;
        this.store = store;
    }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        var paused = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        foreach (var policy in set.Policies.Policies.Where(p => p.Enabled && !paused.ContainsKey(p.Name)))
        {
            if (await context.Scheduler.Exists(JobKeys.Policy(policy.Name), cancellationToken).ConfigureAwait(false))
            {
                await context.Scheduler.TriggerJob(JobKeys.Policy(policy.Name), new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Reconcile }, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
