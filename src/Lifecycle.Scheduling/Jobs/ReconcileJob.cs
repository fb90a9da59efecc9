using System.Globalization;
using Hangfire;
using Hangfire.States;
using Hangfire.Storage;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// The level-triggered safety nets, two Hangfire recurring jobs. <b>recover</b> (every minute) delivers again the
/// actions the run store says nobody is delivering (<see cref="RunStore.ListStrandedActionsAsync"/>: a node died holding
/// their lease or before creating their jobs), from the run store alone. <b>reconcile</b> (every 5 minutes) wakes every
/// enabled, unpaused policy in reconcile mode, so failed or missed copies, archive moves, fast-restore changes and
/// deletions catch up (through each policy's Quartz job, so runs of a policy never overlap), and delivers again every
/// action the run store still owes whose Hangfire job is gone or finished (a storage restart, a job that failed
/// without recording an outcome).
/// </summary>
public sealed class ReconcileJob
{
    /// <summary>The recurring job's id on Hangfire's Recurring Jobs page.</summary>
    public const string RecurringId = "reconcile";

    /// <summary>The recovery pass's id on Hangfire's Recurring Jobs page.</summary>
    public const string RecoverId = "recover";

    /// <summary>
    /// The recovery pass's cron: every minute at second 30, or every N seconds under <see cref="IntervalVariable"/>
    /// (tests). Both passes run half a minute off the minute because schedules fire on it (a policy's cron has no
    /// seconds, an interval counts from a minute): on the minute, a pass's queries, its lookups in Hangfire and the
    /// policy runs it wakes competed with a fire's creates (bench scheduler, 1,000 creates through /ec2: a first fire
    /// after a start at a minute the reconcile pass also ran took p99 1.98-2.77 s in eight runs of eight, median 2.31 s,
    /// against a median of 1.91 s at other minutes).
    /// </summary>
    public const string RecoverCron = "30 * * * * *";

    /// <summary>Test-only: <c>LIFECYCLE_RECONCILE_SECONDS=N</c> (1..59) makes the pass run every N seconds.</summary>
    public const string IntervalVariable = "LIFECYCLE_RECONCILE_SECONDS";

    private const int MaxRedeliveries = 100_000;

    /// <summary>How long an action must have been without a live lease or a job before the recovery pass delivers it.</summary>
    public static readonly TimeSpan StrandedAfter = TimeSpan.FromMinutes(1);

    /// <summary>A run plans and records its actions; one still running after this long lost its node.</summary>
    public static readonly TimeSpan RunsEndWithin = TimeSpan.FromHours(1);

    private readonly AppliedPolicies applied;
    private readonly RunStore store;
    private readonly ActionDispatcher dispatcher;
    private readonly ISchedulerFactory schedulers;
    private readonly JobStorage storage;
    private readonly TimeProvider timeProvider;
    private readonly ILogger<ReconcileJob> logger;

    public ReconcileJob(
        AppliedPolicies applied, RunStore store, ActionDispatcher dispatcher, ISchedulerFactory schedulers, JobStorage storage, TimeProvider timeProvider,
        ILogger<ReconcileJob> logger)
    {
        this.timeProvider = timeProvider;
        this.applied = applied;
        this.store = store;
        this.dispatcher = dispatcher;
        this.schedulers = schedulers;
        this.storage = storage;
        this.logger = logger;
    }

    /// <summary>A pass's cron: <paramref name="configured"/>, or every N seconds under <see cref="IntervalVariable"/> (tests).</summary>
    public static string Cron(string configured) =>
        int.TryParse(Environment.GetEnvironmentVariable(IntervalVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and < 60
            ? $"*/{seconds} * * * * *"
            : configured;

    [Queue(ActionQueues.System)]
    [JobDisplayName("reconcile: wake every policy, deliver owed actions again")]
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(60)]
    public async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        // A fire's actions may still be in delivery (a long fire): those a node holds or a dispatcher is delivering are
        // left alone.
        var redelivered = await RedeliverOwedAsync(StrandedAfter, cancellationToken).ConfigureAwait(false);
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        var paused = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        var scheduler = await schedulers.GetScheduler(cancellationToken).ConfigureAwait(false);
        var woken = 0;
        foreach (var policy in set.Policies.Policies.Where(p => p.Enabled && !paused.ContainsKey(p.Name)))
        {
            if (await scheduler.Exists(JobKeys.Policy(policy.Name), cancellationToken).ConfigureAwait(false))
            {
                await scheduler.TriggerJob(JobKeys.Policy(policy.Name), new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Reconcile }, cancellationToken).ConfigureAwait(false);
                woken++;
            }
        }

