using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Lifecycle.Core.Policies;
using Lifecycle.Policies.Language;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// Writes a policy as a policy file (apiVersion lifecycle/v1), in the language's key order, leaving out values equal
/// to their defaults. Deterministic: the same policy always gives the same text, so an import can be compared with
/// the import of its export. Covers what the importers produce (no hooks, no safety rails).
/// </summary>
public static class PolicyYamlWriter
{
    private static readonly JsonSerializerOptions Quoting = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(SnapshotPolicy policy, IEnumerable<string>? headerComments = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!policy.Hooks.IsEmpty || policy.Safety != SafetyRules.Default)
        {
            throw new ArgumentException("the writer covers imported policies, which have no hooks or safety rails", nameof(policy));
        }

        var yaml = new StringBuilder();
        yaml.Append("# yaml-language-server: $schema=./lifecycle-policy.schema.json\n");
        foreach (var comment in headerComments ?? [])
        {
            yaml.Append("# ").Append(comment.ReplaceLineEndings(" ")).Append('\n');
        }

        yaml.Append("apiVersion: ").Append(PolicyLanguage.ApiVersion).Append('\n');
        yaml.Append("kind: ").Append(PolicyLanguage.Kind).Append('\n');
        yaml.Append("metadata:\n");
        yaml.Append("  name: ").Append(policy.Name).Append('\n');
        if (policy.Description is { } description)
        {
            yaml.Append("  description: ").Append(Quote(description)).Append('\n');
        }

        yaml.Append("spec:\n");
        if (!policy.Enabled)
        {
            yaml.Append("  enabled: false\n");
        }

        yaml.Append("  engine: ").Append(policy.Engine == EngineKind.Local ? "local" : "aws").Append('\n');
        yaml.Append("  regions: ").Append(FlowList(policy.Regions)).Append('\n');
        WriteTargets(yaml, policy.Targets);
        yaml.Append("  schedules:\n");
        foreach (var schedule in policy.Schedules)
        {
            WriteSchedule(yaml, schedule);
        }

        WriteTags(yaml, "  ", "tags", policy.Tags);
        if (policy.CopyVolumeTags)
        {
            yaml.Append("  copyVolumeTags: true\n");
        }

