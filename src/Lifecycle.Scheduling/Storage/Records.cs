using System.Collections.Immutable;

namespace Lifecycle.Scheduling.Storage;

/// <summary>States of a run (one wake-up of a policy), past-tense once finished.</summary>
public static class RunStates
{
    public const string Running = "running";

    /// <summary>The provider accepted the create or copy; a completion check finishes the action once it is no longer pending.</summary>
    public const string Completing = "completing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>States of one provider action. A retry is a transition back to <see cref="Enqueued"/> with a reason.</summary>
public static class ActionStates
{
    public const string Enqueued = "enqueued";
    public const string Running = "running";

    /// <summary>The provider accepted the create or copy; a completion check finishes the action once it is no longer pending.</summary>
    public const string Completing = "completing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    /// <summary>Not executed on purpose (a pre hook failed with onFailure: skip).</summary>
    public const string Skipped = "skipped";

    public static bool IsFinished(string state) => state is Succeeded or Failed or Skipped;
}

/// <summary>One wake-up of a policy: a schedule fire, a reconcile pass, or a manual trigger.</summary>
public sealed record RunRecord(
    string Id,
    string Policy,
    string? Schedule,
    string Kind,
    DateTimeOffset? FireTime,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    string State,
    string Node,
    int ActionsPlanned,
    string? Message);

/// <summary>One provider action with its outcome. <see cref="Id"/> is stable for the same logical action (token based).</summary>
public sealed record ActionRecord(
    string Id,
    string RunId,
    string Policy,
    string? Schedule,
    string Kind,
    string Region,
    ImmutableArray<string> VolumeIds,
    string? SnapshotId,
    string? Token,
    DateTimeOffset? FireTime,
    string State,
    int Attempts,
    string? ResultSnapshotId,
    string? Consistency,
    string? Error,
    string? Node,
    DateTimeOffset EnqueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string Payload)
{
    /// <summary>The action's latest delivery job (a Hangfire job id); null before its first delivery.</summary>
    public string? Job { get; init; }

    /// <summary>Until when the node in <see cref="Node"/> holds the action (a leased claim); null: nobody does.</summary>
    public DateTimeOffset? LeaseUntil { get; init; }

    /// <summary>
    /// The current claim's id (new at every claim): the writes of a delivery carry it, so one whose lease expired and
    /// was taken over cannot overwrite the new owner's outcome.
    /// </summary>
    public string? Claim { get; init; }

    /// <summary>Not to be claimed before this time (a retry after a limit that clears by itself, the next completion check).</summary>
    public DateTimeOffset? NotBefore { get; init; }
}

/// <summary>
/// Outcomes of a hook record beside the hook's own (succeeded, failed, timedout): <see cref="Running"/> from the moment
/// it starts, so a crash leaves a trail; the others close a record its server could not finish.
/// </summary>
public static class HookRunStates
{
    public const string Running = "running";

    /// <summary>The provider accepted the create or copy; a completion check finishes the action once it is no longer pending.</summary>
    public const string Completing = "completing";

    /// <summary>Its process group was still alive after a server crash and was killed at restart.</summary>
    public const string Killed = "killed";

    /// <summary>Its server stopped (crash, reboot) while it ran; nothing of it was left to kill.</summary>
    public const string Interrupted = "interrupted";

    /// <summary>The job running it was cancelled (server shutdown); its process group was killed.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>
/// One hook execution (after its retries) with its captured, capped output. Written when the hook starts (outcome
/// <see cref="HookRunStates.Running"/>, no <see cref="FinishedAt"/>) and completed when it ends.
/// </summary>
public sealed record HookRunRecord(
    string Id,
    string ActionId,
    string Stage,
    string Hook,
    string Outcome,
    int Attempts,
    int? ExitCode,
    string Output,
    string? Error,
    TimeSpan Duration,
    DateTimeOffset? FinishedAt)
{
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>The process group of the exec attempt running now (or last), with its identity; null for http hooks.</summary>
    public HookProcessRecord? Process { get; init; }

    /// <summary>The server process that runs the hook; a record whose owner is gone is a leftover of a crash.</summary>
    public HookOwner? Owner { get; init; }
}

/// <summary>An exec hook's process group as recorded: group id (= leader pid), leader start ticks since boot, boot id.</summary>
public sealed record HookProcessRecord(int ProcessGroupId, long? StartTicks, string? BootId);

/// <summary>
/// The server process that runs a hook: machine name, boot id, its pid and that pid's start ticks. Its hooks are
/// leftovers once this process no longer exists (a recycled pid has another start time).
/// </summary>
public sealed record HookOwner(string Host, string? BootId, int Pid, long? StartTicks);

public sealed record AuditEntry(string Id, DateTimeOffset At, string Actor, string Event, string Detail);

/// <summary>An applied policy set: its sources, the git revision and author it came from, and the diff it made.</summary>
public sealed record PolicyRevisionRecord(
    long Seq,
    string? Revision,
    string? Author,
    DateTimeOffset AppliedAt,
    string AppliedByNode,
    ImmutableArray<PolicySource> Sources,
    ImmutableArray<string> PolicyNames,
    string Diff);

/// <summary>One policy file as text: what a revision stores, so every node parses exactly the same set.</summary>
public sealed record PolicySource(string Path, string Text);

/// <summary>Filters for listing actions; null fields do not filter.</summary>
public sealed record ActionFilter
{
    public string? Policy { get; init; }

    public string? Volume { get; init; }

    public string? State { get; init; }

    public string? Kind { get; init; }

    public string? RunId { get; init; }

    public DateTimeOffset? From { get; init; }

    public DateTimeOffset? To { get; init; }

    public int Limit { get; init; } = 500;
}

public sealed record RunFilter
{
    public string? Policy { get; init; }

    public string? State { get; init; }

    public DateTimeOffset? From { get; init; }

    public DateTimeOffset? To { get; init; }

    public int Limit { get; init; } = 200;
}