        return $"{woken} policies woken, {redelivered} actions delivered again";
    }

    /// <summary>
    /// The recovery pass: delivers again every stranded action (<see cref="RunStore.ListStrandedActionsAsync"/>), a
    /// completing one as a completion check. One query, no lookups in Hangfire: every minute costs little however many
    /// actions are queued. A delivery that finds the action taken after all does nothing (the leased claim decides).
    /// </summary>
    [Queue(ActionQueues.System)]
    [JobDisplayName("recover: deliver again the actions nobody is delivering")]
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(60)]
    public Task<string> RecoverStrandedAsync(CancellationToken cancellationToken) => RecoverStrandedAsync(StrandedAfter, cancellationToken);

    /// <summary>The recovery pass with another <paramref name="grace"/> than <see cref="StrandedAfter"/> (tests).</summary>
    public async Task<string> RecoverStrandedAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        var closed = await store.CloseInterruptedRunsAsync(null, timeProvider.GetUtcNow() - RunsEndWithin, cancellationToken).ConfigureAwait(false);
        if (closed > 0)
        {
            logger.LogWarning("{Count} runs were still running after {Hours} h (their node stopped while planning); ended as failed", closed, RunsEndWithin.TotalHours);
        }

        var stranded = await store.ListStrandedActionsAsync(grace, MaxRedeliveries, cancellationToken).ConfigureAwait(false);
        if (stranded.Count > 0)
        {
            logger.LogWarning("{Count} actions were stranded (a lease ran out, or no job was created); delivering them again", stranded.Count);
            await DeliverAgainAsync([.. stranded.Select(a => (a.Id, a.State == ActionStates.Completing ? ActionStates.Completing : a.Kind, a.NotBefore))],
                cancellationToken).ConfigureAwait(false);
        }

        return $"{stranded.Count} stranded actions delivered again";
    }

    /// <summary>
    /// Delivers again each owed action (<see cref="RunStore.ListOwedActionsAsync"/>) whose job is not waiting or running
    /// in Hangfire. A second delivery of an action that is in fact running is harmless: it cannot claim it. But it is
    /// not free (a job, and a check scheduled for when the lease ends): with <paramref name="settling"/> (the periodic
    /// pass) the actions a node holds or a dispatcher is delivering are left alone. At a start (null), every one.
    /// </summary>
    public async Task<int> RedeliverOwedAsync(TimeSpan? settling = null, CancellationToken cancellationToken = default)
    {
        var owed = await store.ListOwedActionsAsync(MaxRedeliveries, settling, cancellationToken).ConfigureAwait(false);
        var lost = new List<(string Id, string Kind, DateTimeOffset? At)>();
        using (var connection = storage.GetConnection())
        {
            foreach (var action in owed)
            {
                if (action.Job is not null && IsAlive(connection.GetStateData(action.Job)?.Name))
                {
                    continue;
                }

                lost.Add((action.Id, action.State == ActionStates.Completing ? ActionStates.Completing : action.Kind, action.NotBefore));
            }
        }

        if (lost.Count > 0)
        {
            logger.LogWarning("{Count} owed actions had no live Hangfire job; delivering them again", lost.Count);
            await DeliverAgainAsync(lost, cancellationToken).ConfigureAwait(false);
        }

        return lost.Count;
    }

    /// <summary>A retry or a completion recheck keeps its time (delivered at once, it would find the action not due and end).</summary>
    private async Task DeliverAgainAsync(IReadOnlyList<(string Id, string Kind, DateTimeOffset? At)> actions, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        foreach (var due in actions.GroupBy(a => a.At is { } at && at > now ? at : (DateTimeOffset?)null))
        {
            await dispatcher.DeliverAsync([.. due.Select(a => (a.Id, a.Kind))], due.Key, cancellationToken).ConfigureAwait(false);
        }
    }

    private static readonly HashSet<string> AliveStates = new(StringComparer.OrdinalIgnoreCase)
    {
        EnqueuedState.StateName, ScheduledState.StateName, ProcessingState.StateName, AwaitingState.StateName,
    };

    private static bool IsAlive(string? state) => state is not null && AliveStates.Contains(state);
}
