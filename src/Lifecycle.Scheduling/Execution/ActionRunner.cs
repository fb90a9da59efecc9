using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Scheduling.Telemetry;
using Microsoft.Extensions.Logging;
using Quartz;
using SchedulingOptions = Lifecycle.Scheduling.Configuration.SchedulingOptions;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Runs one delivery of an action: claims it in the run store (a leased claim: a duplicate or late delivery gets
/// nothing and does nothing), runs its next step (the provider call, or a completion check), records the outcome and
/// releases the claim. No worker waits for a snapshot to complete: an accepted create or copy is followed in process
/// under the same claim (its lease renewed) and then checked, a limit that clears by itself becomes a delayed job, and a
/// lease that a dead node still holds is claimed by a delivery scheduled for when it expires, or by the recovery pass
/// (<see cref="Jobs.ReconcileJob.RecoverStrandedAsync"/>) when nothing else delivers the action any more.
/// </summary>
public sealed class ActionRunner
{
    private readonly RunStore store;
    private readonly ActionExecutor executor;
    private readonly AppliedPolicies applied;
    private readonly ActionDispatcher dispatcher;
    private readonly ISchedulerFactory schedulers;
    private readonly NodeIdentity node;
    private readonly SchedulingOptions options;
    private readonly TimeProvider timeProvider;
    private readonly ILogger<ActionRunner> logger;

    public ActionRunner(
        RunStore store, ActionExecutor executor, AppliedPolicies applied, ActionDispatcher dispatcher, ISchedulerFactory schedulers, NodeIdentity node,
        SchedulingOptions options, TimeProvider timeProvider, ILogger<ActionRunner> logger)
    {
        this.store = store;
        this.executor = executor;
        this.applied = applied;
        this.dispatcher = dispatcher;
        this.schedulers = schedulers;
        this.node = node;
        this.options = options;
        this.timeProvider = timeProvider;
        this.logger = logger;
    }

    /// <summary>
    /// Runs the action's next step if this delivery can claim it; returns what happened, for the job's result. Throws
    /// <see cref="ActionFailedException"/> when the action failed (so the job fails with the action's error), and on
    /// cancellation (shutdown: the lease expires and a later delivery resumes the action; the token makes that safe).
    /// </summary>
    public Task<string> RunAsync(string actionId, CancellationToken cancellationToken = default) => RunAsync(actionId, null, cancellationToken);

    /// <summary><see cref="RunAsync(string, CancellationToken)"/>, continuing under <paramref name="heldClaim"/> when this node holds it.</summary>
    private async Task<string> RunAsync(string actionId, string? heldClaim, CancellationToken cancellationToken)
    {
        var record = await store.ClaimActionAsync(actionId, node.Name, options.ActionLease, heldClaim, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return await NotClaimedAsync(actionId, cancellationToken).ConfigureAwait(false);
        }

        LifecycleMetrics.ActionClaimed(record, timeProvider.GetUtcNow());

        ActionOutcome outcome;
        using (var lease = new LeaseKeeper(store, actionId, record.Claim!, options.ActionLease, timeProvider, logger))
        {
            outcome = await RunClaimedAsync(record, cancellationToken).ConfigureAwait(false);
        }

        return await RecordAsync(record, outcome).ConfigureAwait(false);
    }

    private async Task<ActionOutcome> RunClaimedAsync(ActionRecord record, CancellationToken cancellationToken)
    {
        var action = ActionPayload.Deserialize(record.Payload);
        try
        {
            if (record.State == ActionStates.Completing)
            {
                return await executor.CheckCompletionAsync(action, record.ResultSnapshotId ?? "", record.Consistency, record.Error,
                    record.StartedAt ?? record.EnqueuedAt, record.Attempts, cancellationToken).ConfigureAwait(false);
            }

            var policies = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
            var policy = policies.Policies.Find(action.Policy);
            var outcome = await executor.ExecuteAsync(record.Id, action, policy, record.Attempts, record.EnqueuedAt, cancellationToken).ConfigureAwait(false);
            if (policy is null && action.Kind == ActionKind.Create)
            {
                outcome = await RunOwedPostHooksAsync(record.Id, action, outcome, cancellationToken).ConfigureAwait(false);
            }

            return outcome;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("action {Action} cancelled by shutdown; a later delivery resumes it", record.Id);
            throw;
        }
        catch (Exception e)
        {
            return ActionOutcome.Failed($"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Writes the outcome, releases the claim, and delivers what follows (a completion check, a retry, the policy's follow-up).</summary>
    private async Task<string> RecordAsync(ActionRecord record, ActionOutcome outcome)
    {
        var actionId = record.Id;
        LifecycleMetrics.ActionFinished(record, outcome.State, timeProvider.GetUtcNow());
        if (outcome.State == ActionStates.Completing)
        {
            if (outcome.RetryAt is not { } at)
            {
                // Accepted now: its completion is followed in process (no worker held, no job) under this claim, whose
                // lease the follower renews. If this node dies, the lease runs out and the recovery pass delivers a check.
                await store.MarkCompletingAsync(actionId, outcome.ResultSnapshotId ?? "", outcome.Consistency, outcome.Note, record.Claim, FollowLease,
                    CancellationToken.None).ConfigureAwait(false);
                StartFollowing(actionId, record.Claim!, record.Payload, outcome.ResultSnapshotId ?? "");
                return $"{outcome.ResultSnapshotId} pending; completion followed in process";
            }

            await store.ReleaseActionAsync(actionId, ActionStates.Completing, at, null, record.Claim, CancellationToken.None).ConfigureAwait(false);
            await dispatcher.DeliverAsync([(actionId, ActionStates.Completing)], at, CancellationToken.None).ConfigureAwait(false);
            return $"{outcome.ResultSnapshotId} pending; completion check at {at:u}";
        }

        if (outcome.State == ActionStates.Enqueued)
        {
            var at = outcome.RetryAt ?? timeProvider.GetUtcNow() + options.Executor.RetryLaterDelay;
            await store.ReleaseActionAsync(actionId, ActionStates.Enqueued, at, outcome.Error, record.Claim, CancellationToken.None).ConfigureAwait(false);
            await dispatcher.DeliverAsync([(actionId, record.Kind)], at, CancellationToken.None).ConfigureAwait(false);
            logger.LogInformation("action {Action}: tried again at {At:O}: {Reason}", actionId, at, outcome.Error ?? "");
            return outcome.Error ?? $"tried again at {at:u}";
        }

        var error = outcome.Error ?? outcome.Note;
        var finished = await store.FinishActionAsync(actionId, outcome.State, outcome.ResultSnapshotId, outcome.Consistency,
            outcome.State == ActionStates.Succeeded ? outcome.Note : error, record.Claim, CancellationToken.None).ConfigureAwait(false);
        logger.Log(outcome.State == ActionStates.Failed ? LogLevel.Warning : LogLevel.Information,
            "action {Action}: {State} {Snapshot} {Detail}", actionId, outcome.State, outcome.ResultSnapshotId ?? "", error ?? "");
        if (finished.RunProgress is { } progress)
        {
            await FollowUpAsync(record.Policy, progress, CancellationToken.None).ConfigureAwait(false);
        }

        if (outcome.State == ActionStates.Failed)
        {
            throw new ActionFailedException(error ?? "failed");
        }

        return $"{outcome.State} {outcome.ResultSnapshotId} {error}".Trim();
    }

    /// <summary>
    /// A completion check job's work: claim the completing action, then follow its completion in process under that
    /// claim and return at once, so no worker waits while snapshots complete (1,000 pending snapshots are 1,000
    /// asynchronous waits on the provider, which batches them, not 1,000 blocked workers). A check that cannot claim
    /// the action does what any other delivery does (<see cref="NotClaimedAsync"/>).
    /// </summary>
    public async Task<string> CheckCompletionAsync(string actionId, CancellationToken cancellationToken = default)
    {
        var record = await store.ClaimActionAsync(actionId, node.Name, options.ActionLease, null, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return await NotClaimedAsync(actionId, cancellationToken).ConfigureAwait(false);
        }

        if (record.State != ActionStates.Completing)
        {
            // Enqueued or running (an operator's retry, a re-delivery of another kind): run its next step here.
            string result;
            using (new LeaseKeeper(store, actionId, record.Claim!, options.ActionLease, timeProvider, logger))
            {
                result = await RecordAsync(record, await RunClaimedAsync(record, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            }

            return result;
        }

        StartFollowing(actionId, record.Claim!, record.Payload, record.ResultSnapshotId ?? "");
        return $"following the completion of {actionId} in process";
    }

    /// <summary>
    /// The lease a follower starts with: the in-process wait and a whole lease after it, so a follow that ends in time
    /// (the usual case) never writes a renewal; the check's claim renews it.
    /// </summary>
    private TimeSpan FollowLease => options.Executor.InProcessCompletionWait + options.ActionLease;

    /// <summary>Follows a completing action this delivery holds under <paramref name="claim"/>, as it just wrote it.</summary>
    private void StartFollowing(string actionId, string claim, string payload, string snapshotIds) =>
        _ = Task.Run(() => FollowCompletionAsync(actionId, claim, payload, snapshotIds));

    /// <summary>
    /// Waits (asynchronously, at most <see cref="ExecutorOptions.InProcessCompletionWait"/>, renewing the claim's lease)
    /// for a completing action's snapshots through the provider, then runs its completion check under the same claim
    /// (done, failed, or still pending and checked again later by a delayed job). Never throws: a failure leaves the
    /// lease to run out, and the recovery pass delivers the action again.
    /// </summary>
    private async Task FollowCompletionAsync(string actionId, string claim, string payload, string ids)
    {
        try
        {
            // No read of the action first: this delivery wrote it under this claim a moment ago, and the check below
            // claims it again with the claim, so a change since then (a lease lost) is found there.
            using (new LeaseKeeper(store, actionId, claim, options.ActionLease, timeProvider, logger, firstRenewal: FollowLease - options.ActionLease * 2 / 3))
            {
                var provider = executor.ProviderOf(ActionPayload.Deserialize(payload));
                using var wait = new CancellationTokenSource(options.Executor.InProcessCompletionWait, timeProvider);
                try
                {
                    await Task.WhenAll(ids.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(id => provider.WaitForCompletionAsync(id, wait.Token))).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // still pending: the check below schedules the next one
                }
                catch (Lifecycle.Core.Providers.ProviderException)
                {
                    // the check sorts it out (missing, error, throttled)
                }
            }

            await RunAsync(actionId, claim, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ActionFailedException)
        {
            // recorded and logged by the check
        }
        catch (Exception e)
        {
            logger.LogWarning("action {Action}: following its completion failed ({Error}); once its lease runs out the recovery pass delivers it again",
                actionId, e.Message);
        }
    }

    /// <summary>
    /// This delivery could not claim the action. When another node holds an unexpired lease on it, a delivery is
    /// scheduled for just after the lease ends: if that node died, the action resumes then, whatever else happens.
    /// </summary>
    private async Task<string> NotClaimedAsync(string actionId, CancellationToken cancellationToken)
    {
        var current = await store.GetActionAsync(actionId, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return $"action {actionId} does not exist";
        }

        if (ActionStates.IsFinished(current.State))
        {
            return $"nothing to do: action already {current.State}";
        }

        var now = timeProvider.GetUtcNow();
        if (current.LeaseUntil is { } until && until >= now)
        {
            var kind = current.State == ActionStates.Completing ? ActionStates.Completing : current.Kind;
            await dispatcher.DeliverAsync([(actionId, kind)], until + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            return $"nothing to do: node {current.Node} holds the action until {until:u}; checking again then";
        }

        if (current.NotBefore is { } notBefore && notBefore > now)
        {
            // Delivered early (Hangfire keeps a delayed job's time in whole seconds, so it may run up to a second before
            // it; or a duplicate delivery): deliver it again for its time, or nothing would until the reconcile pass.
            var kind = current.State == ActionStates.Completing ? ActionStates.Completing : current.Kind;
            await dispatcher.DeliverAsync([(actionId, kind)], notBefore, cancellationToken).ConfigureAwait(false);
            return $"nothing to do yet: the action is due at {notBefore:u}; delivered again for then";
        }

        return current.State == ActionStates.Enqueued && await store.IsPausedAsync(current.Policy, cancellationToken).ConfigureAwait(false)
            ? $"deferred: policy {current.Policy} is paused (resuming it delivers the action again)"
            : $"nothing to do: action {current.State}";
    }

    /// <summary>
    /// A create re-run after its policy was removed (a revision applied while it was interrupted) is skipped, but if
    /// its pre hooks ran before the interruption and its post hooks did not, they run now with the definition of the
    /// revision that had the policy: a frozen application is always thawed.
    /// </summary>
    private async Task<ActionOutcome> RunOwedPostHooksAsync(string actionId, PlannedAction action, ActionOutcome outcome, CancellationToken cancellationToken)
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
    /// fast-restore changes does not, so follow-ups converge. The store reports a run's progress with one of the
    /// outcomes it commits together, not with each (a batch that finished a run's last 17 actions woke the policy 17
    /// times: 17 Quartz triggers written during a fire).
    /// </summary>
    private async Task FollowUpAsync(string policy, RunProgress progress, CancellationToken cancellationToken)
    {
        if (progress.Unfinished > 0 || !progress.Produced)
        {
            return;
        }

        var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.FollowUp };
        try
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken).ConfigureAwait(false);
            await scheduler.TriggerJob(JobKeys.Policy(policy), data, cancellationToken).ConfigureAwait(false);
        }
        catch (SchedulerException e)
        {
            logger.LogWarning("cannot trigger follow-up of policy {Policy}: {Error}; the reconcile pass will catch up", policy, e.Message);
        }
    }

    /// <summary>Renews this node's lease on an action while it runs (a long hook, a slow provider call).</summary>
    private sealed class LeaseKeeper : IDisposable
    {
        private readonly ITimer timer;

        /// <param name="firstRenewal">When the first renewal is due (default: a third of the lease).</param>
        public LeaseKeeper(RunStore store, string actionId, string claim, TimeSpan lease, TimeProvider time, ILogger logger, TimeSpan? firstRenewal = null)
        {
            var period = lease / 3;
            timer = time.CreateTimer(_ => _ = RenewAsync(), null, firstRenewal ?? period, period);

            async Task RenewAsync()
            {
                try
                {
                    if (!await store.RenewLeaseAsync(actionId, claim, lease).ConfigureAwait(false))
                    {
                        logger.LogWarning("action {Action}: lease lost (another delivery took it over after it expired)", actionId);
                    }
                }
                catch (Exception e)
                {
                    logger.LogWarning("action {Action}: cannot renew its lease: {Error}", actionId, e.Message);
                }
            }
        }

        public void Dispose() => timer.Dispose();
    }
}
