namespace Lifecycle.Policies.Language;

/// <summary>
/// Policy language v1 (apiVersion lifecycle/v1, kind SnapshotPolicy), described once. Decoding, validation of the
/// structure and the published JSON Schema all come from this description; policies/README.md explains it.
/// </summary>
internal static class PolicyLanguage
{
    public const string ApiVersion = "lifecycle/v1";
    public const string Kind = "SnapshotPolicy";

    public const string NamePattern = "^[a-z][a-z0-9-]{0,62}$";
    public const string NameHint = "1 to 63 lowercase letters, digits and hyphens, starting with a letter";
    public const string DurationPattern = "^[1-9][0-9]{0,5}(s|m|h|d|w|mo|y)$";
    public const string EveryPattern = "^((1|2|3|4|6|8|12)h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d|([1-9]|[1-4][0-9]|5[0-2])w)$";
    public const string TimeOfDayPattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$";
    public const string PercentPattern = "^([1-9][0-9]?|100)%$";

    /// <summary>A POSIX-portable environment variable name; LIFECYCLE_* belongs to Lifecycle.</summary>
    public const string EnvironmentNamePattern = "^(?!LIFECYCLE_)[A-Za-z_][A-Za-z0-9_]*$";

    public const int MaxSchedules = 8;
    public const int MaxCopies = 5;
    public const int MaxRetainCount = 1000;
    public const int MaxBucketCount = 10_000;
    public const int MaxHookRetries = 5;

    /// <summary>Archived snapshots are billed (and kept by the engines) for at least this long.</summary>
    public const int ArchiveMinimumDays = 90;

    /// <summary>Schedules archived should run at most this often (DLM's rule); more often is a warning.</summary>
    public const int MinArchiveIntervalDays = 28;

    /// <summary>Longest hook timeout.</summary>
    public static readonly TimeSpan MaxHookTimeout = TimeSpan.FromHours(1);

    public static readonly IReadOnlyList<string> TagVariables = ["instance-id", "volume-id", "policy", "schedule", "timestamp"];

    public static readonly IReadOnlyList<string> ReservedTagPrefixes = ["lifecycle:", "aws:"];

    private static readonly StringShape ResourceName = new()
    {
        Name = "name",
        Pattern = NamePattern,
        PatternHint = NameHint,
        MaxLength = 63,
        Description = "A lowercase name: 1 to 63 letters, digits and hyphens, starting with a letter.",
    };

    private static readonly StringShape Region = new()
    {
        Name = "region",
        Pattern = NamePattern,
        PatternHint = "a region name such as eu-west-1 (lowercase letters, digits and hyphens)",
        MaxLength = 63,
        Description = "A region (eu-west-1). The local engine uses it as the name of the region's store directory.",
    };

    private static readonly StringShape Zone = new()
    {
        Name = "zone",
        Pattern = NamePattern,
        PatternHint = "an availability zone such as eu-west-1a",
        MaxLength = 63,
        Description = "An availability zone (eu-west-1a).",
    };

    private static readonly StringShape Duration = new()
    {
        Name = "duration",
        Pattern = DurationPattern,
        PatternHint = "a duration such as 30s, 30m, 4h, 7d, 2w, 6mo or 3y",
        MaxLength = 10,
        Check = ValueChecks.Duration,
        Description = "A whole number and a unit: s (seconds), m (minutes), h (hours), d (days), w (weeks), mo (calendar months), y (calendar years).",
        Examples = ["30m", "4h", "7d", "2w", "6mo", "3y"],
    };

    private static readonly StringShape TimeZone = new()
    {
        Name = "timeZone",
        MaxLength = 64,
        Check = ValueChecks.TimeZone,
        Description = "An IANA time zone id: UTC, Europe/Berlin, America/New_York.",
        Examples = ["UTC", "Europe/Berlin"],
    };

    private static readonly StringShape TagValue = new()
    {
        MaxLength = 256,
        Description = "A tag value (up to 256 characters).",
    };

    private static readonly StringShape TagPattern = new()
    {
        MaxLength = 256,
        Description = "A tag value to match; * matches any run of characters.",
    };

    private static readonly MapShape TagMatch = new()
    {
        Name = "tagMatch",
        Values = new StringOrListShape { Item = TagPattern },
        Description = "Tag key → a value pattern or a list of value patterns (any of them matches). Every key must match.",
    };

    private static IntegerShape Count(string description, long minimum = 1, long maximum = MaxRetainCount) =>
        new() { Minimum = minimum, Maximum = maximum, Description = description };

