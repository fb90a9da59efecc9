using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// Amazon DLM policy JSON → a policy file. Reads what <c>aws dlm get-lifecycle-policy</c> prints
/// (<c>{"Policy": {...}}</c>), a <c>CreateLifecyclePolicy</c> request body (CloudFormation's
/// <c>AWS::DLM::LifecyclePolicy</c> Properties have the same names) or a bare <c>PolicyDetails</c> object. Every
/// concept with a counterpart is mapped; everything else is a warning naming its JSON path (the cursor reports any
/// member nobody read), never dropped silently. Invalid input is an error naming its JSON path.
/// </summary>
public static class DlmImporter
{
    /// <summary>The target tag an imported default policy gets: default policies select by absence of other policies, Lifecycle by tag.</summary>
    public const string DefaultPolicyTag = "dlm-default-policy";

    private const string DefaultRegion = "us-east-1";

    /// <summary>Imports one file; the policy is named after the file (x.json → x). Never throws for bad content.</summary>
    public static InteropImport ImportFile(string file, string? region = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        var report = new InteropReport(file);
        var name = InteropNames.ToName(Path.GetFileNameWithoutExtension(file), "imported-dlm-policy");
        var root = JsonInput.Read(file, report);
        var policy = root is null ? null : Import(root, name, region, report);
        return InteropImport.From(policy, name, report, ["Imported from an Amazon DLM policy by `lifecycle import dlm`."]);
    }

    /// <summary>Imports JSON text (tests, stdin); <paramref name="file"/> is what diagnostics print.</summary>
    public static InteropImport ImportText(string json, string file, string name, string? region = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        var report = new InteropReport(file);
        var root = JsonInput.Parse(System.Text.Encoding.UTF8.GetBytes(json), report);
        var policy = root is null ? null : Import(root, name, region, report);
        return InteropImport.From(policy, name, report, ["Imported from an Amazon DLM policy by `lifecycle import dlm`."]);
    }

    private static SnapshotPolicy? Import(JsonNode root, string name, string? region, InteropReport report)
    {
        if (root is not JsonObject rootObject)
        {
            report.Error("$", $"expected a JSON object (a DLM policy), got {JsonCursor.Describe(root)}");
            return null;
        }

        var document = new JsonCursor(rootObject, "$", report);
        var reader = new Reader(report) { Region = region };
        if (document.Has("Policy"))
        {
            // aws dlm get-lifecycle-policy
            var policy = document.Object("Policy", required: true);
            document.WarnUnread();
            if (policy is null)
            {
                return null;
            }

            policy.Ignore("PolicyId", "DateCreated", "DateModified", "StatusMessage", "ExecutionRoleArn");
            reader.RegionFromArn(policy.String("PolicyArn"));
            reader.ReadPolicyFields(policy);
            if (policy.Boolean("DefaultPolicy") == true)
            {
                reader.DefaultPolicyPath = policy.PathOf("DefaultPolicy");
            }

            var details = policy.Object("PolicyDetails", required: true);
            policy.WarnUnread();
            return details is null ? null : reader.ReadDetails(details, details, name);
        }

        if (document.Has("PolicyDetails") || document.Has("DefaultPolicy"))
        {
            // CreateLifecyclePolicy request (or CloudFormation Properties); a default policy may keep its parameters
            // in the body instead of PolicyDetails.
            document.Ignore("ExecutionRoleArn");
            reader.ReadPolicyFields(document);
            var details = document.Has("PolicyDetails") ? document.Object("PolicyDetails", required: true) : document;
            if (document.String("DefaultPolicy") is { } defaultPolicy)
            {
                reader.DefaultPolicyPath = document.PathOf("DefaultPolicy");
                reader.DefaultResourceType = (defaultPolicy, document.PathOf("DefaultPolicy"));
            }

            var policy = details is null ? null : reader.ReadDetails(details, document, name);
            document.WarnUnread();
            return policy;
        }

        if (!document.Has("Schedules") && !document.Has("PolicyType") && !document.Has("ResourceTypes") && !document.Has("ResourceType"))
        {
            report.Error("$", "not a DLM policy: expected {\"Policy\": ...} (get-lifecycle-policy), a CreateLifecyclePolicy body with PolicyDetails, or a PolicyDetails object");
            return null;
        }

        return reader.ReadDetails(document, document, name);
    }

