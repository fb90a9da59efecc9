using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Configuration;

/// <summary>Everything `lifecycle serve` configures about scheduling.</summary>
public sealed record SchedulingOptions
{
    public required StoreOptions Store { get; init; }

    /// <summary>
    /// Hangfire workers of this node for creates (1..256): a fire's creates start this many at a time. Creates return
    /// once the provider accepted them, so a worker is busy for the hooks and one provider call. The other queues
    /// (completion checks, copies, other changes, deletions) have a quarter of this (at least 4) of their own.
    /// </summary>
    public int MaxConcurrency { get; init; } = DefaultMaxConcurrency;

    /// <summary>
    /// 40: a create's worker spends much of its turn waiting (its claim's turn at the store's writer, the engine's
    /// durable commit, a round trip to the provider), so on two cores 20 workers left a quarter to a third of the CPU
    /// idle in a fire. bench scheduler, 1,000 creates through /ec2 (p99 fire → snapshot start, first fire after a
    /// start, then the next): 20 workers 2.51–3.13 s, 1.55–1.99 s; 40 workers 1.56–1.96 s, 1.22–1.43 s (three runs
    /// each). 64 were no better (1.80 s, 1.24 s). It was 20 when idle workers still spun for work (80 threads on two
    /// cores).
    /// </summary>
    public const int DefaultMaxConcurrency = 40;

    /// <summary>How long a claim on an action lasts without renewal (renewed every third of it while the action runs).</summary>
    public TimeSpan ActionLease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// PostgreSQL only: how long a job Hangfire fetched stays invisible to other nodes after its node stops renewing it
    /// (sliding invisibility), so a killed node's jobs are delivered again after about this long.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Every this long the reconcile job wakes every policy and delivers again any action whose delivery was lost: every
    /// 5 minutes, at second 30 (Hangfire's cron with seconds). Schedules fire on the minute; housekeeping between them
    /// does not compete with a fire's creates (<see cref="Jobs.ReconcileJob.RecoverCron"/>).
    /// </summary>
    public string ReconcileCron { get; init; } = "30 */5 * * * *";

    public ExecutorOptions Executor { get; init; } = new();

    /// <summary>Name recorded on runs and actions; host-pid by default.</summary>
    public string? NodeName { get; init; }

    /// <summary>Wake every policy once on start to catch up a missed fire.</summary>
    public bool CatchUpOnStart { get; init; } = true;

    /// <summary>
    /// Once started, walk the read side of every policy's next fire without writing anything
    /// (<see cref="Execution.FireRehearsal"/>), so the first fire after a start does not also pay for compiling its path.
    /// `lifecycle serve` turns it on (`bench scheduler` runs the rehearsal itself, once it has applied its policies); off
    /// by default for other hosts, such as tests that count provider calls.
    /// </summary>
    public bool RehearseOnStart { get; init; }

    /// <summary>Run Hangfire servers (workers) on this node; false only for tests that deliver jobs themselves.</summary>
    public bool RunWorkers { get; init; } = true;
}
