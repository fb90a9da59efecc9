using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;
using Lifecycle.Policies.Language;
using Lifecycle.Policies.Yaml;

namespace Lifecycle.Policies.Compilation;

/// <summary>
/// Compiles a decoded policy document (a node tree already checked against <see cref="PolicyLanguage"/>) into
/// Core's <see cref="SnapshotPolicy"/>: applies defaults and checks what spans several fields (unique schedule
/// names, copy regions, the archive's 90-day floor, reserved tags, tag variables, hook limits). Nodes the shape
/// check rejected are skipped, so nothing is reported twice. The result is only used when the document has no error.
/// </summary>
internal sealed class PolicyCompiler(ShapeValidator shapes, DiagnosticBag diagnostics)
{
    private static readonly ImmutableSortedDictionary<string, string> NoTags = ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>The compiled policy and where its name is written (for duplicate-name errors).</summary>
    public (SnapshotPolicy Policy, YamlNode? NameNode) Compile(YamlMapping root)
    {
        var metadata = Map(root, "metadata");
        var spec = Map(root, "spec");
        var nameNode = Get(metadata, "name");
        var regions = Strings(spec, "regions");
        var policy = new SnapshotPolicy
        {
            Name = (nameNode as YamlScalar)?.Value ?? "",
            Description = Str(metadata, "description"),
            Enabled = Bool(spec, "enabled") ?? true,
            Engine = Str(spec, "engine") == "local" ? EngineKind.Local : EngineKind.Aws,
            Regions = regions,
            Targets = CompileTargets(Map(spec, "targets"), "spec.targets"),
            Schedules = CompileSchedules(spec, regions),
            Hooks = CompileHooks(Map(spec, "hooks"), "spec.hooks"),
            Tags = CompileTags(Map(spec, "tags"), "spec.tags"),
            CopyVolumeTags = Bool(spec, "copyVolumeTags") ?? false,
            Safety = CompileSafety(Map(spec, "safety"), "spec.safety"),
            Adopt = Str(Map(spec, "adopt"), "dlmPolicyId") is { } dlmPolicyId ? new DlmAdoption(dlmPolicyId) : null,
            Source = root.Location,
        };
        if (spec is not null)
        {
            CheckFastRestoreZones(policy, spec);
        }

        return (policy, nameNode);
    }

    // ---- accessors: a missing or rejected node reads as absent ------------------------------------------------

    private YamlNode? Get(YamlMapping? mapping, string key) =>
        mapping?.Find(key) is { } entry && !shapes.IsRejected(entry.Value) ? entry.Value : null;

    private YamlMapping? Map(YamlMapping? mapping, string key) => Get(mapping, key) as YamlMapping;

    private string? Str(YamlMapping? mapping, string key) => (Get(mapping, key) as YamlScalar)?.Value;

    private int? Int(YamlMapping? mapping, string key) =>
        Get(mapping, key) is { } node && ShapeValidator.TryReadInteger(node, out var value) ? (int)value : null;

    private bool? Bool(YamlMapping? mapping, string key) =>
        Get(mapping, key) is { } node && ShapeValidator.TryReadBoolean(node, out var value) ? value : null;

    private PolicyDuration? Duration(YamlMapping? mapping, string key) =>
        Str(mapping, key) is { } text && PolicyDuration.TryParse(text, out var duration, out _) ? duration : null;

    private ImmutableArray<string> Strings(YamlMapping? mapping, string key) =>
        Get(mapping, key) is YamlSequence sequence
            ? [.. sequence.Items.Where(i => !shapes.IsRejected(i)).OfType<YamlScalar>().Select(s => s.Value)]
            : [];

    private IEnumerable<(YamlEntry Entry, string Path)> Entries(YamlMapping? mapping, string path) =>
        mapping is null
            ? []
            : mapping.Entries.Where(e => !shapes.IsRejected(e.Value)).Select(e => (e, FieldPath.Child(path, e.Key.Value)));

    // ---- targets ---------------------------------------------------------------------------------------------