    private sealed class Reader(InteropReport report)
    {
        private readonly HashSet<string> scheduleNames = new(StringComparer.Ordinal);
        private string? description;
        private bool enabled = true;
        private bool? copyVolumeTags;

        public string? Region { get; set; }

        public string? DefaultPolicyPath { get; set; }

        public (string Value, string Path)? DefaultResourceType { get; set; }

        public void RegionFromArn(string? arn)
        {
            // arn:aws:dlm:us-east-1:123456789012:policy/policy-0123456789abcdef0
            if (Region is null && arn?.Split(':') is { Length: >= 6 } parts && parts[3].Length > 0)
            {
                Region = parts[3];
            }
        }

        public void ReadPolicyFields(JsonCursor policy)
        {
            description = policy.String("Description");
            if (description is { Length: > 500 })
            {
                report.Warning(policy.PathOf("Description"), "longer than 500 characters; shortened");
                description = description[..500];
            }

            switch (policy.String("State"))
            {
                case null or "ENABLED":
                    break;
                case "DISABLED":
                    enabled = false;
                    break;
                case "ERROR":
                    report.Warning(policy.PathOf("State"), "the policy is in the ERROR state in DLM; imported as enabled");
                    break;
                case var state:
                    report.Error(policy.PathOf("State"), $"'{state}' is not one of ENABLED, DISABLED");
                    break;
            }
        }

        public SnapshotPolicy? ReadDetails(JsonCursor details, JsonCursor defaults, string name)
        {
            if (Region is null)
            {
                report.Warning("$", $"a DLM policy document names no region; imported for {DefaultRegion} (pass --region to choose)");
                Region = DefaultRegion;
            }

            details.Ignore("PolicyLanguage");
            switch (details.String("PolicyType"))
            {
                case null or "EBS_SNAPSHOT_MANAGEMENT":
                    break;
                case "IMAGE_MANAGEMENT":
                    report.Warning(details.PathOf("PolicyType"),
                        "AMI policies have no counterpart in Lifecycle (it creates no images); imported as snapshots of the instances' volumes");
                    break;
                case "EVENT_BASED_POLICY":
                    report.Warning(details.PathOf("PolicyType"),
                        "event-based policies (copying snapshots shared from another account) have no counterpart in Lifecycle");
                    details.WarnUnread();
                    report.Error(details.Path, "an event-based policy has no schedule to import");
                    return null;
                case var type:
                    report.Error(details.PathOf("PolicyType"), $"'{type}' is not one of EBS_SNAPSHOT_MANAGEMENT, IMAGE_MANAGEMENT, EVENT_BASED_POLICY");
                    return null;
            }

            if (details.Has("ResourceType") || details.Has("CreateInterval") || DefaultPolicyPath is not null)
            {
                return ReadDefaultPolicy(details, defaults, name);
            }

            var resource = ReadResourceTypes(details);
            foreach (var (location, path) in details.Strings("ResourceLocations"))
            {
                if (location != "CLOUD")
                {
                    report.Warning(path, $"snapshots on {(location == "OUTPOST" ? "an Outpost" : "a Local Zone")} have no counterpart in Lifecycle; imported as snapshots in the region");
                }
            }

            var targetTags = ReadTargetTags(details);
            var (excludeTags, excludeBoot) = ReadParameters(details);
            var schedules = ImmutableArray.CreateBuilder<Schedule>();
            var scheduleCursors = details.Objects("Schedules", required: true);
            if (scheduleCursors.Count > 4)
            {
                report.Warning(details.PathOf("Schedules"), $"DLM allows 4 schedules; imported all {scheduleCursors.Count}");
            }

            foreach (var schedule in scheduleCursors)
            {
                if (ReadSchedule(schedule) is { } read)
                {
                    schedules.Add(read);
                }
            }

            details.WarnUnread();
            if (report.HasErrors)
            {
                return null;
            }

            if (schedules.Count == 0)
            {
                report.Error(details.PathOf("Schedules"), "no schedule could be imported (see the warnings)");
                return null;
            }

            return Policy(name, resource ?? ResourceKind.Volume, targetTags, excludeTags, excludeBoot, schedules.ToImmutable());
        }

