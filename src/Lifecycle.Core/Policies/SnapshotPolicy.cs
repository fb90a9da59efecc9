using System.Collections.Immutable;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Policies;

/// <summary>Which engine a policy runs against.</summary>
public enum EngineKind
{
    Aws,
    Local,
}

/// <summary>
/// A validated snapshot policy (apiVersion lifecycle/v1, kind SnapshotPolicy). Immutable; built only by the
/// policy loader (Lifecycle.Policies) or by tests. <see cref="Source"/> says where it was written.
/// </summary>
public sealed record SnapshotPolicy
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    public bool Enabled { get; init; } = true;

    public EngineKind Engine { get; init; } = EngineKind.Aws;

    /// <summary>Regions whose volumes this policy targets (the source regions).</summary>
    public required ImmutableArray<string> Regions { get; init; }

    public required TargetSelector Targets { get; init; }

    /// <summary>1 to 8 schedules.</summary>
    public required ImmutableArray<Schedule> Schedules { get; init; }

    public HookSet Hooks { get; init; } = HookSet.None;

    /// <summary>Tags added to every snapshot; values may contain $(instance-id), $(volume-id), $(policy), $(schedule), $(timestamp).</summary>
    public ImmutableSortedDictionary<string, string> Tags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>Copy the source volume's tags (except aws: and lifecycle: ones) onto its snapshots.</summary>
    public bool CopyVolumeTags { get; init; }

    public SafetyRules Safety { get; init; } = SafetyRules.Default;

    /// <summary>
    /// Snapshots an Amazon DLM policy made that this policy takes over (its <c>adopt:</c> field); null: none. See
    /// <see cref="DlmAdoption"/>.
    /// </summary>
    public DlmAdoption? Adopt { get; init; }

    public SourceLocation Source { get; init; } = SourceLocation.None;
}

/// <summary>
/// Adoption of the snapshots an Amazon DLM policy made: the snapshots of this policy's targets (in its regions) tagged
/// <c>aws:dlm:lifecycle-policy-id</c> = <see cref="DlmPolicyId"/> (and no <c>lifecycle:policy</c>) are retained as
/// this policy's own. They are matched to a schedule by DLM's <c>aws:dlm:lifecycle-schedule-name</c> tag when it names
/// one of the policy's schedules, else to the first schedule.
/// </summary>
public sealed record DlmAdoption(string DlmPolicyId);

/// <summary>Volume or instance (all its volumes as one crash-consistent set).</summary>
public enum ResourceKind
{
    Volume,
    Instance,
}

/// <summary>
/// Target matching: every key in <see cref="Tags"/> must be present, and its value must match one of the listed
/// patterns (a pattern may use * wildcards). Exclusions win over matches.
/// </summary>
public sealed record TargetSelector
{
    public ResourceKind Resource { get; init; } = ResourceKind.Volume;

    public required ImmutableSortedDictionary<string, ImmutableArray<string>> Tags { get; init; }

    /// <summary>A volume carrying any of these key/value patterns is excluded.</summary>
    public ImmutableSortedDictionary<string, ImmutableArray<string>> ExcludeTags { get; init; } =
        ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty;

    public ImmutableArray<string> ExcludeVolumeIds { get; init; } = [];

    /// <summary>For instance targets: leave the boot (root) volume out of the set.</summary>
    public bool ExcludeBootVolume { get; init; }
}

/// <summary>When a schedule fires.</summary>
public abstract record ScheduleTrigger;

/// <summary>
/// Every N hours (1, 2, 3, 4, 6, 8, 12) or N days/weeks, aligned to <see cref="StartAt"/> (UTC time of day).
/// Fire times are StartAt + k*Every on the UTC calendar.
/// </summary>
public sealed record IntervalTrigger(PolicyDuration Every, TimeOnly StartAt) : ScheduleTrigger;

/// <summary>A 5-field cron expression evaluated in an IANA time zone; nonexistent local times are skipped, repeated ones fire once.</summary>
public sealed record CronTrigger(string Expression, string TimeZone) : ScheduleTrigger;

/// <summary>One schedule of a policy: when to create, how long to keep, and what to do with its snapshots.</summary>
public sealed record Schedule
{
    public required string Name { get; init; }

    public required ScheduleTrigger Trigger { get; init; }

    public required RetentionRule Retain { get; init; }

    /// <summary>Up to 5 cross-region copy targets.</summary>
    public ImmutableArray<CopyRule> Copies { get; init; } = [];

    public ArchiveRule? Archive { get; init; }

    public FastRestoreRule? FastRestore { get; init; }

    /// <summary>Extra tags for this schedule's snapshots (merged over the policy's tags).</summary>
    public ImmutableSortedDictionary<string, string> Tags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;
}

/// <summary>
/// Retention: kept = union of what each present rule keeps. At least one of count, age or buckets is set.
/// <see cref="Minimum"/> is a floor: never fewer than N completed snapshots of the schedule.
/// </summary>
public sealed record RetentionRule
{
    public int? Count { get; init; }

    public PolicyDuration? Age { get; init; }

    public RetentionBuckets? Buckets { get; init; }

    public int? Minimum { get; init; }

    public bool IsEmpty => Count is null && Age is null && (Buckets is null || Buckets.IsEmpty);
}

