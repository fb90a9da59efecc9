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

/// <summary>Runs one hook with its timeout and retries. Never throws for a hook failure; returns it.</summary>
public interface IHookRunner
{
    Task<HookResult> RunAsync(HookSpec hook, HookContext context, CancellationToken cancellationToken = default);
}