        private SnapshotPolicy Policy(
            string name,
            ResourceKind resource,
            ImmutableSortedDictionary<string, ImmutableArray<string>> targetTags,
            ImmutableSortedDictionary<string, ImmutableArray<string>> excludeTags,
            bool excludeBoot,
            ImmutableArray<Schedule> schedules)
        {
            return new SnapshotPolicy
            {
                Name = name,

                // The exporter writes the name where a policy has no description (DLM requires one).
                Description = description == name ? null : description,
                Enabled = enabled,
                Engine = EngineKind.Aws,
                Regions = [Region!],
                Targets = new TargetSelector
                {
                    Resource = resource,
                    Tags = targetTags,
                    ExcludeTags = excludeTags,
                    ExcludeBootVolume = excludeBoot,
                },
                Schedules = [.. schedules.Select(s => s with { Copies = [.. s.Copies.Where(c => c.Region != Region)] })],
                CopyVolumeTags = copyVolumeTags ?? false,
            };
        }

        private ResourceKind? ReadResourceTypes(JsonCursor details)
        {
            var types = details.Strings("ResourceTypes");
            if (types.Count == 0 && !report.HasErrors)
            {
                report.Error(details.PathOf("ResourceTypes"), "is required: [\"VOLUME\"] or [\"INSTANCE\"]");
            }

            ResourceKind? resource = null;
            foreach (var (type, path) in types)
            {
                ResourceKind? kind = type switch
                {
                    "VOLUME" => ResourceKind.Volume,
                    "INSTANCE" => ResourceKind.Instance,
                    _ => null,
                };
                if (kind is null)
                {
                    report.Error(path, $"'{type}' is not one of VOLUME, INSTANCE");
                }
                else if (resource is null)
                {
                    resource = kind;
                }
                else if (resource != kind)
                {
                    report.Warning(path, $"a Lifecycle policy targets either volumes or instances; {type} not imported (write a second policy)");
                }
            }

            return resource;
        }

        private ImmutableSortedDictionary<string, ImmutableArray<string>> ReadTargetTags(JsonCursor details)
        {
            var tags = details.Tags("TargetTags");
            if (tags.Count == 0 && !report.HasErrors)
            {
                report.Error(details.PathOf("TargetTags"), "is required: at least one {\"Key\": ..., \"Value\": ...}");
            }

            if (tags.Select(t => t.Key).Distinct(StringComparer.Ordinal).Count() > 1)
            {
                report.Warning(details.PathOf("TargetTags"),
                    "DLM targets a resource carrying any one of these tags; Lifecycle requires every tag key to match (imported as all of them)");
            }

            return TagMatch(tags);
        }

        private ImmutableSortedDictionary<string, ImmutableArray<string>> TagMatch(IEnumerable<(string Key, string Value, string Path)> tags)
        {
            var builder = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var (key, value, path) in tags)
            {
                if (value.Contains('*', StringComparison.Ordinal))
                {
                    report.Warning(path, $"'*' in '{value}' is a literal character in DLM but a wildcard in Lifecycle");
                }

                if (!builder.TryGetValue(key, out var values))
                {
                    builder[key] = values = [];
                }

                if (!values.Contains(value))
                {
                    values.Add(value);
                }
            }

            return builder.ToImmutableSortedDictionary(e => e.Key, e => e.Value.ToImmutableArray(), StringComparer.Ordinal);
        }

        private (ImmutableSortedDictionary<string, ImmutableArray<string>> ExcludeTags, bool ExcludeBoot) ReadParameters(JsonCursor details)
        {
            if (details.Object("Parameters") is not { } parameters)
            {
                return (ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.WithComparers(StringComparer.Ordinal), false);
            }

            var excludeBoot = parameters.Boolean("ExcludeBootVolume") ?? false;
            var excludeTags = TagMatch(parameters.Tags("ExcludeDataVolumeTags"));
            if (parameters.Boolean("NoReboot") == false)
            {
                report.Warning(parameters.PathOf("NoReboot"), "Lifecycle never reboots an instance before a snapshot; not imported");
            }

            parameters.WarnUnread();
            return (excludeTags, excludeBoot);
        }

