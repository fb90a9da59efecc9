using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// One provider action as its own durable job (requests recovery: a node that dies mid-action has it re-run
/// elsewhere). The job is thin: the executor does the work; this shell records the outcome and cleans up.
/// </summary>
[DisallowConcurrentExecution]
public sealed class ActionJob : IJob
{
    private readonly RunStore store;
    private readonly ActionExecutor executor;
    private readonly AppliedPolicies applied;
    private readonly NodeIdentity node;
    private readonly ILogger<ActionJob> logger;

    public ActionJob(RunStore store, ActionExecutor executor, AppliedPolicies applied, NodeIdentity node, ILogger<ActionJob> logger)
    {
        this.store = store;
        this.executor = executor;
        this.applied = applied;
        this.node = node;
        this.logger = logger;
    }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var actionId = context.MergedJobDataMap.TryGetValue(JobKeys.ActionId, out var value) ? value as string : null;
        if (actionId is null)
        {
            return;
        }

        // Read and mark running in one statement; a finished (or unknown) action has nothing left to do.
        var record = await store.StartActionAsync(actionId, node.Name, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return;
        }

        var action = ActionPayload.Deserialize(record.Payload);
        var policies = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        ActionOutcome outcome;
        try
        {
            outcome = await executor.ExecuteAsync(actionId, action, policies.Policies.Find(action.Policy), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown: leave the action running; recovery (or the next start) runs it again, and the token makes that safe.
            logger.LogInformation("action {Action} cancelled by shutdown; it resumes on the next start", actionId);
            throw;
        }
        catch (Exception e)
        {
            outcome = ActionOutcome.Failed($"{e.GetType().Name}: {e.Message}");
        }

        var error = outcome.Error ?? outcome.Note;
        await store.FinishActionAsync(actionId, outcome.State, outcome.ResultSnapshotId, outcome.Consistency,
            outcome.State == ActionStates.Succeeded ? outcome.Note : error, CancellationToken.None).ConfigureAwait(false);
        logger.Log(outcome.State == ActionStates.Failed ? LogLevel.Warning : LogLevel.Information,
            "action {Action}: {State} {Snapshot} {Detail}", actionId, outcome.State, outcome.ResultSnapshotId ?? "", error ?? "");

        await FollowUpAsync(context, record.RunId, action.Policy, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Once the last create of a run finished, wake the policy for its copies, archive moves, fast restore and deletions.</summary>
    private async Task FollowUpAsync(IJobExecutionContext context, string runId, string policy, CancellationToken cancellationToken)
    {
        // The last action of a run to finish (whatever its kind) wakes the policy, if the run created or copied
        // something: new snapshots change what to copy, archive, fast-restore and delete. A run of only deletions
        // and fast-restore changes does not, so follow-ups converge.
        // One aggregate per finished action (not the run's rows): a fire of N creates costs N small queries, not N².
        var progress = await store.GetRunProgressAsync(runId, cancellationToken).ConfigureAwait(false);
        if (progress.Unfinished > 0 || !progress.Produced)
        {
            return;
        }

        var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.FollowUp };
        try
        {
            await context.Scheduler.TriggerJob(JobKeys.Policy(policy), data, cancellationToken).ConfigureAwait(false);
        }
        catch (SchedulerException e)
        {
            logger.LogWarning("cannot trigger follow-up of policy {Policy}: {Error}; the reconcile pass will catch up", policy, e.Message);
        }
    }
}