    private TargetSelector CompileTargets(YamlMapping? targets, string path)
    {
        var resource = Str(targets, "resource") == "instance" ? ResourceKind.Instance : ResourceKind.Volume;
        var exclude = Map(targets, "exclude");
        var bootVolume = Bool(exclude, "bootVolume") ?? false;
        if (bootVolume && resource == ResourceKind.Volume && Get(exclude, "bootVolume") is { } bootNode)
        {
            diagnostics.Warning(bootNode.Location, path + ".exclude.bootVolume",
                "bootVolume applies to instance targets only; with resource: volume it has no effect");
        }

        return new TargetSelector
        {
            Resource = resource,
            Tags = CompileTagMatch(Map(targets, "tags"), path + ".tags"),
            ExcludeTags = CompileTagMatch(Map(exclude, "tags"), path + ".exclude.tags"),
            ExcludeVolumeIds = Strings(exclude, "volumeIds"),
            ExcludeBootVolume = bootVolume,
        };
    }

    private ImmutableSortedDictionary<string, ImmutableArray<string>> CompileTagMatch(YamlMapping? tags, string path)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, ImmutableArray<string>>(StringComparer.Ordinal);
        foreach (var (entry, _) in Entries(tags, path))
        {
            builder[entry.Key.Value] = entry.Value switch
            {
                YamlSequence sequence => [.. sequence.Items.OfType<YamlScalar>().Select(s => s.Value)],
                YamlScalar scalar => [scalar.Value],
                _ => [],
            };
        }