        private Schedule? ReadSchedule(JsonCursor schedule)
        {
            var errorsBefore = report.ErrorCount;
            var name = InteropNames.Unique(
                InteropNames.ToName(schedule.String("Name"), "schedule-" + (scheduleNames.Count + 1).ToString(CultureInfo.InvariantCulture)),
                scheduleNames);

            if (schedule.Boolean("CopyTags") is { } copyTags)
            {
                if (copyVolumeTags is { } first && first != copyTags)
                {
                    report.Warning(schedule.PathOf("CopyTags"), $"Lifecycle copies volume tags for the whole policy; kept the first schedule's {first.ToString().ToLowerInvariant()}");
                }
                else
                {
                    copyVolumeTags = copyTags;
                }
            }

            var tags = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (key, value, path) in schedule.Tags("TagsToAdd").Concat(schedule.Tags("VariableTags")))
            {
                InteropRules.AddSnapshotTag(tags, key, value, path, report);
            }

            var trigger = ReadCreateRule(schedule);
            var retain = ReadRetainRule(schedule);
            var copies = ImmutableArray.CreateBuilder<CopyRule>();
            foreach (var copy in schedule.Objects("CrossRegionCopyRules"))
            {
                if (ReadCopy(copy, retain) is { } read)
                {
                    copies.Add(read);
                }
            }

            var fastRestore = schedule.Object("FastRestoreRule") is { } fsr ? ReadFastRestore(fsr) : null;
            var archive = schedule.Object("ArchiveRule") is { } archiveRule ? ReadArchive(archiveRule) : null;
            schedule.WarnUnread();
            if (trigger is null || report.ErrorCount != errorsBefore)
            {
                return null;
            }

