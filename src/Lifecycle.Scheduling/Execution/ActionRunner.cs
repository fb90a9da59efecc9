using System.Collections.Concurrent;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Runs stored actions to their outcome: claims them (only the job that owns an action may), executes them, records
/// the outcomes. Shared by an action's own job and by the batch job that carries a fire's actions.
/// </summary>
public sealed class ActionRunner
{
    private readonly RunStore store;
    private readonly ActionExecutor executor;
    private readonly AppliedPolicies applied;
    private readonly NodeIdentity node;
    private readonly ILogger<ActionRunner> logger;

    // Defence in depth next to the store's ownership rule: never two executions of one action in this process.
    private readonly ConcurrentDictionary<string, byte> executing = new(StringComparer.Ordinal);

    public ActionRunner(RunStore store, ActionExecutor executor, AppliedPolicies applied, NodeIdentity node, ILogger<ActionRunner> logger)
    {
        this.store = store;
        this.executor = executor;
        this.applied = applied;
        this.node = node;
        this.logger = logger;
    }

    /// <summary>
    /// Runs the action when it has no batch (its own job) and is unfinished; returns its run and policy when it ran,
    /// null when there was nothing to do. Throws only on cancellation (shutdown), leaving the action running so the
    /// next start or Quartz's recovery runs it again (the token makes that safe).
    /// </summary>
    public async Task<(string RunId, string Policy)?> RunAsync(string actionId, CancellationToken cancellationToken = default)
    {
        // Read and mark running in one statement; a finished, unknown or batch-owned action has nothing to do here.
        var record = await store.StartActionAsync(actionId, node.Name, job: null, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }

        var policies = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        return await RunStartedAsync(record, policies, tokenClaimed: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the unfinished actions a batch job owns, concurrently: all marked running (and their tokens claimed) in one
    /// store transaction, then each executed. Returns the runs and policies of the actions that ran.
    /// </summary>
    public async Task<IReadOnlyList<(string RunId, string Policy)>> RunBatchAsync(IReadOnlyList<string> actionIds, string job, CancellationToken cancellationToken = default)
    {
        var started = await store.StartActionsAsync(actionIds, node.Name, job, cancellationToken).ConfigureAwait(false);
        var policies = await applied.GetAsync(cancellationToken).ConfigureAwait(false); // once per batch, not per action
        // Each action on its own pool thread: the store and engine calls before an action's first real wait are
        // synchronous underneath, so started in a loop the batch's actions would reach their provider one by one.
        var ran = await Task.WhenAll(started.Select(record => Task.Run(() => RunStartedAsync(record, policies, tokenClaimed: true, cancellationToken), cancellationToken))).ConfigureAwait(false);
        return [.. ran.OfType<(string RunId, string Policy)>()];
    }

    private async Task<(string RunId, string Policy)?> RunStartedAsync(ActionRecord record, AppliedPolicySet policies, bool tokenClaimed, CancellationToken cancellationToken)
    {
        var actionId = record.Id;
        if (!executing.TryAdd(actionId, 0))
        {
            logger.LogWarning("action {Action} is already running in this process; not started twice", actionId);
            return null;
        }

        try
        {
            var action = ActionPayload.Deserialize(record.Payload);
            var policy = policies.Policies.Find(action.Policy);
            ActionOutcome outcome;
            try
            {
                outcome = await executor.ExecuteAsync(actionId, action, policy, tokenClaimed, cancellationToken).ConfigureAwait(false);
                if (policy is null && action.Kind == Lifecycle.Core.Planning.ActionKind.Create)
                {
                    outcome = await RunOwedPostHooksAsync(actionId, action, outcome, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
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
            return (record.RunId, action.Policy);
        }
        finally
        {
            executing.TryRemove(actionId, out _);
        }
    }

    /// <summary>
    /// A create re-run after its policy was removed (a revision applied while it was interrupted) is skipped, but if
    /// its pre hooks ran before the interruption and its post hooks did not, they run now with the definition of the
    /// revision that had the policy: a frozen application is always thawed.
    /// </summary>
    private async Task<ActionOutcome> RunOwedPostHooksAsync(string actionId, Lifecycle.Core.Planning.PlannedAction action, ActionOutcome outcome, CancellationToken cancellationToken)
    {
        var hooks = await store.ListHooksAsync(actionId, cancellationToken).ConfigureAwait(false);
        var lastPre = hooks.Where(h => h.Stage == "pre").Select(h => (DateTimeOffset?)h.FinishedAt).Max();
        if (lastPre is null || hooks.Any(h => h.Stage == "post" && h.FinishedAt >= lastPre))
        {
            return outcome;
        }

        var retired = await applied.FindRetiredAsync(action.Policy, cancellationToken).ConfigureAwait(false);
        if (retired is null)
        {
            logger.LogWarning("action {Action}: its pre hooks ran but no stored revision has policy {Policy}; its post hooks cannot run", actionId, action.Policy);
            return outcome;
        }

        logger.LogInformation("action {Action}: policy {Policy} was removed after its pre hooks ran; running its post hooks", actionId, action.Policy);
        var failure = await executor.RunOwedPostHooksAsync(actionId, action, retired, cancellationToken).ConfigureAwait(false);
        var note = "post hooks run after the policy was removed" + (failure is null ? "" : ": " + failure);
        return outcome.State == ActionStates.Succeeded
            ? outcome with { Note = outcome.Note is null ? note : outcome.Note + "; " + note }
            : outcome with { Error = (outcome.Error is null ? "" : outcome.Error + "; ") + note };
    }

    /// <summary>
    /// Once the last action of a run finished, wakes the policy for its copies, archive moves, fast restore and
    /// deletions, if the run created or copied something (new snapshots change what to do). A run of only deletions and
    /// fast-restore changes does not, so follow-ups converge. One aggregate query per call, not the run's rows.
    /// </summary>
    public async Task FollowUpAsync(IScheduler scheduler, string runId, string policy, CancellationToken cancellationToken = default)
    {
        var progress = await store.GetRunProgressAsync(runId, cancellationToken).ConfigureAwait(false);
        if (progress.Unfinished > 0 || !progress.Produced)
        {
            return;
        }

        var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.FollowUp };
        try
        {
            await scheduler.TriggerJob(JobKeys.Policy(policy), data, cancellationToken).ConfigureAwait(false);
        }
        catch (SchedulerException e)
        {
            logger.LogWarning("cannot trigger follow-up of policy {Policy}: {Error}; the reconcile pass will catch up", policy, e.Message);
        }
    }
}
