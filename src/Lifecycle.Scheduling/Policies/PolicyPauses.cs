using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Quartz;

namespace Lifecycle.Scheduling.Policies;

/// <summary>
/// Pauses and resumes policies. The store's <c>policy_pauses</c> row is the truth, checked by every path that runs a
/// policy (schedule fire, reconcile, startup catch-up, follow-up, manual trigger) and by the action start (a paused
/// policy's queued actions are deferred, not failed). Quartz's pause of the policy's triggers mirrors it, so the
/// dashboard and next-fire views agree. Both calls are idempotent.
/// </summary>
public sealed class PolicyPauses
{
    private readonly RunStore store;
    private readonly ActionDispatcher dispatcher;

    public PolicyPauses(RunStore store, ActionDispatcher dispatcher)
    {
        this.store = store;
        this.dispatcher = dispatcher;
    }

    /// <summary>Pauses the policy (audited once); returns false when it was paused already.</summary>
    public async Task<bool> PauseAsync(IScheduler scheduler, string policy, string actor, CancellationToken cancellationToken = default)
    {
        var changed = await store.SetPausedAsync(policy, paused: true, actor, cancellationToken).ConfigureAwait(false);
        if (await scheduler.Exists(JobKeys.Policy(policy), cancellationToken).ConfigureAwait(false))
        {
            await scheduler.PauseJob(JobKeys.Policy(policy), cancellationToken).ConfigureAwait(false);
        }

        return changed;
    }

    /// <summary>
    /// Resumes the policy (audited once) and gives its deferred actions a job again; returns false when it was not
    /// paused.
    /// </summary>
    public async Task<bool> ResumeAsync(IScheduler scheduler, string policy, string actor, CancellationToken cancellationToken = default)
    {
        var changed = await store.SetPausedAsync(policy, paused: false, actor, cancellationToken).ConfigureAwait(false);
        if (await scheduler.Exists(JobKeys.Policy(policy), cancellationToken).ConfigureAwait(false))
        {
            await scheduler.ResumeJob(JobKeys.Policy(policy), cancellationToken).ConfigureAwait(false);
        }

        // Deliveries that came while the policy was paused left these enqueued; they are delivered again.
        var deferred = await store.ListActionsAsync(new ActionFilter { Policy = policy, State = ActionStates.Enqueued, Limit = 100_000 }, cancellationToken).ConfigureAwait(false);
        await dispatcher.DeliverAsync([.. deferred.Select(a => (a.Id, a.Kind))], null, cancellationToken).ConfigureAwait(false);

        return changed;
    }
}
