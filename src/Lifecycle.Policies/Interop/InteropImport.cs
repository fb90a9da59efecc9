using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// The outcome of importing one AWS document: the policy file's text (null when the document could not be imported)
/// and every finding, warnings included. <see cref="ValidatorNotes"/> are the policy validator's own warnings about
/// the written file (field paths of the YAML), kept apart because they describe the result, not a loss.
/// </summary>
public sealed record InteropImport(
    string Name,
    string? Yaml,
    IReadOnlyList<InteropDiagnostic> Diagnostics,
    IReadOnlyList<PolicyDiagnostic> ValidatorNotes)
{
    public bool Succeeded => Yaml is not null;

    /// <summary>Checks the written text with the policy loader, as `lifecycle validate` would, and packs the result.</summary>
    internal static InteropImport From(SnapshotPolicy? policy, string name, InteropReport report, IEnumerable<string> header, InteropReport? second = null)
    {
        IReadOnlyList<InteropDiagnostic> Items() => second is null ? report.Items : [.. report.Items, .. second.Items];
        if (policy is null || report.HasErrors || second?.HasErrors == true)
        {
            return new InteropImport(name, null, Items(), []);
        }

        var yaml = PolicyYamlWriter.Write(policy, header);
        var check = PolicyLoader.LoadText(yaml, name + ".yaml");
        foreach (var error in check.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))
        {
            // The importer checks what it maps; a file that still does not validate is a bug: say so, write nothing.
            report.Error("$", $"the imported policy does not validate ({error}); please report this with the input");
        }

        return report.HasErrors
            ? new InteropImport(name, null, Items(), [])
            : new InteropImport(name, yaml, Items(), [.. check.Diagnostics]);
    }
}

/// <summary>Small mapping pieces shared by the DLM and AWS Backup importers and exporters.</summary>
internal static class InteropRules
{
    /// <summary>Used when nothing says how long to keep: AWS's "never expire".</summary>
    public static readonly PolicyDuration Forever = new(100, DurationUnit.Years);

    /// <summary>DLM's retention and fast-restore units.</summary>
    public static PolicyDuration? Duration(int interval, string unit) => unit switch
    {
        "DAYS" => new PolicyDuration(interval, DurationUnit.Days),
        "WEEKS" => new PolicyDuration(interval, DurationUnit.Weeks),
        "MONTHS" => new PolicyDuration(interval, DurationUnit.Months),
        "YEARS" => new PolicyDuration(interval, DurationUnit.Years),
        _ => null,
    };

    /// <summary>Reads DLM's {Count} or {Interval, IntervalUnit} (RetainRule, RetentionArchiveTier, FastRestoreRule).</summary>
    public static (int? Count, PolicyDuration? Age) CountOrInterval(JsonCursor rule, bool allowCount = true)
    {
        var errorsBefore = rule.Report.ErrorCount;
        var count = allowCount ? rule.Integer("Count", 1, 1000) : null;
        var interval = rule.Integer("Interval", 1, 36500);
        var unit = rule.String("IntervalUnit");
        PolicyDuration? age = null;
        if (interval is not null || unit is not null)
        {
            if (interval is null || unit is null)
            {
                rule.Report.Error(rule.PathOf(interval is null ? "Interval" : "IntervalUnit"), "Interval and IntervalUnit go together");
            }
            else if (Duration(interval.Value, unit) is { } duration)
            {
                age = duration;
            }
            else
            {
                rule.Report.Error(rule.PathOf("IntervalUnit"), $"'{unit}' is not one of DAYS, WEEKS, MONTHS, YEARS");
            }
        }

        if (count is not null && age is not null)
        {
            rule.Report.Error(rule.Path, "set either Count or Interval and IntervalUnit, not both");
        }
        else if (count is null && age is null && rule.Report.ErrorCount == errorsBefore)
        {
            rule.Report.Error(rule.Path, allowCount ? "needs Count, or Interval and IntervalUnit" : "needs Interval and IntervalUnit");
        }

        return (count, age);
    }

    /// <summary>An error at <paramref name="path"/> unless <paramref name="name"/> is a region or zone name.</summary>
    public static bool CheckRegionName(string name, string path, InteropReport report, string what = "region")
    {
        if (RegionName.IsValid(name))
        {
            return true;
        }

        report.Error(path, $"'{name}' is not a {what} name (lowercase letters, digits and hyphens, such as {(what == "region" ? "eu-west-1" : "eu-west-1a")})");
        return false;
    }

    /// <summary>DLM's and AWS Backup's tag keys that the policy language reserves.</summary>
    public static bool IsReserved(string key) =>
        key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase) || key.StartsWith("lifecycle:", StringComparison.OrdinalIgnoreCase);

    /// <summary>Adds a snapshot tag unless its key is reserved or it uses a variable the language does not know.</summary>
    public static void AddSnapshotTag(ImmutableSortedDictionary<string, string>.Builder tags, string key, string value, string path, InteropReport report)
    {
        if (IsReserved(key))
        {
            report.Warning(path, $"tag key '{key}' is reserved (aws: and lifecycle: keys); not imported");
            return;
        }

        var start = value.IndexOf("$(", StringComparison.Ordinal);
        while (start >= 0)
        {
            var end = value.IndexOf(')', start);
            var variable = end < 0 ? value[start..] : value[(start + 2)..end];
            if (end < 0 || !Language.PolicyLanguage.TagVariables.Contains(variable))
            {
                report.Warning(path, $"the tag value '{value}' uses a variable Lifecycle does not have; not imported");
                return;
            }

            start = value.IndexOf("$(", end, StringComparison.Ordinal);
        }

        tags[key] = value;
    }
}