    private static readonly ObjectShape Buckets = new()
    {
        Name = "buckets",
        Description = "Calendar buckets: keep the newest snapshot in each of the last N periods. Weeks are ISO weeks (Monday first).",
        Properties =
        [
            new("hourly", Count("Keep the newest snapshot of each of the last N hours.", 0, MaxBucketCount), "Hours to keep one snapshot for.", Default: 0),
            new("daily", Count("Keep the newest snapshot of each of the last N days.", 0, MaxBucketCount), "Days to keep one snapshot for.", Default: 0),
            new("weekly", Count("Keep the newest snapshot of each of the last N ISO weeks.", 0, MaxBucketCount), "Weeks to keep one snapshot for.", Default: 0),
            new("monthly", Count("Keep the newest snapshot of each of the last N calendar months.", 0, MaxBucketCount), "Months to keep one snapshot for.", Default: 0),
            new("yearly", Count("Keep the newest snapshot of each of the last N calendar years.", 0, MaxBucketCount), "Years to keep one snapshot for.", Default: 0),
            new("timezone", TimeZone, "Time zone the periods are counted in.", Default: "UTC"),
        ],
    };

    private static readonly ObjectShape Retention = new()
    {
        Name = "retention",
        Description = "How long snapshots are kept: a snapshot is kept while any rule keeps it (count, age, buckets), and never fewer than minimum remain.",
        Properties =
        [
            new("count", Count("Keep the newest N snapshots."), "Keep the newest N snapshots (1 to 1000)."),
            new("age", Duration, "Keep snapshots younger than this."),
            new("buckets", Buckets, "Keep the newest snapshot in each calendar period."),
            new("minimum", Count("Never keep fewer than N snapshots."), "A floor: never fewer than N completed snapshots remain."),
        ],
        AnyOf = ["count", "age", "buckets"],
        AnyOfHint = " (minimum alone keeps nothing: it is only a floor under the other rules)",
    };

    private static readonly ObjectShape Copy = new()
    {
        Name = "copy",
        Description = "A cross-region copy of every snapshot of the schedule, with its own retention in the target region.",
        Properties =
        [
            new("region", Region, "Target region; not one of the policy's source regions.", Required: true),
            new("encrypted", new BooleanShape(), "Encrypt the copy.", Default: false),
            new("key", new StringShape { MinLength = 1, MaxLength = 256 }, "Key id or alias in the target region (needs encrypted: true); the region's default key when omitted."),
            new("copyTags", new BooleanShape(), "Copy the source snapshot's tags to the copy.", Default: true),
            new("retain", Retention, "Retention of the copies in the target region.", Required: true),
        ],
    };

    private static readonly ObjectShape ArchiveAfter = new()
    {
        Description = "When to archive: after the newest N snapshots, or after an age.",
        Properties =
        [
            new("count", Count("Archive snapshots older than the newest N."), "Archive snapshots older than the newest N."),
            new("age", Duration, "Archive snapshots older than this."),
        ],
        ExactlyOneOf = [["count", "age"]],
    };

    private static readonly ObjectShape Archive = new()
    {
        Name = "archive",
        Description = "Move snapshots to the archive tier, then keep them by the archive retention (at least 90 days in the archive).",
        Properties =
        [
            new("after", ArchiveAfter, "When to archive; omitted: when a snapshot leaves the standard retention."),
            new("retain", Retention, "Retention in the archive tier; an age counts from when the snapshot entered the archive (as in Amazon DLM) and must be at least 90d.", Required: true),
        ],
    };

    private static readonly ObjectShape FastRestore = new()
    {
        Name = "fastRestore",
        Description = "Fast snapshot restore in the listed zones for the newest N snapshots or those younger than an age.",
        Properties =
        [
            new("zones", new ArrayShape { Items = Zone, MinItems = 1, MaxItems = 10, UniqueItems = true }, "Availability zones.", Required: true),
            new("count", Count("Enable it on the newest N snapshots."), "Enable it on the newest N snapshots."),
            new("age", Duration, "Enable it on snapshots younger than this."),
        ],
        ExactlyOneOf = [["count", "age"]],
    };

    private static readonly MapShape SnapshotTags = new()
    {
        Name = "snapshotTags",
        Values = TagValue,
        Description = "Tags added to snapshots. Values may use $(instance-id), $(volume-id), $(policy), $(schedule), $(timestamp). Keys starting with lifecycle: or aws: are reserved.",
    };