        return builder.ToImmutable();
    }

    // ---- schedules -------------------------------------------------------------------------------------------

    private ImmutableArray<Schedule> CompileSchedules(YamlMapping? spec, ImmutableArray<string> regions)
    {
        if (Get(spec, "schedules") is not YamlSequence sequence)
        {
            return [];
        }

        var schedules = ImmutableArray.CreateBuilder<Schedule>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var path = FieldPath.Index("spec.schedules", i);
            if (sequence.Items[i] is not YamlMapping mapping || shapes.IsRejected(mapping) && mapping.Find("name") is null)
            {
                continue;
            }

            var schedule = CompileSchedule(mapping, path, regions);
            if (Get(mapping, "name") is YamlScalar nameNode)
            {
                if (names.TryGetValue(nameNode.Value, out var first))
                {
                    diagnostics.Error(nameNode.Location, path + ".name",
                        $"schedule name '{nameNode.Value}' is already used by spec.schedules[{first}]; schedule names must be unique");
                }
                else
                {
                    names.Add(nameNode.Value, i);
                }
            }

            schedules.Add(schedule);
        }

        return schedules.ToImmutable();
    }

    private Schedule CompileSchedule(YamlMapping mapping, string path, ImmutableArray<string> regions)
    {
        ScheduleTrigger trigger;
        if (Duration(mapping, "every") is { } every)
        {
            var startAt = Str(mapping, "startAt") is { } start
                ? TimeOnly.ParseExact(start, "HH:mm", CultureInfo.InvariantCulture)
                : TimeOnly.MinValue;
            trigger = new IntervalTrigger(every, startAt);
        }
        else
        {
            trigger = new CronTrigger(Str(mapping, "cron") ?? "", Str(mapping, "timezone") ?? "UTC");
            if (Get(mapping, "cron") is YamlScalar cron && Str(mapping, "timezone") is { } zone
                && CronCheck.Validate(cron.Value, zone) is { } problem)
            {
                diagnostics.Error(cron.Location, path + ".cron", problem);
            }
        }

        return new Schedule
        {
            Name = Str(mapping, "name") ?? "",
            Trigger = trigger,
            Retain = CompileRetention(Map(mapping, "retain"), path + ".retain"),
            Copies = CompileCopies(mapping, path + ".copies", regions),
            Archive = CompileArchive(Map(mapping, "archive"), path + ".archive", trigger),
            FastRestore = CompileFastRestore(Map(mapping, "fastRestore")),
            Tags = CompileTags(Map(mapping, "tags"), path + ".tags"),
        };
    }

    private RetentionRule CompileRetention(YamlMapping? retain, string path)
    {
        var buckets = Map(retain, "buckets") is { } bucketsNode
            ? new RetentionBuckets
            {
                Hourly = Int(bucketsNode, "hourly") ?? 0,
                Daily = Int(bucketsNode, "daily") ?? 0,
                Weekly = Int(bucketsNode, "weekly") ?? 0,
                Monthly = Int(bucketsNode, "monthly") ?? 0,
                Yearly = Int(bucketsNode, "yearly") ?? 0,
                TimeZone = Str(bucketsNode, "timezone") ?? "UTC",
            }
            : null;
        var rule = new RetentionRule
        {
            Count = Int(retain, "count"),
            Age = Duration(retain, "age"),
            Buckets = buckets,
            Minimum = Int(retain, "minimum"),
        };
        if (retain is null)
        {
            return rule;
        }

        if (buckets is { IsEmpty: true } && Get(retain, "buckets") is { } emptyBuckets)
        {
            if (rule.IsEmpty)
            {
                diagnostics.Error(emptyBuckets.Location, path + ".buckets",
                    "every bucket count is 0, so this retention keeps nothing; set hourly, daily, weekly, monthly or yearly");
            }
            else
            {
                diagnostics.Warning(emptyBuckets.Location, path + ".buckets", "every bucket count is 0, so buckets keep nothing");
            }
        }

        if (rule is { Minimum: { } minimum, Count: { } count, Age: null, Buckets: null } && minimum >= count && Get(retain, "minimum") is { } minimumNode)
        {
            diagnostics.Warning(minimumNode.Location, path + ".minimum",
                $"minimum ({minimum}) is not below count ({count}), so count never releases a snapshot the floor would not keep anyway");
        }

        return rule;
    }

    private ImmutableArray<CopyRule> CompileCopies(YamlMapping schedule, string path, ImmutableArray<string> sourceRegions)
    {
        if (Get(schedule, "copies") is not YamlSequence sequence)
        {
            return [];
        }

        var copies = ImmutableArray.CreateBuilder<CopyRule>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var itemPath = FieldPath.Index(path, i);
            if (sequence.Items[i] is not YamlMapping copy)
            {
                continue;
            }

            var encrypted = Bool(copy, "encrypted") ?? false;
            if (Get(copy, "region") is YamlScalar region)
            {
                if (sourceRegions.Contains(region.Value, StringComparer.Ordinal))
                {
                    diagnostics.Error(region.Location, itemPath + ".region",
                        $"'{region.Value}' is a source region of this policy; a copy must go to another region");
                }
                else if (!seen.TryAdd(region.Value, i))
                {
                    diagnostics.Error(region.Location, itemPath + ".region",
                        $"'{region.Value}' is already a copy target at {FieldPath.Index(path, seen[region.Value])}; each region gets one copy");
                }
            }

            if (Get(copy, "key") is { } key && !encrypted)
            {
                diagnostics.Error(key.Location, itemPath + ".key", "a key is used only for encryption; set encrypted: true or remove key");
            }

            copies.Add(new CopyRule
            {
                Region = Str(copy, "region") ?? "",
                Encrypted = encrypted,
                Key = Str(copy, "key"),
                CopyTags = Bool(copy, "copyTags") ?? true,
                Retain = CompileRetention(Map(copy, "retain"), itemPath + ".retain"),
            });
        }

        return copies.ToImmutable();
    }

    private ArchiveRule? CompileArchive(YamlMapping? archive, string path, ScheduleTrigger trigger)
    {
        if (archive is null)
        {
            return null;
        }

        if (trigger is IntervalTrigger { Every: var every } && every.Approximate < TimeSpan.FromDays(PolicyLanguage.MinArchiveIntervalDays))
        {
            diagnostics.Warning(archive.Location, path,
                $"archiving a schedule that runs every {every} fills the archive tier with snapshots billed {PolicyLanguage.ArchiveMinimumDays} days each; archive a monthly schedule instead (Amazon DLM requires {PolicyLanguage.MinArchiveIntervalDays} days or more)");
        }

        var retainNode = Map(archive, "retain");
        var retain = CompileRetention(retainNode, path + ".retain");
        var floor = PolicyDuration.Days(PolicyLanguage.ArchiveMinimumDays);
        if (retain.Age is { } age && age.Approximate < floor.Approximate && Get(retainNode, "age") is { } ageNode)
        {
            diagnostics.Error(ageNode.Location, path + ".retain.age",
                $"{age} would delete archived snapshots before {PolicyLanguage.ArchiveMinimumDays} days in the archive tier, its minimum; use at least {PolicyLanguage.ArchiveMinimumDays}d");
        }
        else if (retain.Age is null && retainNode is not null && !retain.IsEmpty)
        {
            diagnostics.Warning(retainNode.Location, path + ".retain",
                $"without an age, count and buckets may release an archived snapshot early; it is kept at least {PolicyLanguage.ArchiveMinimumDays} days in the archive regardless (the tier's minimum)");
        }

        var after = Map(archive, "after");
        return new ArchiveRule
        {
            After = after is null ? null : new ArchiveAfter(Int(after, "count"), Duration(after, "age")),
            Retain = retain,
        };
    }

    private FastRestoreRule? CompileFastRestore(YamlMapping? fastRestore) =>
        fastRestore is null
            ? null
            : new FastRestoreRule
            {
                Zones = Strings(fastRestore, "zones"),
                Count = Int(fastRestore, "count"),
                Age = Duration(fastRestore, "age"),
            };

    private void CheckFastRestoreZones(SnapshotPolicy policy, YamlMapping spec)
    {
        if (policy.Engine != EngineKind.Aws || Get(spec, "schedules") is not YamlSequence schedules)
        {
            return;
        }

        for (var i = 0; i < schedules.Items.Count; i++)
        {
            if (schedules.Items[i] is not YamlMapping schedule || Get(Map(schedule, "fastRestore"), "zones") is not YamlSequence zones)
            {
                continue;
            }

            for (var z = 0; z < zones.Items.Count; z++)
            {
                if (zones.Items[z] is YamlScalar zone && !shapes.IsRejected(zone)
                    && !policy.Regions.Any(r => zone.Value.StartsWith(r, StringComparison.Ordinal)))
                {
                    diagnostics.Warning(zone.Location, $"spec.schedules[{i}].fastRestore.zones[{z}]",
                        $"zone '{zone.Value}' is not in any of the policy's regions ({string.Join(", ", policy.Regions)})");
                }
            }
        }
    }

    // ---- tags ------------------------------------------------------------------------------------------------

    private ImmutableSortedDictionary<string, string> CompileTags(YamlMapping? tags, string path)
    {
        var builder = NoTags.ToBuilder();
        foreach (var (entry, entryPath) in Entries(tags, path))
        {
            var key = entry.Key.Value;
            var reserved = PolicyLanguage.ReservedTagPrefixes.FirstOrDefault(p => key.StartsWith(p, StringComparison.OrdinalIgnoreCase));
            if (reserved is not null)
            {
                diagnostics.Error(entry.Key.Location, entryPath, $"tag keys starting with '{reserved}' are reserved");
                continue;
            }

            if (entry.Value is YamlScalar value)
            {
                CheckTagVariables(value, entryPath);
                builder[key] = value.Value;
            }
        }

        return builder.ToImmutable();
    }

    private void CheckTagVariables(YamlScalar value, string path)
    {
        var text = value.Value;
        var start = text.IndexOf("$(", StringComparison.Ordinal);
        while (start >= 0)
        {
            var end = text.IndexOf(')', start + 2);
            if (end < 0)
            {
                diagnostics.Error(value.Location, path, $"'$(' at character {start + 1} is not closed; variables are written $(name)");
                return;
            }

            var name = text[(start + 2)..end];
            if (!PolicyLanguage.TagVariables.Contains(name, StringComparer.Ordinal))
            {
                diagnostics.Error(value.Location, path,
                    $"unknown variable $({YamlScalar.Shorten(name)}); available: {string.Join(", ", PolicyLanguage.TagVariables.Select(v => $"$({v})"))}");
            }

            start = text.IndexOf("$(", end + 1, StringComparison.Ordinal);
        }
    }

    // ---- hooks and safety ------------------------------------------------------------------------------------

    private HookSet CompileHooks(YamlMapping? hooks, string path)
    {
        if (hooks is null)
        {
            return HookSet.None;
        }

        return new HookSet
        {
            Pre = CompileHookList(hooks, "pre", path),
            Post = CompileHookList(hooks, "post", path),
            OnFailure = Str(hooks, "onFailure") switch
            {
                "skip" => HookFailureMode.Skip,
                "crash-consistent" => HookFailureMode.CrashConsistent,
                _ => HookFailureMode.Fail,
            },
        };
    }

    private ImmutableArray<HookSpec> CompileHookList(YamlMapping hooks, string stage, string path)
    {
        if (Get(hooks, stage) is not YamlSequence sequence)
        {
            return [];
        }

        var list = ImmutableArray.CreateBuilder<HookSpec>();
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var hookPath = FieldPath.Index(path + "." + stage, i);
            if (sequence.Items[i] is not YamlMapping hook || shapes.IsRejected(hook))
            {
                continue;
            }

            var timeout = TimeSpan.FromSeconds(30);
            if (Duration(hook, "timeout") is { } duration && Get(hook, "timeout") is { } timeoutNode)
            {
                timeout = duration.Approximate;
                if (duration.Unit is DurationUnit.Months or DurationUnit.Years || timeout > PolicyLanguage.MaxHookTimeout)
                {
                    diagnostics.Error(timeoutNode.Location, hookPath + ".timeout", $"{duration} is longer than the longest hook timeout, 1h");
                }
            }

            HookSpec? spec = null;
            if (Get(hook, "exec") is YamlSequence argv)
            {
                if (argv.Items.FirstOrDefault() is YamlScalar program && string.IsNullOrWhiteSpace(program.Value))
                {
                    diagnostics.Error(program.Location, hookPath + ".exec[0]", "the program to run must not be empty");
                }

                spec = new ExecHook([.. argv.Items.OfType<YamlScalar>().Select(s => s.Value)]) { Environment = CompileHookEnvironment(Map(hook, "env")) };
            }
            else if (Get(hook, "http") is YamlScalar url)
            {
                if (!Uri.TryCreate(url.Value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
                {
                    diagnostics.Error(url.Location, hookPath + ".http", $"{url.Describe()} is not an absolute http:// or https:// URL");
                }
                else
                {
                    if (uri.Scheme == "http" && !uri.IsLoopback)
                    {
                        diagnostics.Warning(url.Location, hookPath + ".http", "the hook is sent over plain http to another machine; use https");
                    }

                    spec = new HttpHook(uri) { FollowRedirects = Bool(hook, "followRedirects") ?? false, SecretFile = Str(hook, "secretFile") };
                }
            }

            if (spec is not null)
            {
                list.Add(spec with { Timeout = timeout, Retries = Int(hook, "retries") ?? 0 });
            }
        }

        return list.ToImmutable();
    }

    private ImmutableSortedDictionary<string, string> CompileHookEnvironment(YamlMapping? env)
    {
        if (env is null || shapes.IsRejected(env))
        {
            return ImmutableSortedDictionary<string, string>.Empty;
        }

        // Entries the shape check rejected (bad names, LIFECYCLE_*) were reported there; keep the rest.
        return env.Entries
            .Where(e => e.Value is YamlScalar && !shapes.IsRejected(e.Value))
            .ToImmutableSortedDictionary(e => e.Key.Value, e => ((YamlScalar)e.Value).Value, StringComparer.Ordinal);
    }

    private SafetyRules CompileSafety(YamlMapping? safety, string path)
    {
        if (safety is null)
        {
            return SafetyRules.Default;
        }

        var keepLatest = Int(safety, "keepLatest") ?? 1;
        if (keepLatest == 0 && Get(safety, "keepLatest") is { } keepLatestNode)
        {
            diagnostics.Warning(keepLatestNode.Location, path + ".keepLatest",
                "keepLatest: 0 lets age and bucket rules delete the newest snapshot of a volume, even when no newer one was taken");
        }

        DeleteLimit? limit = null;
        if (Get(safety, "maxDeletesPerRun") is YamlScalar maxDeletes)
        {
            limit = maxDeletes.Value.EndsWith('%')
                ? new DeleteLimit(int.Parse(maxDeletes.Value[..^1], CultureInfo.InvariantCulture), IsPercent: true)
                : new DeleteLimit(int.Parse(maxDeletes.Value, CultureInfo.InvariantCulture), IsPercent: false);
        }

        return new SafetyRules { KeepLatest = keepLatest, MaxDeletesPerRun = limit };
    }
}
