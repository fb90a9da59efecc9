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
    /// <summary>Default actions per batch job: a fire's creates spread over nodes in batches this size.</summary>
    public const int DefaultBatchSize = 25;

    private readonly RunStore store;
    private readonly TimeProvider timeProvider;
    private readonly int batchSize;

    public ActionQueue(RunStore store, TimeProvider timeProvider, int batchSize = DefaultBatchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        this.store = store;
        this.timeProvider = timeProvider;
        this.batchSize = batchSize;
    }

    public int BatchSize => batchSize;

    /// <summary>Returns true when the action was (re)queued now.</summary>
    public async Task<bool> EnqueueAsync(IScheduler scheduler, string runId, PlannedAction action, bool retry = false, CancellationToken cancellationToken = default)
    {
        var record = NewRecord(runId, action, timeProvider.GetUtcNow());
        var id = record.Id;
        var requeueFinished = retry || action.Kind != ActionKind.Create;
        var queued = await store.EnqueueActionAsync(record, requeueFinished, cancellationToken).ConfigureAwait(false);
        string? existingJob = null;
        if (!queued)
        {
            var existing = await store.GetActionAsync(id, cancellationToken).ConfigureAwait(false);
            if (existing is null || ActionStates.IsFinished(existing.State))
            {
                return false;
            }

            existingJob = existing.Job;
        }

        await EnsureScheduledAsync(scheduler, store, id, existingJob, cancellationToken).ConfigureAwait(false);
        return queued;
    }

    /// <summary>
    /// Enqueues the actions of one run together: their rows in one store transaction, then the newly queued ones as
    /// batch jobs of up to <see cref="BatchSize"/> actions each (<see cref="ActionBatchJob"/>), all in one Quartz call.
    /// Each action row records its batch, and only that batch may start it. Same rules as <see cref="EnqueueAsync"/>
    /// action by action; returns how many were (re)queued now.
    /// </summary>
    public async Task<int> EnqueueManyAsync(IScheduler scheduler, string runId, IReadOnlyList<PlannedAction> actions, CancellationToken cancellationToken = default)
    {
        if (actions.Count == 0)
        {
            return 0;
        }

        var now = timeProvider.GetUtcNow();
        var requests = actions.Select((action, i) => new EnqueueRequest(
            NewRecord(runId, action, now) with { Job = $"{runId}/{i / batchSize}" }, RequeueFinished: action.Kind != ActionKind.Create)).ToList();
        var results = await store.EnqueueActionsAsync(requests, cancellationToken).ConfigureAwait(false);

        // Queued now: a new action, or a finished one queued again; their batches are new (the run id is new).
        var batches = results.Where(r => r.Queued).GroupBy(r => r.Job!, StringComparer.Ordinal).ToList();
        if (batches.Count > 0)
        {
            var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>(batches.Count);
            foreach (var batch in batches)
            {
                var ids = batch.Select(r => r.Id).Distinct(StringComparer.Ordinal);
                jobs[NewBatchJob(batch.Key, ids)] = [NewTrigger(scheduler, JobKeys.ActionBatch(batch.Key))];
            }

            await scheduler.ScheduleJobs(jobs, default, cancellationToken).ConfigureAwait(false);
        }

        // Not queued but unfinished (queued or running from an earlier run): make sure its owner job still exists.
        foreach (var result in results.Where(r => !r.Queued && r.Unfinished))
        {
            await EnsureScheduledAsync(scheduler, store, result.Id, result.Job, cancellationToken).ConfigureAwait(false);
        }

        return results.Count(r => r.Queued);
    }

    private static ActionRecord NewRecord(string runId, PlannedAction action, DateTimeOffset now) => new(
        ActionPayload.IdOf(action), runId, action.Policy, action.Schedule, ActionPayload.KindName(action.Kind), action.Region, action.VolumeIds,
        action.SnapshotId, action.Token, action.FireTime, ActionStates.Enqueued, 0, null, null, null, null, now, null, null,
        ActionPayload.Serialize(action));

    private static IJobDetail NewBatchJob(string batch, IEnumerable<string> actionIds) => JobBuilder.Create<ActionBatchJob>()
        .WithIdentity(JobKeys.ActionBatch(batch))
        .StoreDurably(false)
        .RequestRecovery(true)
        .UsingJobData(JobKeys.ActionIds, string.Join(',', actionIds))
        .Build();

    private static IJobDetail NewJob(string actionId) => JobBuilder.Create<ActionJob>()
        .WithIdentity(JobKeys.Action(actionId))
        .StoreDurably(false)
        .RequestRecovery(true)
        .UsingJobData(JobKeys.ActionId, actionId)
        .Build();

    private static ITrigger NewTrigger(IScheduler scheduler, JobKey job) => TriggerBuilder.Create(scheduler.TimeProvider)
        .WithIdentity(job.Name + "/" + Guid.NewGuid().ToString("N")[..8], job.Group)
        .ForJob(job)
        .StartNow()
        // A queued action is never "misfired": under a backlog it runs as soon as a thread is free, without
        // going through the misfire handler (which handles only a few triggers per pass).
        .WithSimpleSchedule(x => x.WithMisfireInstruction(SimpleTriggerMisfireInstruction.IgnoreMisfires))
        .Build();

    /// <summary>
    /// Makes sure an unfinished action has a job with a trigger (after a crash between row and job, or a shutdown).
    /// An action whose batch job still exists is left to it (the batch runs, or a recovery re-runs, its unfinished
    /// actions); one whose batch is gone is given a job of its own. Action jobs are stored in the job store
    /// (recoverable) but not durable: Quartz removes a job with its last trigger, atomically, so a re-enqueue never
    /// races with a manual delete.
    /// </summary>
    public static async Task EnsureScheduledAsync(IScheduler scheduler, RunStore store, string actionId, string? batch, CancellationToken cancellationToken = default)
    {
        if (batch is not null)
        {
            if (await scheduler.Exists(JobKeys.ActionBatch(batch), cancellationToken).ConfigureAwait(false)
                || !await store.DetachActionFromBatchAsync(actionId, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }

        var key = JobKeys.Action(actionId);
        for (var attempt = 0; ; attempt++)
        {
            var trigger = NewTrigger(scheduler, key);
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
