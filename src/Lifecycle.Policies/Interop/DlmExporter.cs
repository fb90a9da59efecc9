using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>The outcome of exporting one policy: the AWS documents (file name → JSON) and every warning.</summary>
public sealed record InteropExport(string Name, IReadOnlyDictionary<string, JsonObject> Documents, IReadOnlyList<InteropDiagnostic> Diagnostics);

/// <summary>
/// A policy → an Amazon DLM <c>CreateLifecyclePolicy</c> input (<c>aws dlm create-lifecycle-policy --cli-input-json</c>).
/// What DLM cannot say is a warning naming the policy file and the field path (<c>spec.schedules[1].retain.buckets</c>);
/// where an approximation is written, the warning says which.
/// </summary>
public static class DlmExporter
{
    /// <summary>Written when no execution role is given; DLM refuses it until replaced.</summary>
    public const string RolePlaceholder = "arn:aws:iam::123456789012:role/REPLACE-WITH-DLM-EXECUTION-ROLE";

    private static readonly string[] VariableValues = ["$(instance-id)", "$(timestamp)"];

    public static InteropExport Export(SnapshotPolicy policy, string? executionRoleArn = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var report = new InteropReport(policy.Source.File.Length > 0 ? policy.Source.File : policy.Name + ".yaml");
        if (executionRoleArn is null)
        {
            report.Warning("spec", $"no --execution-role-arn given: ExecutionRoleArn is the placeholder {RolePlaceholder}");
        }

        Common(policy, report, "DLM");
        var details = new JsonObject
        {
            ["PolicyType"] = "EBS_SNAPSHOT_MANAGEMENT",
            ["ResourceTypes"] = new JsonArray(policy.Targets.Resource == ResourceKind.Instance ? "INSTANCE" : "VOLUME"),
            ["TargetTags"] = TargetTags(policy.Targets, report),
        };
        if (Parameters(policy.Targets, report) is { } parameters)
        {
            details["Parameters"] = parameters;
        }

        var schedules = new JsonArray();
        for (var i = 0; i < policy.Schedules.Length; i++)
        {
            var path = $"spec.schedules[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (i == 4)
            {
                report.Warning(path, "DLM allows 4 schedules per policy; the rest are exported but DLM will refuse them (split the policy)");
            }

            schedules.Add(Schedule(policy, policy.Schedules[i], path, report));
        }

        details["Schedules"] = schedules;
        var document = new JsonObject
        {
            ["ExecutionRoleArn"] = executionRoleArn ?? RolePlaceholder,
            ["Description"] = Description(policy, report),
            ["State"] = policy.Enabled ? "ENABLED" : "DISABLED",
            ["PolicyDetails"] = details,
        };
        return new InteropExport(policy.Name, new Dictionary<string, JsonObject>(StringComparer.Ordinal) { [policy.Name + ".json"] = document }, report.Items);
    }

    /// <summary>What neither DLM nor AWS Backup can say: hooks, safety rails, several regions.</summary>
    internal static void Common(SnapshotPolicy policy, InteropReport report, string service)
    {
        if (policy.Regions.Length > 1)
        {
            report.Warning("spec.regions", $"a {service} policy belongs to one region; create the export in each of {string.Join(", ", policy.Regions)}");
        }

        if (!policy.Hooks.IsEmpty)
        {
            report.Warning("spec.hooks", $"exec and http hooks have no counterpart in {service} (it runs Systems Manager documents on the instance); not exported");
        }

        if (policy.Safety.KeepLatest != SafetyRules.Default.KeepLatest)
        {
            report.Warning("spec.safety.keepLatest", $"{service} has no keepLatest rail; not exported");
        }

        if (policy.Safety.MaxDeletesPerRun is not null)
        {
            report.Warning("spec.safety.maxDeletesPerRun", $"{service} has no cap on deletions per run; not exported");
        }

        if (!policy.Targets.ExcludeVolumeIds.IsEmpty)
        {
            report.Warning("spec.targets.exclude.volumeIds", $"{service} cannot exclude volumes by id; not exported");
        }
    }