/// <summary>Calendar buckets: keep the newest snapshot in each of the last N hours/days/ISO weeks/months/years.</summary>
public sealed record RetentionBuckets
{
    public int Hourly { get; init; }

    public int Daily { get; init; }

    public int Weekly { get; init; }

    public int Monthly { get; init; }

    public int Yearly { get; init; }

    /// <summary>Time zone the calendar periods are counted in (IANA id); UTC by default.</summary>
    public string TimeZone { get; init; } = "UTC";

    public bool IsEmpty => Hourly == 0 && Daily == 0 && Weekly == 0 && Monthly == 0 && Yearly == 0;
}

/// <summary>Copy each snapshot of the schedule to another region, with its own retention there.</summary>
public sealed record CopyRule
{
    public required string Region { get; init; }

    public bool Encrypted { get; init; }

    /// <summary>Key id or alias in the target region; null uses the region's default key when encrypting.</summary>
    public string? Key { get; init; }

    /// <summary>Copy the source snapshot's user tags to the copy.</summary>
    public bool CopyTags { get; init; } = true;

    public required RetentionRule Retain { get; init; }
}

/// <summary>
/// Move snapshots to the archive tier: when they leave standard retention (<see cref="After"/> null), or after the
/// newest N / after an age. <see cref="Retain"/> applies in the archive; archived snapshots are never deleted
/// before 90 days in the archive.
/// </summary>
public sealed record ArchiveRule
{
    public ArchiveAfter? After { get; init; }

    public required RetentionRule Retain { get; init; }
}

/// <summary>Archive once a snapshot is older than the newest <see cref="Count"/> of its schedule, or older than <see cref="Age"/>.</summary>
public sealed record ArchiveAfter(int? Count, PolicyDuration? Age);

/// <summary>Fast snapshot restore in the listed zones for the newest <see cref="Count"/> snapshots, or those younger than <see cref="Age"/>.</summary>
public sealed record FastRestoreRule
{
    public required ImmutableArray<string> Zones { get; init; }

    public int? Count { get; init; }

    public PolicyDuration? Age { get; init; }
}

/// <summary>What to do when a pre hook fails.</summary>
public enum HookFailureMode
{
    /// <summary>Take no snapshot this time.</summary>
    Skip,

    /// <summary>Take it anyway and tag it lifecycle:consistency=crash.</summary>
    CrashConsistent,

    /// <summary>Take no snapshot and mark the run failed.</summary>
    Fail,
}

public sealed record HookSet
{
    public static HookSet None { get; } = new();

    public ImmutableArray<HookSpec> Pre { get; init; } = [];

    public ImmutableArray<HookSpec> Post { get; init; } = [];

    public HookFailureMode OnFailure { get; init; } = HookFailureMode.Fail;

    public bool IsEmpty => Pre.IsEmpty && Post.IsEmpty;
}

/// <summary>An application-consistency hook: an argv to exec (never a shell string) or an HTTP URL to POST to.</summary>
public abstract record HookSpec
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public int Retries { get; init; }
}

public sealed record ExecHook(ImmutableArray<string> Argv) : HookSpec
{
    /// <summary>
    /// Variables the policy gives the program (its <c>env:</c> map). The program sees only these, PATH, LANG, HOME, TZ
    /// and the LIFECYCLE_* variables, never the server's own environment; a key starting with LIFECYCLE_ is refused.
    /// </summary>
    public ImmutableSortedDictionary<string, string> Environment { get; init; } = ImmutableSortedDictionary<string, string>.Empty;
}

public sealed record HttpHook(Uri Url) : HookSpec
{
    /// <summary>Follow 3xx responses (at most a few hops, never from https to http); off by default.</summary>
    public bool FollowRedirects { get; init; }

    /// <summary>
    /// A file holding the shared secret that signs each request (HMAC-SHA256 over timestamp and body); null: unsigned.
    /// Read at every request, so a rotated secret applies at once.
    /// </summary>
    public string? SecretFile { get; init; }
}

/// <summary>Safety rails applied to every deletion decision of a policy.</summary>
public sealed record SafetyRules
{
    public static SafetyRules Default { get; } = new();

    /// <summary>The newest N completed snapshots of each volume (per schedule and region) are never deleted. Default 1, as DLM.</summary>
    public int KeepLatest { get; init; } = 1;

    /// <summary>Cap on deletions in one run; null means no cap.</summary>
    public DeleteLimit? MaxDeletesPerRun { get; init; }
}

/// <summary>A cap on deletions: an absolute count, or a percentage of the policy's owned snapshots.</summary>
public sealed record DeleteLimit(int Value, bool IsPercent)
{
    public int Resolve(int ownedSnapshots) =>
        IsPercent ? (int)Math.Floor(ownedSnapshots * (Value / 100.0)) : Value;

    public override string ToString() => IsPercent ? $"{Value}%" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A set of policies as loaded from one directory (or one API call). Names are unique.</summary>
public sealed record PolicySet(ImmutableArray<SnapshotPolicy> Policies)
{
    public static PolicySet Empty { get; } = new(ImmutableArray<SnapshotPolicy>.Empty);

    public SnapshotPolicy? Find(string name) => Policies.FirstOrDefault(p => p.Name == name);
}