    private static readonly ObjectShape Schedule = new()
    {
        Name = "schedule",
        Description = "When to create snapshots (every or cron) and how long to keep them.",
        Properties =
        [
            new("name", ResourceName, "Schedule name, unique in the policy.", Required: true),
            new("every", new StringShape
            {
                Pattern = EveryPattern,
                PatternHint = "an interval such as 4h, 1d or 1w",
                MaxLength = 6,
                Check = ValueChecks.Every,
                Description = "Interval: 1h, 2h, 3h, 4h, 6h, 8h, 12h, Nd or Nw. Fire times are startAt + k × every on the UTC calendar.",
                Examples = ["4h", "1d", "1w"],
            }, "Interval between snapshots."),
            new("startAt", new StringShape
            {
                Pattern = TimeOfDayPattern,
                PatternHint = "a UTC time of day HH:MM",
                MaxLength = 5,
                Description = "UTC time of day (HH:MM) the interval is aligned to.",
            }, "UTC time of day the interval starts at.", Default: "00:00"),
            new("cron", new StringShape
            {
                MaxLength = 200,
                Check = ValueChecks.Cron,
                Description = "Standard 5-field cron: minute hour day-of-month month day-of-week.",
                Examples = ["0 2 * * *", "0 3 1 * *"],
            }, "Cron expression (5 fields)."),
            new("timezone", TimeZone, "Time zone of the cron expression.", Default: "UTC"),
            new("retain", Retention, "Retention of this schedule's snapshots.", Required: true),
            new("copies", new ArrayShape { Items = Copy, MaxItems = MaxCopies }, "Cross-region copies (up to 5)."),
            new("archive", Archive, "Archive tier rule."),
            new("fastRestore", FastRestore, "Fast snapshot restore rule."),
            new("tags", SnapshotTags, "Tags for this schedule's snapshots, merged over the policy's tags."),
        ],
        ExactlyOneOf = [["every", "cron"]],
        Requires = [("startAt", "every"), ("timezone", "cron")],
    };

    private static readonly ObjectShape Hook = new()
    {
        Name = "hook",
        Description = "A hook: an argv to execute (no shell) or an HTTP(S) URL to POST to.",
        Properties =
        [
            new("exec", new ArrayShape
            {
                Items = new StringShape { MaxLength = 4096 },
                MinItems = 1,
                MaxItems = 64,
                ScalarHint = "exec takes the program and its arguments as a list, such as [/usr/bin/freeze, --all]; no shell splits a string",
            }, "Program and arguments (argv, no shell)."),
            new("http", new StringShape { Pattern = "^https?://", PatternHint = "an http:// or https:// URL", MaxLength = 2048 }, "URL to POST a JSON body to; 2xx is success."),
            new("env", new MapShape
            {
                Name = "hookEnvironment",
                Values = new StringShape { MaxLength = 4096, Description = "The variable's value." },
                MaxProperties = 50,
                KeyPattern = EnvironmentNamePattern,
                KeyPatternHint = "an environment variable name (letters, digits and _, not starting with a digit) outside LIFECYCLE_*, which Lifecycle sets",
                Description = "Environment variables for the program. It sees only these, PATH, LANG, HOME, TZ and LIFECYCLE_*, never the server's environment.",
            }, "Extra environment variables of an exec hook (the server's own environment is never passed on)."),
            new("followRedirects", new BooleanShape(), "Follow 3xx redirects of an http hook (at most 5, never from https to http).", Default: false),
            new("secretFile", new StringShape
            {
                Pattern = "^/",
                PatternHint = "an absolute path",
                MaxLength = 4096,
                Description = "Absolute path of a file holding a shared secret; each request is signed with it (HMAC-SHA256, X-Lifecycle-Signature).",
            }, "File with the secret that signs an http hook's requests; read at every request."),
            new("timeout", Duration, "Time limit of one attempt (at most 1h).", Default: "30s"),
            new("retries", Count("Attempts after the first failure.", 0, MaxHookRetries), "Retries after a failure (0 to 5).", Default: 0),
        ],
        ExactlyOneOf = [["exec", "http"]],
        Requires = [("env", "exec"), ("followRedirects", "http"), ("secretFile", "http")],
    };

    private static readonly ObjectShape Hooks = new()
    {
        Description = "Application-consistency hooks run around each snapshot.",
        Properties =
        [
            new("pre", new ArrayShape { Items = Hook, MaxItems = 10 }, "Hooks run before the snapshot."),
            new("post", new ArrayShape { Items = Hook, MaxItems = 10 }, "Hooks run after the snapshot (always, once pre hooks ran)."),
            new("onFailure", new StringShape { Enum = ["skip", "crash-consistent", "fail"] }, "What a failed pre hook does: skip (no snapshot), crash-consistent (take it, tagged lifecycle:consistency=crash), fail.", Default: "fail"),
        ],
    };

    private static readonly ObjectShape Exclude = new()
    {
        Description = "Volumes left out even when the tags match; with resource: instance, volumes left out of a matching instance's set.",
        Properties =
        [
            new("tags", TagMatch, "A volume matching any of these key/value patterns is excluded (for instance targets: left out of the set, Amazon DLM's ExcludeDataVolumeTags)."),
            new("volumeIds", new ArrayShape { Items = new StringShape { MinLength = 1, MaxLength = 128 }, UniqueItems = true, MaxItems = 1000 }, "Volume ids to leave out."),
            new("bootVolume", new BooleanShape(), "Leave the instance's boot (root) volume out of its set (Amazon DLM's ExcludeBootVolume).", Default: false),
        ],
    };