        return yaml.ToString();
    }

    private static void WriteTargets(StringBuilder yaml, TargetSelector targets)
    {
        yaml.Append("  targets:\n");
        if (targets.Resource == ResourceKind.Instance)
        {
            yaml.Append("    resource: instance\n");
        }

        WriteTagMatch(yaml, "    ", "tags", targets.Tags);
        if (!targets.ExcludeTags.IsEmpty || !targets.ExcludeVolumeIds.IsEmpty || targets.ExcludeBootVolume)
        {
            yaml.Append("    exclude:\n");
            WriteTagMatch(yaml, "      ", "tags", targets.ExcludeTags);
            if (!targets.ExcludeVolumeIds.IsEmpty)
            {
                yaml.Append("      volumeIds: ").Append(FlowList(targets.ExcludeVolumeIds)).Append('\n');
            }

            if (targets.ExcludeBootVolume)
            {
                yaml.Append("      bootVolume: true\n");
            }
        }
    }

    private static void WriteSchedule(StringBuilder yaml, Schedule schedule)
    {
        yaml.Append("    - name: ").Append(schedule.Name).Append('\n');
        const string indent = "      ";
        switch (schedule.Trigger)
        {
            case IntervalTrigger interval:
                yaml.Append(indent).Append("every: ").Append(interval.Every.ToString()).Append('\n');
                if (interval.StartAt != TimeOnly.MinValue)
                {
                    yaml.Append(indent).Append("startAt: ").Append(Quote(interval.StartAt.ToString("HH:mm", CultureInfo.InvariantCulture))).Append('\n');
                }

                break;
            case CronTrigger cron:
                yaml.Append(indent).Append("cron: ").Append(Quote(cron.Expression)).Append('\n');
                if (cron.TimeZone != "UTC")
                {
                    yaml.Append(indent).Append("timezone: ").Append(Quote(cron.TimeZone)).Append('\n');
                }

                break;
        }

        WriteRetention(yaml, indent, "retain", schedule.Retain);
        if (!schedule.Copies.IsEmpty)
        {
            yaml.Append(indent).Append("copies:\n");
            foreach (var copy in schedule.Copies)
            {
                yaml.Append(indent).Append("  - region: ").Append(copy.Region).Append('\n');
                if (copy.Encrypted)
                {
                    yaml.Append(indent).Append("    encrypted: true\n");
                }

                if (copy.Key is { } key)
                {
                    yaml.Append(indent).Append("    key: ").Append(Quote(key)).Append('\n');
                }

                if (!copy.CopyTags)
                {
                    yaml.Append(indent).Append("    copyTags: false\n");
                }

                WriteRetention(yaml, indent + "    ", "retain", copy.Retain);
            }
        }

        if (schedule.Archive is { } archive)
        {
            yaml.Append(indent).Append("archive:\n");
            if (archive.After is { } after)
            {
                yaml.Append(indent).Append("  after: ").Append(after.Count is { } count
                    ? "{ count: " + count.ToString(CultureInfo.InvariantCulture) + " }"
                    : "{ age: " + after.Age!.Value.ToString() + " }").Append('\n');
            }

            WriteRetention(yaml, indent + "  ", "retain", archive.Retain);
        }

        if (schedule.FastRestore is { } fastRestore)
        {
            yaml.Append(indent).Append("fastRestore:\n");
            yaml.Append(indent).Append("  zones: ").Append(FlowList(fastRestore.Zones)).Append('\n');
            if (fastRestore.Count is { } count)
            {
                yaml.Append(indent).Append("  count: ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            if (fastRestore.Age is { } age)
            {
                yaml.Append(indent).Append("  age: ").Append(age.ToString()).Append('\n');
            }
        }

        WriteTags(yaml, indent, "tags", schedule.Tags);
    }

    private static void WriteRetention(StringBuilder yaml, string indent, string key, RetentionRule retain)
    {
        var parts = new List<string>();
        if (retain.Count is { } count)
        {
            parts.Add("count: " + count.ToString(CultureInfo.InvariantCulture));
        }

        if (retain.Age is { } age)
        {
            parts.Add("age: " + age.ToString());
        }

        if (retain.Buckets is { IsEmpty: false } buckets)
        {
            var counts = new (string Name, int Value)[]
            {
                ("hourly", buckets.Hourly), ("daily", buckets.Daily), ("weekly", buckets.Weekly),
                ("monthly", buckets.Monthly), ("yearly", buckets.Yearly),
            };
            var items = counts.Where(c => c.Value > 0).Select(c => c.Name + ": " + c.Value.ToString(CultureInfo.InvariantCulture)).ToList();
            if (buckets.TimeZone != "UTC")
            {
                items.Add("timezone: " + Quote(buckets.TimeZone));
            }

            parts.Add("buckets: { " + string.Join(", ", items) + " }");
        }

        if (retain.Minimum is { } minimum)
        {
            parts.Add("minimum: " + minimum.ToString(CultureInfo.InvariantCulture));
        }

        yaml.Append(indent).Append(key).Append(": { ").Append(string.Join(", ", parts)).Append(" }\n");
    }

    private static void WriteTagMatch(StringBuilder yaml, string indent, string key, ImmutableSortedDictionary<string, ImmutableArray<string>> tags)
    {
        if (tags.IsEmpty)
        {
            return;
        }

        yaml.Append(indent).Append(key).Append(":\n");
        foreach (var (tag, values) in tags)
        {
            yaml.Append(indent).Append("  ").Append(Quote(tag)).Append(": ")
                .Append(values.Length == 1 ? Quote(values[0]) : FlowList(values)).Append('\n');
        }
    }

    private static void WriteTags(StringBuilder yaml, string indent, string key, ImmutableSortedDictionary<string, string> tags)
    {
        if (tags.IsEmpty)
        {
            return;
        }

        yaml.Append(indent).Append(key).Append(":\n");
        foreach (var (tag, value) in tags)
        {
            yaml.Append(indent).Append("  ").Append(Quote(tag)).Append(": ").Append(Quote(value)).Append('\n');
        }
    }

    private static string FlowList(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(Quote)) + "]";

    /// <summary>A YAML double-quoted scalar; JSON's string escapes are a subset of YAML's.</summary>
    private static string Quote(string text) => JsonSerializer.Serialize(text, Quoting);
}
