using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Configuration;

/// <summary>Everything `lifecycle serve` configures about scheduling.</summary>
public sealed record SchedulingOptions
{
    public required StoreOptions Store { get; init; }

    /// <summary>Jobs one node runs at once (1..256).</summary>
    public int MaxConcurrency { get; init; } = 16;

    public ExecutorOptions Executor { get; init; } = new();

    /// <summary>Name recorded on runs and actions; host-pid by default.</summary>
    public string? NodeName { get; init; }

    /// <summary>Wake every policy once on start to catch up a missed fire.</summary>
    public bool CatchUpOnStart { get; init; } = true;
}