    private static string Description(SnapshotPolicy policy, InteropReport report)
    {
        // DLM descriptions: [0-9A-Za-z _-]+, at most 500 characters.
        var text = policy.Description ?? policy.Name;
        var builder = new StringBuilder();
        foreach (var c in text)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is ' ' or '_' or '-' ? c : ' ');
        }

        var cleaned = string.Join(' ', builder.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (cleaned != text)
        {
            report.Warning("metadata.description", "DLM descriptions allow only letters, digits, spaces, _ and -; other characters became spaces");
        }

        return cleaned.Length == 0 ? policy.Name : cleaned;
    }

    private static JsonArray TargetTags(TargetSelector targets, InteropReport report)
    {
        if (targets.Tags.Count > 1)
        {
            report.Warning("spec.targets.tags",
                "DLM targets a resource carrying any one of the target tags; Lifecycle requires every key to match: the DLM policy targets more (give it one key, or tag the resources with one key)");
        }

        return TagList(targets.Tags, "spec.targets.tags", report);
    }

    private static JsonArray TagList(IEnumerable<KeyValuePair<string, System.Collections.Immutable.ImmutableArray<string>>> tags, string path, InteropReport report)
    {
        var list = new JsonArray();
        foreach (var (key, values) in tags)
        {
            foreach (var value in values)
            {
                if (value.Contains('*', StringComparison.Ordinal))
                {
                    report.Warning(path + "." + key, $"'{value}' is a wildcard pattern; DLM matches tag values exactly ('*' is then a literal character)");
                }

                list.Add(new JsonObject { ["Key"] = key, ["Value"] = value });
            }
        }

        return list;
    }

    private static JsonObject? Parameters(TargetSelector targets, InteropReport report)
    {
        var parameters = new JsonObject();
        if (targets.ExcludeBootVolume)
        {
            parameters["ExcludeBootVolume"] = true;
        }

        if (!targets.ExcludeTags.IsEmpty)
        {
            if (targets.Resource == ResourceKind.Volume)
            {
                report.Warning("spec.targets.exclude.tags", "DLM excludes volumes by tag only in instance policies (ExcludeDataVolumeTags); not exported");
            }
            else
            {
                parameters["ExcludeDataVolumeTags"] = TagList(targets.ExcludeTags, "spec.targets.exclude.tags", report);
            }
        }

        return parameters.Count == 0 ? null : parameters;
    }

    private static JsonObject Schedule(SnapshotPolicy policy, Schedule schedule, string path, InteropReport report)
    {
        var json = new JsonObject { ["Name"] = schedule.Name, ["CopyTags"] = policy.CopyVolumeTags };
        var tagsToAdd = new JsonArray();
        var variableTags = new JsonArray();
        foreach (var (key, value) in policy.Tags.SetItems(schedule.Tags))
        {
            var tagPath = (schedule.Tags.ContainsKey(key) ? path + ".tags." : "spec.tags.") + key;
            if (!value.Contains("$(", StringComparison.Ordinal))
            {
                tagsToAdd.Add(new JsonObject { ["Key"] = key, ["Value"] = value });
            }
            else if (VariableValues.Contains(value))
            {
                variableTags.Add(new JsonObject { ["Key"] = key, ["Value"] = value });
            }
            else
            {
                report.Warning(tagPath, $"DLM's variable tags are exactly $(instance-id) or $(timestamp); '{value}' not exported");
            }
        }

        if (tagsToAdd.Count > 0)
        {
            json["TagsToAdd"] = tagsToAdd;
        }

        if (variableTags.Count > 0)
        {
            json["VariableTags"] = variableTags;
        }

        json["CreateRule"] = CreateRule(schedule.Trigger, path, report);
        json["RetainRule"] = Retain(schedule.Retain, path + ".retain", report, allowCount: true) ?? new JsonObject { ["Count"] = 1 };
        if (!schedule.Copies.IsEmpty)
        {
            var copies = new JsonArray();
            for (var c = 0; c < schedule.Copies.Length; c++)
            {
                var copyPath = $"{path}.copies[{c.ToString(CultureInfo.InvariantCulture)}]";
                if (c == 3)
                {
                    report.Warning(copyPath, "DLM copies to at most 3 regions per schedule; the rest are not exported");
                    break;
                }

                copies.Add(Copy(schedule.Copies[c], copyPath, report));
            }

            json["CrossRegionCopyRules"] = copies;
        }

        if (schedule.FastRestore is { } fastRestore)
        {
            var rule = new JsonObject();
            if (fastRestore.Count is { } count)
            {
                rule["Count"] = count;
            }
            else if (fastRestore.Age is { } age)
            {
                AddInterval(rule, age, path + ".fastRestore.age", report);
            }

            rule["AvailabilityZones"] = new JsonArray([.. fastRestore.Zones.Select(z => (JsonNode)z)]);
            json["FastRestoreRule"] = rule;
        }

        if (schedule.Archive is { } archive)
        {
            if (archive.After is not null)
            {
                report.Warning(path + ".archive.after", "DLM archives a snapshot when it leaves the standard retention; 'after' not exported");
            }

            if (Retain(archive.Retain, path + ".archive.retain", report, allowCount: true) is { } tier)
            {
                json["ArchiveRule"] = new JsonObject { ["RetainRule"] = new JsonObject { ["RetentionArchiveTier"] = tier } };
            }
        }

        return json;
    }

    private static JsonObject CreateRule(ScheduleTrigger trigger, string path, InteropReport report)
    {
        switch (trigger)
        {
            case IntervalTrigger { Every: var every, StartAt: var startAt }:
                var hours = every.Unit switch
                {
                    DurationUnit.Hours => every.Value,
                    DurationUnit.Days when every.Value == 1 => 24,
                    _ => 0,
                };
                if (hours == 0)
                {
                    report.Warning(path + ".every", $"DLM intervals are 1 to 24 hours; every {every} exported as every 24 hours (use cron for a weekly or monthly day)");
                    hours = 24;
                }

                return new JsonObject
                {
                    ["Interval"] = hours,
                    ["IntervalUnit"] = "HOURS",
                    ["Times"] = new JsonArray(startAt.ToString("HH:mm", CultureInfo.InvariantCulture)),
                };
            case CronTrigger cron:
                if (cron.TimeZone != "UTC")
                {
                    report.Warning(path + ".timezone", $"DLM cron expressions are in UTC; the times are exported unchanged, as UTC, not {cron.TimeZone}");
                }

                if (AwsCron.FromLifecycle(cron.Expression, out var problem) is { } expression)
                {
                    return new JsonObject { ["CronExpression"] = expression };
                }

                report.Warning(path + ".cron", problem + "; exported as every 24 hours");
                return new JsonObject { ["Interval"] = 24, ["IntervalUnit"] = "HOURS", ["Times"] = new JsonArray("00:00") };
            default:
                throw new ArgumentOutOfRangeException(nameof(trigger));
        }
    }

    private static JsonObject Copy(CopyRule copy, string path, InteropReport report)
    {
        var json = new JsonObject { ["TargetRegion"] = copy.Region, ["Encrypted"] = copy.Encrypted };
        if (copy.Key is { } key)
        {
            if (!key.StartsWith("arn:", StringComparison.Ordinal))
            {
                report.Warning(path + ".key", $"DLM needs the key's ARN (CmkArn); '{key}' exported as written");
            }

            json["CmkArn"] = key;
        }

        json["CopyTags"] = copy.CopyTags;
        if (copy.Retain.Count is not null)
        {
            report.Warning(path + ".retain.count", "DLM keeps copies by age only; the count is not exported");
        }

        if (Retain(copy.Retain with { Count = null }, path + ".retain", report, allowCount: false) is { } retain)
        {
            json["RetainRule"] = retain;
        }

        return json;
    }

    /// <summary>Count, or Interval and IntervalUnit; null when nothing DLM can say is left.</summary>
    private static JsonObject? Retain(RetentionRule retain, string path, InteropReport report, bool allowCount)
    {
        if (retain.Minimum is not null)
        {
            report.Warning(path + ".minimum", "DLM has no retention floor; not exported");
        }

        var age = retain.Age;
        if (retain.Buckets is { IsEmpty: false } buckets)
        {
            var longest = Longest(buckets);
            report.Warning(path + ".buckets",
                retain.Count is null && age is null
                    ? $"DLM has no calendar buckets; exported as age {longest} (the longest bucket), which keeps every snapshot of that span"
                    : "DLM has no calendar buckets; not exported");
            age ??= retain.Count is null ? longest : null;
        }

        if (allowCount && retain.Count is { } count)
        {
            if (age is not null && retain.Age is not null)
            {
                report.Warning(path + ".age", "DLM keeps by count or by age, not both; exported the count");
            }

            return new JsonObject { ["Count"] = count };
        }

        if (age is not { } duration)
        {
            return null;
        }

        var json = new JsonObject();
        AddInterval(json, duration, path + ".age", report);
        return json;
    }

    private static PolicyDuration Longest(RetentionBuckets buckets) =>
        buckets.Yearly > 0 ? new(buckets.Yearly, DurationUnit.Years)
        : buckets.Monthly > 0 ? new(buckets.Monthly, DurationUnit.Months)
        : buckets.Weekly > 0 ? new(buckets.Weekly, DurationUnit.Weeks)
        : buckets.Daily > 0 ? PolicyDuration.Days(buckets.Daily)
        : PolicyDuration.Days((buckets.Hourly + 23) / 24);

    private static void AddInterval(JsonObject json, PolicyDuration age, string path, InteropReport report)
    {
        var (interval, unit) = age.Unit switch
        {
            DurationUnit.Days => (age.Value, "DAYS"),
            DurationUnit.Weeks => (age.Value, "WEEKS"),
            DurationUnit.Months => (age.Value, "MONTHS"),
            DurationUnit.Years => (age.Value, "YEARS"),
            _ => ((int)Math.Ceiling(age.Approximate.TotalDays), "DAYS"),
        };
        if (age.Unit is DurationUnit.Hours or DurationUnit.Minutes or DurationUnit.Seconds)
        {
            report.Warning(path, $"DLM counts in days, weeks, months and years; {age} exported as {interval} days");
        }

        json["Interval"] = interval;
        json["IntervalUnit"] = unit;
    }
}
