using System.Text;
using System.Text.Json;

namespace Lifecycle.Core.Planning;

/// <summary>
/// Writes a plan as JSON, schema <c>"format": "lifecycle-plan/v1"</c>: every action and every decision with its
/// reasons. Deterministic: the same plan always gives the same bytes. Fields are only ever added within v1.
/// </summary>
public static class PlanJsonWriter
{
    public const string Format = "lifecycle-plan/v1";

    public static string Write(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        using var buffer = new MemoryStream();
        Write(plan, buffer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void Write(Plan plan, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(plan);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("format", Format);
        json.WriteString("now", OwnershipTags.FormatFireTime(plan.Now));

        json.WriteStartObject("summary");
        foreach (var kind in Enum.GetValues<ActionKind>())
        {
            json.WriteNumber(KindName(kind), plan.Actions.Count(a => a.Kind == kind));
        }

        json.WriteNumber("kept", plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Kept));
        json.WriteNumber("released", plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Released));
        json.WriteNumber("deferred", plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Deferred));
        json.WriteEndObject();

        json.WriteStartArray("actions");
        foreach (var action in plan.Actions)
        {
            json.WriteStartObject();
            json.WriteString("kind", KindName(action.Kind));
            json.WriteString("policy", action.Policy);
            WriteIfSet(json, "schedule", action.Schedule);
            if (!action.Schedules.IsDefaultOrEmpty)
            {
                WriteStrings(json, "schedules", action.Schedules);
            }

            json.WriteString("region", action.Region);
            WriteIfSet(json, "sourceRegion", action.SourceRegion);
            WriteIfSet(json, "instanceId", action.InstanceId);
            WriteStrings(json, "volumeIds", action.VolumeIds);
            if (action.ExcludeBootVolume)
            {
                json.WriteBoolean("excludeBootVolume", true);
            }

            if (!action.ExcludeVolumeIds.IsDefaultOrEmpty)
            {
                WriteStrings(json, "excludeVolumeIds", action.ExcludeVolumeIds);
            }

            WriteIfSet(json, "snapshotId", action.SnapshotId);
            if (!action.Zones.IsDefaultOrEmpty)
            {
                WriteStrings(json, "zones", action.Zones);
            }

            if (action.FireTime is { } fire)
            {
                json.WriteString("fireTime", OwnershipTags.FormatFireTime(fire));
            }

            WriteIfSet(json, "token", action.Token);
            if (action.Kind == ActionKind.Copy)
            {
                json.WriteBoolean("encrypted", action.Encrypted);
                WriteIfSet(json, "keyId", action.KeyId);
            }

            if (!action.Tags.IsEmpty)
            {
                json.WriteStartObject("tags");
                foreach (var (key, value) in action.Tags.OrderBy(t => t.Key, StringComparer.Ordinal))
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            WriteIfSet(json, "adoptedFrom", action.AdoptedFrom);
            json.WriteString("reason", action.Reason);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("decisions");
        foreach (var decision in plan.Decisions)
        {
            json.WriteStartObject();
            json.WriteString("policy", decision.Policy);
            json.WriteString("snapshotId", decision.SnapshotId);
            json.WriteString("region", decision.Region);
            json.WriteString("volumeId", decision.VolumeId);
            WriteIfSet(json, "schedule", decision.Schedule);
            json.WriteString("startTime", OwnershipTags.FormatFireTime(decision.StartTime));
            json.WriteString("verdict", VerdictName(decision.Verdict));
            WriteStrings(json, "reasons", decision.Reasons);
            WriteIfSet(json, "adoptedFrom", decision.AdoptedFrom);
            WriteIfSet(json, "adoption", decision.Adoption);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("notes");
        foreach (var note in plan.Notes)
        {
            json.WriteStartObject();
            json.WriteString("policy", note.Policy);
            json.WriteString("message", note.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    /// <summary>The kebab-case name of an action kind, as in the JSON and the text output.</summary>
    public static string KindName(ActionKind kind) => kind switch
    {
        ActionKind.Create => "create",
        ActionKind.Copy => "copy",
        ActionKind.Archive => "archive",
        ActionKind.EnableFastRestore => "enable-fast-restore",
        ActionKind.DisableFastRestore => "disable-fast-restore",
        _ => "delete",
    };

    public static string VerdictName(SnapshotVerdict verdict) => verdict switch
    {
        SnapshotVerdict.Kept => "kept",
        SnapshotVerdict.Released => "released",
        _ => "deferred",
    };

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
