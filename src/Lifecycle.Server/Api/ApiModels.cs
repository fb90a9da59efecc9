using System.Collections.Immutable;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Server.Api;

/// <summary>Body of POST /api/v1/policies:plan and :apply — the whole policy set.</summary>
public sealed record PolicySetRequest
{
    public ImmutableArray<PolicySource> Files { get; init; } = [];

    public string? Revision { get; init; }

    public string? Author { get; init; }

    public bool AllowDestructive { get; init; }
}

public sealed record ScheduleView(string Name, string Trigger, ImmutableArray<DateTimeOffset> NextFireTimes, DateTimeOffset? NextWakeUp);

public sealed record PolicyView(
    string Name,
    string? Description,
    bool Enabled,
    bool Paused,
    string Engine,
    ImmutableArray<string> Regions,
    string Source,
    ImmutableArray<ScheduleView> Schedules)
{
    /// <summary>When the policy was paused (the store's pause; null when not paused).</summary>
    public DateTimeOffset? PausedAt { get; init; }

    public string? PausedBy { get; init; }
}

public sealed record RunDetail(RunRecord Run, IReadOnlyList<ActionRecord> Actions);

public sealed record ActionDetail(ActionRecord Action, IReadOnlyList<HookRunRecord> Hooks);

public sealed record SnapshotView(
    string Id,
    string Region,
    string VolumeId,
    string State,
    string Tier,
    DateTimeOffset StartTime,
    ImmutableSortedDictionary<string, string> Tags,
    ImmutableSortedDictionary<string, string> FastRestore,
    string? SourceSnapshotId);
