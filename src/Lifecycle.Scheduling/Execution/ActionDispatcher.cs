using System.Reflection;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Records planned actions in the run store and hands each to Hangfire as one job carrying only its action id, on a
/// queue by kind (<see cref="ActionQueues"/>). Delivery may be duplicated or late: the run store's leased claim decides
/// who runs an action (<see cref="RunStore.ClaimActionAsync"/>), so delivering again is always safe.
/// </summary>
public sealed class ActionDispatcher
{
    private const int DeliveryParallelism = 8;
    private readonly RunStore store;
    private readonly IBackgroundJobClient jobs;
    private readonly TimeProvider timeProvider;

    public ActionDispatcher(RunStore store, IBackgroundJobClient jobs, TimeProvider timeProvider)
    {
        this.store = store;
        this.jobs = jobs;
        this.timeProvider = timeProvider;
    }

    /// <summary>
    /// Enqueues the actions of one run: their rows in one store transaction, then one Hangfire job each. An action that
    /// is already queued or running from an earlier run is not queued again (a finished create never is: only an
    /// explicit retry does that). Returns how many were (re)queued now.
    /// </summary>
    public async Task<int> EnqueueManyAsync(string runId, IReadOnlyList<PlannedAction> actions, CancellationToken cancellationToken = default)
    {
        if (actions.Count == 0)
        {
            return 0;
        }

        var now = timeProvider.GetUtcNow();
        var requests = actions.Select(action => new EnqueueRequest(NewRecord(runId, action, now), RequeueFinished: action.Kind != ActionKind.Create)).ToList();
        var results = await store.EnqueueActionsAsync(requests, cancellationToken).ConfigureAwait(false);
        // One action id may come twice in a plan (it is the same action): one job.
        var kinds = requests.DistinctBy(r => r.Action.Id, StringComparer.Ordinal).ToDictionary(r => r.Action.Id, r => r.Action.Kind, StringComparer.Ordinal);
        var queued = results.Where(r => r.Queued).Select(r => r.Id).Distinct(StringComparer.Ordinal).ToList();
        await DeliverAsync(queued.Select(id => (id, kinds[id])).ToList(), null, cancellationToken).ConfigureAwait(false);
        return queued.Count;
    }

    /// <summary>Enqueues one action (<paramref name="retry"/>: a finished one too). Returns true when it was (re)queued now.</summary>
    public async Task<bool> EnqueueAsync(string runId, PlannedAction action, bool retry = false, CancellationToken cancellationToken = default)
    {
        var record = NewRecord(runId, action, timeProvider.GetUtcNow());
        if (!await store.EnqueueActionAsync(record, retry || action.Kind != ActionKind.Create, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        await DeliverAsync([(record.Id, record.Kind)], null, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Creates one Hangfire job per action (now, or scheduled at <paramref name="at"/>) and records the job ids. The
    /// queue follows the kind, or <see cref="ActionQueues.Checks"/> for a completion check.
    /// </summary>
    public async Task DeliverAsync(IReadOnlyList<(string Id, string Kind)> actions, DateTimeOffset? at, CancellationToken cancellationToken = default)
    {
        if (actions.Count == 0)
        {
            return;
        }

        // A few at a time: a job is several round trips to Hangfire.PostgreSql's tables, and the first of a fire's jobs
        // can start while the rest are created.
        var created = new (string ActionId, string Job)[actions.Count];
        await Parallel.ForAsync(0, actions.Count, new ParallelOptions { MaxDegreeOfParallelism = DeliveryParallelism, CancellationToken = cancellationToken },
            (i, _) =>
            {
                created[i] = (actions[i].Id, Deliver(actions[i].Id, actions[i].Kind, at));
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
        await store.SetJobsAsync(created, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the Hangfire job of one action (now, or scheduled at <paramref name="at"/>) without recording it; returns its id.</summary>
    public string Deliver(string actionId, string queueKind, DateTimeOffset? at)
    {
        // The job from its method and arguments: Job.FromExpression would build an expression tree per job and compile
        // its argument (a thousand compilations in a fire's first second).
        var method = queueKind switch
        {
            "create" => JobMethods.Create,
            "copy" => JobMethods.Copy,
            "delete" => JobMethods.Delete,
            ActionStates.Completing => JobMethods.CheckCompletion,
            _ => JobMethods.Change,
        };
        var job = new Job(typeof(ActionJob), method, actionId, CancellationToken.None);
        // Hangfire schedules on the machine's clock, we on our TimeProvider: hand it the delay, not the instant, plus a
        // second (it keeps a delayed job's time in whole seconds: without it the job may come before the action is due).
        var delay = at is { } time ? time - timeProvider.GetUtcNow() + TimeSpan.FromSeconds(1) : TimeSpan.Zero;
        IState state = delay > TimeSpan.FromSeconds(1) ? new ScheduledState(delay) : new EnqueuedState(ActionQueues.Of(queueKind));
        return jobs.Create(job, state);
    }

    /// <summary>The methods of <see cref="ActionJob"/>, one per queue.</summary>
    private static class JobMethods
    {
        public static readonly MethodInfo Create = Of(nameof(ActionJob.Create));
        public static readonly MethodInfo Copy = Of(nameof(ActionJob.Copy));
        public static readonly MethodInfo Delete = Of(nameof(ActionJob.Delete));
        public static readonly MethodInfo CheckCompletion = Of(nameof(ActionJob.CheckCompletion));
        public static readonly MethodInfo Change = Of(nameof(ActionJob.Change));

        private static MethodInfo Of(string name) => typeof(ActionJob).GetMethod(name, [typeof(string), typeof(CancellationToken)])
            ?? throw new MissingMethodException(nameof(ActionJob), name);
    }

    private static ActionRecord NewRecord(string runId, PlannedAction action, DateTimeOffset now) => new(
        ActionPayload.IdOf(action), runId, action.Policy, action.Schedule, ActionPayload.KindName(action.Kind), action.Region, action.VolumeIds,
        action.SnapshotId, action.Token, action.FireTime, ActionStates.Enqueued, 0, null, null, null, null, now, null, null,
        ActionPayload.Serialize(action));
}

/// <summary>
/// Hangfire queues by action kind. Creates have workers of their own (a copy backlog never delays a fire); completion
/// checks come first among the rest, then copies, other changes and deletions.
/// </summary>
public static class ActionQueues
{
    public const string Creates = "creates";
    public const string Checks = "checks";
    public const string Copies = "copies";
    public const string Changes = "changes";
    public const string Deletes = "deletes";

    /// <summary>Our recurring work (reconcile).</summary>
    public const string System = "system";

    /// <summary>The queues of the second server, in the order its workers take them.</summary>
    public static readonly string[] Others = [Checks, Copies, Changes, Deletes, System];

    public static string Of(string kind) => kind switch
    {
        "create" => Creates,
        "copy" => Copies,
        "delete" => Deletes,
        ActionStates.Completing => Checks,
        _ => Changes,
    };
}
