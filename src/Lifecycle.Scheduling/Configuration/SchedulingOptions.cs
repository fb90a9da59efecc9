using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Configuration;

/// <summary>Everything `lifecycle serve` configures about scheduling.</summary>
public sealed record SchedulingOptions
{
    public required StoreOptions Store { get; init; }

    /// <summary>
    /// Jobs one node runs at once (1..256). A fire's creates run as batch jobs that mostly wait (for hooks, for the
    /// provider), so this is sized for every batch of a large fire to start at once.
    /// </summary>
    public int MaxConcurrency { get; init; } = DefaultMaxConcurrency;

    public const int DefaultMaxConcurrency = 64;

    /// <summary>Actions per batch job when a run enqueues many (a fire's creates): see <c>ActionBatchJob</c>.</summary>
    public int ActionBatchSize { get; init; } = ActionQueue.DefaultBatchSize;

    public ExecutorOptions Executor { get; init; } = new();

    /// <summary>Name recorded on runs and actions; host-pid by default.</summary>
    public string? NodeName { get; init; }

    /// <summary>Wake every policy once on start to catch up a missed fire.</summary>
    public bool CatchUpOnStart { get; init; } = true;
}
