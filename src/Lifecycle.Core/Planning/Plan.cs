using System.Collections.Immutable;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Planning;

/// <summary>The kinds of action a plan holds, in the order a run executes them.</summary>
public enum ActionKind
{
    Create,
    Copy,
    Archive,
    EnableFastRestore,
    DisableFastRestore,
    Delete,
}

/// <summary>
/// One step of a plan. Every action says why (<see cref="Reason"/>). Fields not relevant to a kind are null/empty.
/// Actions are idempotent to execute: creates and copies carry a <see cref="Token"/> that the executor looks up first.
/// </summary>
public sealed record PlannedAction
{
    public required ActionKind Kind { get; init; }

    public required string Policy { get; init; }

    /// <summary>
    /// The engine the policy runs against (its <c>engine:</c> field); null in actions stored before actions named it,
    /// which run on the server's default engine.
    /// </summary>
    public EngineKind? Engine { get; init; }

    /// <summary>Schedule whose rule caused the action (for a merged create: the first of them).</summary>
    public string? Schedule { get; init; }

    /// <summary>Region the action runs in (for a copy: the target region).</summary>
    public required string Region { get; init; }

    /// <summary>Create: the volumes (one, or all of an instance's set). Others: the snapshot's volume.</summary>
    public ImmutableArray<string> VolumeIds { get; init; } = [];

    /// <summary>Create of an instance set: the instance.</summary>
    public string? InstanceId { get; init; }

    /// <summary>Create of an instance set: leave the instance's boot volume out (EC2's ExcludeBootVolume).</summary>
    public bool ExcludeBootVolume { get; init; }

    /// <summary>
    /// Create of an instance set: attached data volumes deliberately left out by the policy's exclusions (EC2's
    /// ExcludeDataVolumeIds). Everything else attached to the instance is in the set.
    /// </summary>
    public ImmutableArray<string> ExcludeVolumeIds { get; init; } = [];

    /// <summary>The snapshot acted on (copy: the source snapshot).</summary>
    public string? SnapshotId { get; init; }

    /// <summary>Copy: the source region.</summary>
    public string? SourceRegion { get; init; }

    /// <summary>Fast-restore actions: the zones.</summary>
    public ImmutableArray<string> Zones { get; init; } = [];

    /// <summary>Create/copy: the scheduled fire time.</summary>
    public DateTimeOffset? FireTime { get; init; }

    /// <summary>Create/copy: deterministic token (see <see cref="CreationToken"/>).</summary>
    public string? Token { get; init; }

    /// <summary>Create/copy: tags to set at creation (ownership tags included).</summary>
    public ImmutableSortedDictionary<string, string> Tags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>Copy: encrypt with this key (null: keep source encryption / region default).</summary>
    public bool Encrypted { get; init; }

    public string? KeyId { get; init; }

    /// <summary>
    /// Archive, fast-restore or delete of an adopted snapshot: the Amazon DLM policy whose snapshot it is (the snapshot
    /// carries no <c>lifecycle:policy</c> tag; the executor checks <c>aws:dlm:lifecycle-policy-id</c> instead). Null
    /// for a snapshot the policy made.
    /// </summary>
    public string? AdoptedFrom { get; init; }

    /// <summary>Create: schedules whose rules the snapshot carries (simultaneous schedules merge into one create).</summary>
    public ImmutableArray<string> Schedules { get; init; } = [];

    public required string Reason { get; init; }
}

/// <summary>What the planner decided about one policy-owned snapshot.</summary>
public enum SnapshotVerdict
{
    Kept,
    Released,

    /// <summary>Released, but the deletion is deferred by maxDeletesPerRun.</summary>
    Deferred,
}

/// <summary>The decision for one owned snapshot with the rules behind it ("daily bucket 2026-11-20", "count 3 of 7").</summary>
public sealed record SnapshotDecision(
    string Policy,
    string SnapshotId,
    string Region,
    string VolumeId,
    string? Schedule,
    DateTimeOffset StartTime,
    SnapshotVerdict Verdict,
    ImmutableArray<string> Reasons)
{
    /// <summary>For an adopted snapshot: the Amazon DLM policy it was made by; null for one the policy made.</summary>
    public string? AdoptedFrom { get; init; }

    /// <summary>For an adopted snapshot: why it is adopted and under which schedule ("DLM schedule 'Daily' = schedule daily").</summary>
    public string? Adoption { get; init; }
}

/// <summary>A note the plan reports (deferred deletions, volumes gone, policies disabled).</summary>
public sealed record PlanNote(string Policy, string Message);

/// <summary>
/// The planner's output: ordered actions plus the decision for every policy-owned snapshot.
/// Order: by policy name, then action kind (create, copy, archive, enable, disable, delete), then region, volume, snapshot.
/// </summary>
public sealed record Plan(
    DateTimeOffset Now,
    ImmutableArray<PlannedAction> Actions,
    ImmutableArray<SnapshotDecision> Decisions,
    ImmutableArray<PlanNote> Notes)
{
    public static Plan Empty(DateTimeOffset now) => new(now, [], [], []);

    public IEnumerable<PlannedAction> For(string policy) => Actions.Where(a => a.Policy == policy);
}
