using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Quartz;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Turns planned actions into durable Quartz jobs (one per action, keyed by the action id) and action rows. Enqueuing
/// an action that is already queued or running does nothing; a finished create is never enqueued again by the
/// planner (only an explicit retry does that).
/// </summary>
public sealed class ActionQueue
{
    private readonly RunStore store;
    private readonly TimeProvider timeProvider;

    public ActionQueue(RunStore store, TimeProvider timeProvider)
    {
        this.store = store;
        this.timeProvider = timeProvider;
    }

    /// <summary>Returns true when the action was (re)queued now.</summary>
    public async Task<bool> EnqueueAsync(IScheduler scheduler, string runId, PlannedAction action, bool retry = false, CancellationToken cancellationToken = default)
    {
        var record = NewRecord(runId, action, timeProvider.GetUtcNow());
        var id = record.Id;
        var requeueFinished = retry || action.Kind != ActionKind.Create;
        var queued = await store.EnqueueActionAsync(record, requeueFinished, cancellationToken).ConfigureAwait(false);
        if (!queued)
        {
            var existing = await store.GetActionAsync(id, cancellationToken).ConfigureAwait(false);
            if (existing is null || ActionStates.IsFinished(existing.State))
            {
                return false;
            }
        }

        await EnsureScheduledAsync(scheduler, id, cancellationToken).ConfigureAwait(false);
        return queued;
    }

    /// <summary>
    /// Enqueues the actions of one run together: their rows in one store transaction, then the jobs of the newly queued
    /// ones in one Quartz call (one job-store transaction instead of an existence check and an insert per action), so a
    /// fire's creates become runnable at once. Same rules as <see cref="EnqueueAsync"/> action by action; returns how
    /// many were (re)queued now.
    /// </summary>
    public async Task<int> EnqueueManyAsync(IScheduler scheduler, string runId, IReadOnlyList<PlannedAction> actions, CancellationToken cancellationToken = default)
    {
        if (actions.Count == 0)
        {
            return 0;
        }

        var now = timeProvider.GetUtcNow();
        var requests = actions.Select(action => new EnqueueRequest(NewRecord(runId, action, now), RequeueFinished: action.Kind != ActionKind.Create)).ToList();
        var results = await store.EnqueueActionsAsync(requests, cancellationToken).ConfigureAwait(false);

        // Queued now: almost always without a job (a new action, or a finished one whose job Quartz removed with its
        // last trigger), so all of them go in one call. Not queued but unfinished (queued or running from an earlier
        // run): make sure it has a trigger, one by one, as before.
        var fresh = results.Where(r => r.Queued).Select(r => r.Id).Distinct(StringComparer.Ordinal).ToList();
        if (fresh.Count > 0)
        {
            var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>(fresh.Count);
            foreach (var id in fresh)
            {
                jobs[NewJob(id)] = [NewTrigger(scheduler, id)];
            }

            try
            {
                await scheduler.ScheduleJobs(jobs, default, cancellationToken).ConfigureAwait(false);
            }
            catch (ObjectAlreadyExistsException)
            {
                // Some job still exists (a retry, another node): nothing of the batch was stored; take them one by one.
                foreach (var id in fresh)
                {
                    await EnsureScheduledAsync(scheduler, id, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        foreach (var result in results.Where(r => !r.Queued && r.Unfinished))
        {
            await EnsureScheduledAsync(scheduler, result.Id, cancellationToken).ConfigureAwait(false);
        }

        return results.Count(r => r.Queued);
    }

    private static ActionRecord NewRecord(string runId, PlannedAction action, DateTimeOffset now) => new(
        ActionPayload.IdOf(action), runId, action.Policy, action.Schedule, ActionPayload.KindName(action.Kind), action.Region, action.VolumeIds,
        action.SnapshotId, action.Token, action.FireTime, ActionStates.Enqueued, 0, null, null, null, null, now, null, null,
        ActionPayload.Serialize(action));

    private static IJobDetail NewJob(string actionId) => JobBuilder.Create<ActionJob>()
        .WithIdentity(JobKeys.Action(actionId))
        .StoreDurably(false)
        .RequestRecovery(true)
        .UsingJobData(JobKeys.ActionId, actionId)
        .Build();

    private static ITrigger NewTrigger(IScheduler scheduler, string actionId) => TriggerBuilder.Create(scheduler.TimeProvider)
        .WithIdentity(actionId + "/" + Guid.NewGuid().ToString("N")[..8], JobKeys.ActionGroup)
        .ForJob(JobKeys.Action(actionId))
        .StartNow()
        // A queued action is never "misfired": under a backlog it runs as soon as a thread is free, without
        // going through the misfire handler (which handles only a few triggers per pass).
        .WithSimpleSchedule(x => x.WithMisfireInstruction(SimpleTriggerMisfireInstruction.IgnoreMisfires))
        .Build();

    /// <summary>
    /// Makes sure an unfinished action has a job with a trigger (after a crash between row and job, or a shutdown).
    /// Action jobs are stored in the job store (recoverable) but not durable: Quartz removes a job with its last
    /// trigger, atomically, so a re-enqueue never races with a manual delete.
    /// </summary>
    public static async Task EnsureScheduledAsync(IScheduler scheduler, string actionId, CancellationToken cancellationToken = default)
    {
        var key = JobKeys.Action(actionId);
        for (var attempt = 0; ; attempt++)
        {
            var trigger = NewTrigger(scheduler, actionId);
            try
            {
                if (!await scheduler.Exists(key, cancellationToken).ConfigureAwait(false))
                {
                    await scheduler.ScheduleJob(NewJob(actionId), trigger, default, cancellationToken).ConfigureAwait(false);
                }
                else if ((await scheduler.GetTriggersOfJob(key, cancellationToken).ConfigureAwait(false)).Count == 0)
                {
                    await scheduler.ScheduleJob(trigger, default, cancellationToken).ConfigureAwait(false);
                }

                return;
            }
            catch (ObjectAlreadyExistsException)
            {
                return; // another node (or run) scheduled it a moment ago: it runs once
            }
            catch (JobPersistenceException) when (attempt < 3)
            {
                // the job finished and was removed between our check and our trigger: schedule it afresh
            }
        }
    }
}
