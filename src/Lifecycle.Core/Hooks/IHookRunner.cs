using System.Collections.Immutable;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Hooks;

public enum HookStage
{
    Pre,
    Post,
}

/// <summary>What a hook is told: the environment of an exec hook (LIFECYCLE_*) and the JSON body of an http hook.</summary>
public sealed record HookContext(
    string Policy,
    string Schedule,
    HookStage Stage,
    ImmutableArray<string> VolumeIds,
    string? InstanceId,
    DateTimeOffset FireTime);

public enum HookOutcome
{
    Succeeded,
    Failed,
    TimedOut,
}

/// <summary>Result of one hook after its retries; output is captured and capped.</summary>
public sealed record HookResult(HookOutcome Outcome, int Attempts, int? ExitCode, string Output, TimeSpan Duration, string? Error);

/// <summary>
/// The process of one exec hook attempt, enough to find and kill it after a crash of the server: the process group it
/// leads (the same number as its pid) and the identity of that pid (start time in clock ticks since boot, and the boot
/// id), so a recycled pid is never taken for it. <see cref="StartTicks"/> is null when the process had already gone.
/// </summary>
public sealed record HookProcess(int ProcessGroupId, long? StartTicks, string? BootId);

/// <summary>
/// Told as each exec hook attempt starts its process, before the runner waits for it, so the caller can record it.
/// May be called once per attempt (retries start new processes). If it throws, the runner kills the process group and
/// the attempt fails.
/// </summary>
public interface IHookProcessObserver
{
    Task ProcessStartedAsync(HookProcess process, CancellationToken cancellationToken = default);
}

/// <summary>Runs one hook with its timeout and retries. Never throws for a hook failure; returns it. Throws on cancellation.</summary>
public interface IHookRunner
{
    /// <param name="observer">Told about each exec process as it starts (null: nobody records it).</param>
    Task<HookResult> RunAsync(HookSpec hook, HookContext context, IHookProcessObserver? observer = null, CancellationToken cancellationToken = default);
}