            return new Schedule
            {
                Name = name,
                Trigger = trigger,
                Retain = retain,
                Copies = copies.ToImmutable(),
                FastRestore = fastRestore,
                Archive = archive,
                Tags = tags.ToImmutable(),
            };
        }

        private ScheduleTrigger? ReadCreateRule(JsonCursor schedule)
        {
            if (schedule.Object("CreateRule", required: true) is not { } create)
            {
                return null;
            }

            if (create.String("Location") is { } location && location != "CLOUD")
            {
                report.Warning(create.PathOf("Location"), $"creating snapshots on {(location == "OUTPOST_LOCAL" ? "an Outpost" : location)} has no counterpart in Lifecycle; imported as snapshots in the region");
            }

            foreach (var script in create.Objects("Scripts"))
            {
                report.Warning(script.Path,
                    "pre and post scripts run by Systems Manager on the instance have no counterpart in Lifecycle yet; write exec or http hooks under spec.hooks instead");
                script.Ignore("Stages", "ExecutionHandlerService", "ExecutionHandler", "ExecuteOperationOnScriptFailure", "ExecutionTimeout", "MaximumRetryCount");
            }

            var interval = create.Integer("Interval", 1, 24);
            var unit = create.String("IntervalUnit");
            var times = create.Strings("Times");
            var cron = create.String("CronExpression");
            ScheduleTrigger? trigger = null;
            if (cron is not null)
            {
                if (interval is not null || unit is not null || times.Count > 0)
                {
                    report.Error(create.Path, "set either CronExpression or Interval, IntervalUnit and Times, not both");
                }
                else if (AwsCron.ToLifecycle(cron, out var problem) is { } converted)
                {
                    trigger = new CronTrigger(converted, "UTC");
                }
                else
                {
                    report.Warning(create.PathOf("CronExpression"), problem + "; schedule not imported");
                }
            }
            else if (interval is null)
            {
                if (!create.Has("Interval"))
                {
                    report.Error(create.PathOf("Interval"), "is required (or CronExpression)");
                }
            }
            else if (unit != "HOURS")
            {
                report.Error(create.PathOf("IntervalUnit"), unit is null ? "is required: HOURS" : $"'{unit}' is not HOURS");
            }
            else if (interval is not (1 or 2 or 3 or 4 or 6 or 8 or 12 or 24))
            {
                report.Error(create.PathOf("Interval"), $"{interval} is not a DLM interval; expected 1, 2, 3, 4, 6, 8, 12 or 24 (hours)");
            }
            else
            {
                var startAt = TimeOnly.MinValue;
                if (times.Count > 0)
                {
                    if (TimeOnly.TryParseExact(times[0].Value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
                    {
                        startAt = parsed;
                    }
                    else
                    {
                        report.Error(times[0].Path, $"'{times[0].Value}' is not a time of day hh:mm");
                    }

                    foreach (var extra in times.Skip(1))
                    {
                        report.Warning(extra.Path, "DLM allows one start time; not imported");
                    }
                }

                var every = interval == 24 ? PolicyDuration.Days(1) : PolicyDuration.Hours(interval.Value);
                trigger = new IntervalTrigger(every, startAt);
            }

            create.WarnUnread();
            return trigger;
        }

        private RetentionRule ReadRetainRule(JsonCursor schedule)
        {
            if (schedule.Object("RetainRule") is not { } rule)
            {
                report.Warning(schedule.PathOf("RetainRule"), $"absent: DLM keeps the snapshots; imported as age {InteropRules.Forever}");
                return new RetentionRule { Age = InteropRules.Forever };
            }

            // With an ArchiveRule, DLM reads a standard retention of Count 0 (or Interval 0) as "archive each snapshot
            // as soon as it is created" (the EBS User Guide's count-based archive example). Lifecycle keeps the newest
            // snapshot in the standard tier until the next one is created, then archives it: the nearest it can say.
            if (schedule.Has("ArchiveRule") && (rule.IsZero("Count") || rule.IsZero("Interval")))
            {
                var zero = rule.IsZero("Count") ? "Count" : "Interval";
                rule.Ignore("Count", "Interval", "IntervalUnit");
                report.Warning(rule.PathOf(zero), "0 archives each snapshot as soon as it is created; Lifecycle archives a snapshot when the next one is created: imported as count 1");
                rule.WarnUnread();
                return new RetentionRule { Count = 1 };
            }

            var (count, age) = InteropRules.CountOrInterval(rule);
            rule.WarnUnread();
            return new RetentionRule { Count = count, Age = age };
        }

        private CopyRule? ReadCopy(JsonCursor copy, RetentionRule sourceRetain)
        {
            var region = copy.String("TargetRegion") ?? copy.String("Target");
            copy.Ignore("TargetRegion", "Target");
            if (region is null)
            {
                report.Error(copy.PathOf("TargetRegion"), "is required (TargetRegion or Target)");
                return null;
            }

            if (region.StartsWith("arn:", StringComparison.Ordinal))
            {
                report.Warning(copy.Path, $"copies to an Outpost ({region}) have no counterpart in Lifecycle; this copy rule is not imported");
                copy.Ignore("Encrypted", "CmkArn", "CopyTags", "RetainRule", "DeprecateRule");
                copy.WarnUnread();
                return null;
            }

            if (!InteropRules.CheckRegionName(region, copy.PathOf(copy.Has("TargetRegion") ? "TargetRegion" : "Target"), report))
            {
                return null;
            }

            if (region == Region)
            {
                report.Warning(copy.Path, $"a copy into the policy's own region ({region}) has no counterpart in Lifecycle; not imported");
            }

            var encrypted = copy.Boolean("Encrypted") ?? false;
            var key = copy.String("CmkArn");
            if (key is not null && !encrypted)
            {
                report.Warning(copy.PathOf("CmkArn"), "a key without Encrypted: true is not used; not imported");
                key = null;
            }

            var copyTags = copy.Boolean("CopyTags") ?? false;
            RetentionRule retain;
            if (copy.Object("RetainRule") is { } rule)
            {
                var (_, age) = InteropRules.CountOrInterval(rule, allowCount: false);
                rule.WarnUnread();
                retain = new RetentionRule { Age = age };
            }
            else
            {
                report.Warning(copy.PathOf("RetainRule"), "absent: imported with the schedule's own retention");
                retain = sourceRetain;
            }

            copy.WarnUnread();
            return new CopyRule { Region = region, Encrypted = encrypted, Key = key, CopyTags = copyTags, Retain = retain };
        }

        private FastRestoreRule? ReadFastRestore(JsonCursor rule)
        {
            var zones = rule.Strings("AvailabilityZones").Where(z => InteropRules.CheckRegionName(z.Value, z.Path, report, "zone")).ToList();
            var (count, age) = InteropRules.CountOrInterval(rule);
            rule.WarnUnread();
            if (zones.Count == 0)
            {
                report.Warning(rule.PathOf("AvailabilityZones"), "no availability zone names; fast snapshot restore not imported");
                return null;
            }

            return new FastRestoreRule { Zones = [.. zones.Select(z => z.Value).Distinct(StringComparer.Ordinal)], Count = count, Age = age };
        }

        private ArchiveRule? ReadArchive(JsonCursor archive)
        {
            var retain = archive.Object("RetainRule", required: true);
            var tier = retain?.Object("RetentionArchiveTier", required: true);
            archive.WarnUnread();
            retain?.WarnUnread();
            if (tier is null)
            {
                return null;
            }

            var (count, age) = InteropRules.CountOrInterval(tier);
            tier.WarnUnread();
            if (age is { } archiveAge && archiveAge.Approximate < TimeSpan.FromDays(Language.PolicyLanguage.ArchiveMinimumDays))
            {
                report.Error(tier.PathOf("Interval"), $"{archiveAge} is less than the archive tier's minimum of {Language.PolicyLanguage.ArchiveMinimumDays} days");
            }

            // DLM archives a snapshot when it leaves the standard retention: Lifecycle's archive without `after`.
            return new ArchiveRule { Retain = new RetentionRule { Count = count, Age = age } };
        }

        private SnapshotPolicy? ReadDefaultPolicy(JsonCursor details, JsonCursor defaults, string name)
        {
            var path = DefaultPolicyPath ?? details.PathOf("ResourceType");
            report.Warning(path,
                $"a default policy covers every volume or instance of the region that no other policy targets; Lifecycle selects by tag: imported with the target tag {DefaultPolicyTag}: \"true\" (tag what it should cover)");
            var type = details.String("ResourceType") is { } resourceType ? (resourceType, details.PathOf("ResourceType")) : DefaultResourceType;
            var resource = ResourceKind.Volume;
            switch (type?.Item1)
            {
                case null or "VOLUME":
                    break;
                case "INSTANCE":
                    resource = ResourceKind.Instance;
                    break;
                case var other:
                    report.Error(type.Value.Item2, $"'{other}' is not one of VOLUME, INSTANCE");
                    break;
            }

            details.Strings("ResourceTypes"); // default policies may repeat it; ResourceType decides

            // The parameters sit in the request body or in PolicyDetails (not both, says the API).
            JsonCursor From(string member) => details.Has(member) ? details : defaults;
            var createDays = From("CreateInterval").Integer("CreateInterval", 1, 7) ?? 1;
            var retainDays = From("RetainInterval").Integer("RetainInterval", 2, 14) ?? 7;
            copyVolumeTags = From("CopyTags").Boolean("CopyTags");
            if (From("ExtendDeletion") is var extend && extend.Boolean("ExtendDeletion") == true)
            {
                report.Warning(extend.PathOf("ExtendDeletion"), "keeping snapshots of deleted volumes past their retention has no counterpart in Lifecycle; not imported");
            }

            var retain = new RetentionRule { Age = PolicyDuration.Days(retainDays) };
            var copies = ImmutableArray.CreateBuilder<CopyRule>();
            foreach (var target in From("CrossRegionCopyTargets").Objects("CrossRegionCopyTargets"))
            {
                var region = target.String("TargetRegion", required: true);
                if (region is not null && !InteropRules.CheckRegionName(region, target.PathOf("TargetRegion"), report))
                {
                    region = null;
                }

                if (region is not null && region == Region)
                {
                    report.Warning(target.PathOf("TargetRegion"), $"a copy into the policy's own region ({region}) has no counterpart in Lifecycle; not imported");
                }
                else if (region is not null)
                {
                    copies.Add(new CopyRule { Region = region, CopyTags = copyVolumeTags ?? false, Retain = retain });
                }

                target.WarnUnread();
            }

            var excludeTags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.WithComparers(StringComparer.Ordinal);
            var excludeBoot = false;
            if (From("Exclusions").Object("Exclusions") is { } exclusions)
            {
                excludeBoot = exclusions.Boolean("ExcludeBootVolumes") ?? false;
                excludeTags = TagMatch(exclusions.Tags("ExcludeTags"));
                exclusions.WarnUnread();
            }

            details.WarnUnread();
            if (report.HasErrors)
            {
                return null;
            }

            var schedule = new Schedule
            {
                Name = "default",
                Trigger = new IntervalTrigger(PolicyDuration.Days(createDays), TimeOnly.MinValue),
                Retain = retain,
                Copies = copies.ToImmutable(),
            };
            var targetTags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                [KeyValuePair.Create(DefaultPolicyTag, ImmutableArray.Create("true"))]);
            return Policy(name, resource, targetTags, excludeTags, excludeBoot, [schedule]);
        }
    }
}