    private static readonly ObjectShape Targets = new()
    {
        Description = "Which volumes (or instances) the policy snapshots.",
        Properties =
        [
            new("resource", new StringShape { Enum = ["volume", "instance"] }, "volume, or instance (every volume attached to a matching instance, as one crash-consistent set).", Default: "volume"),
            new("tags", new MapShape { Values = new StringOrListShape { Item = TagPattern }, MinProperties = 1, Description = TagMatch.Description }, "Tags a target must carry: every key must match (an instance matches by its own tags or those of one of its attached volumes).", Required: true),
            new("exclude", Exclude, "Exclusions."),
        ],
        ForeignKeys = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["excludeBootVolume"] = "'exclude: { bootVolume: true }' (Amazon DLM's ExcludeBootVolume)",
            ["excludeVolumes"] = "'exclude: { tags: { key: value } }' (Amazon DLM's ExcludeDataVolumeTags)",
            ["excludeDataVolumeTags"] = "'exclude: { tags: { key: value } }' (Amazon DLM's ExcludeDataVolumeTags)",
        },
    };

    private static readonly ObjectShape Safety = new()
    {
        Description = "Safety rails applied to every deletion.",
        Properties =
        [
            new("keepLatest", Count("Never delete the newest N completed snapshots of a volume.", 0), "The newest N completed snapshots of each volume are never deleted by any rule.", Default: 1),
            new("maxDeletesPerRun", new CountOrPercentShape(), "Most deletions in one run, as a count or a percentage of the policy's snapshots; the rest waits."),
        ],
    };

    private static readonly ObjectShape Adopt = new()
    {
        Description = "Take over the snapshots an Amazon DLM policy made: those of this policy's targets tagged aws:dlm:lifecycle-policy-id with the id are retained as this policy's own.",
        Properties =
        [
            new("dlmPolicyId", new StringShape
            {
                Pattern = Core.Planning.DlmTags.PolicyIdPattern,
                PatternHint = "an Amazon DLM policy id: 'policy-' and 17 lowercase hexadecimal digits, such as policy-0123456789abcdef0",
                MaxLength = 64,
                Description = "An Amazon DLM policy id (policy-0123456789abcdef0).",
            }, "The Amazon DLM policy whose snapshots this policy adopts (snapshots are matched to a schedule by DLM's schedule name, else to the first schedule).", Required: true),
        ],
    };

    private static readonly ObjectShape Spec = new()
    {
        Description = "What the policy snapshots, when, and how long it keeps them.",
        Properties =
        [
            new("enabled", new BooleanShape(), "A disabled policy creates and deletes nothing.", Default: true),
            new("engine", new StringShape { Enum = ["aws", "local"] }, "aws (EC2) or local (the bundled block engine).", Default: "aws"),
            new("regions", new ArrayShape { Items = Region, MinItems = 1, MaxItems = 32, UniqueItems = true, ScalarHint = "write a list, such as [eu-west-1]" }, "Source regions whose volumes are targeted.", Required: true),
            new("targets", Targets, "Which volumes or instances.", Required: true),
            new("schedules", new ArrayShape { Items = Schedule, MinItems = 1, MaxItems = MaxSchedules }, "1 to 8 schedules.", Required: true),
            new("hooks", Hooks, "Pre/post hooks."),
            new("tags", SnapshotTags, "Tags added to every snapshot."),
            new("copyVolumeTags", new BooleanShape(), "Copy the volume's own tags (except aws: and lifecycle: ones) to its snapshots.", Default: false),
            new("safety", Safety, "Safety rails."),
            new("adopt", Adopt, "Adopt the snapshots of an existing Amazon DLM policy."),
        ],
    };

    private static readonly ObjectShape Metadata = new()
    {
        Description = "Name and description.",
        Properties =
        [
            new("name", ResourceName, "Policy name, unique across the policy set.", Required: true),
            new("description", new StringShape { MaxLength = 500 }, "Free text (up to 500 characters)."),
        ],
    };

    /// <summary>The root of a policy document.</summary>
    public static readonly ObjectShape Document = new()
    {
        Description = "A Lifecycle snapshot policy.",
        Properties =
        [
            new("apiVersion", new StringShape { Enum = [ApiVersion] }, "Version of the policy language.", Required: true),
            new("kind", new StringShape { Enum = [Kind] }, "Kind of document.", Required: true),
            new("metadata", Metadata, "Name and description.", Required: true),
            new("spec", Spec, "The policy.", Required: true),
        ],
    };
}
