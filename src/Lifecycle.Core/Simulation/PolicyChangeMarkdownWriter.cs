using System.Globalization;
using System.Text;
using Lifecycle.Core.Planning;

namespace Lifecycle.Core.Simulation;

/// <summary>
/// Writes a <see cref="PolicyChangeSummary"/> as GitHub-flavoured Markdown for a pull request (the job summary or a
/// comment): the verdict first, then what changed, the destructive findings, and the simulation before and after.
/// Deterministic; numbers in invariant culture.
/// </summary>
public static class PolicyChangeMarkdownWriter
{
    /// <summary>The first line of a summary that flags a destructive change (scripts may look for it).</summary>
    public const string DestructiveMarker = "**Destructive change**";

    public static string Write(PolicyChangeSummary summary, string beforeLabel = "before")
    {
        ArgumentNullException.ThrowIfNull(summary);
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append("## Lifecycle policy change\n\n");
        if (summary.IsDestructive)
        {
            md.Append(DestructiveMarker).Append(summary.DestructiveAllowed
                ? ": allowed for this change (LIFECYCLE_ALLOW_DESTRUCTIVE).\n\n"
                : ": the pipeline fails unless it is allowed (label `lifecycle:allow-destructive`, or LIFECYCLE_ALLOW_DESTRUCTIVE=true).\n\n");
        }
        else
        {
            md.Append("No destructive change.\n\n");
        }

        md.Append(inv, $"| policies | |\n|---|---|\n| added | {List(summary.Added)} |\n| removed | {List(summary.Removed)} |\n| changed | {List(summary.Changed)} |\n");
        if (summary.PlannedDeletes is { } deletes)
        {
            md.Append(inv, $"| planned deletes (server) | {deletes} |\n");
        }

        if (summary.IsDestructive)
        {
            md.Append("\n### Destructive\n\n");
            foreach (var finding in summary.Destructive)
            {
                md.Append("- ").Append(finding).Append('\n');
            }
        }

        var (before, after) = (summary.Before, summary.After);
        md.Append(inv, $"\n### Simulation: {(after.To - after.From).TotalDays:0.##} days from {OwnershipTags.FormatFireTime(after.From)}\n\n");
        md.Append("| | creates | copies | deletes | stored GiB (end) | monthly cost (end) |\n|---|---:|---:|---:|---:|---:|\n");
        var b = Totals.Of(before);
        var a = Totals.Of(after);
        md.Append(Row(beforeLabel, b)).Append(Row("after", a));
        md.Append(inv, $"| change | {Signed(a.Creates - b.Creates)} | {Signed(a.Copies - b.Copies)} | {Signed(a.Deletes - b.Deletes)} | {Signed(a.GiB - b.GiB)} | {SignedMoney(a.Monthly - b.Monthly)} |\n");

        var policies = before.Totals.Select(t => t.Policy).Concat(after.Totals.Select(t => t.Policy)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (policies.Count > 0)
        {
            md.Append("\n| policy | creates | deletes | stored GiB (end) | monthly cost (end) |\n|---|---:|---:|---:|---:|\n");
            foreach (var policy in policies)
            {
                var pb = Totals.Of(before, policy);
                var pa = Totals.Of(after, policy);
                md.Append(inv, $"| {policy} | {pb.Creates} → {pa.Creates} | {pb.Deletes} → {pa.Deletes} | {G(pb.GiB)} → {G(pa.GiB)} | ${M(pb.Monthly)} → ${M(pa.Monthly)} |\n");
            }
        }

        return md.ToString();
    }

    private readonly record struct Totals(int Creates, int Copies, int Deletes, double GiB, decimal Monthly)
    {
        public static Totals Of(SimulationReport report, string? policy = null)
        {
            var rows = report.Totals.Where(t => policy is null || t.Policy == policy).ToList();
            return new Totals(rows.Sum(t => t.Created), rows.Sum(t => t.Copied), rows.Sum(t => t.Deleted),
                rows.Sum(t => t.FinalStandardGiB + t.FinalArchiveGiB), rows.Sum(t => t.MonthlyCostAtEnd));
        }
    }

    private static string Row(string label, Totals t) =>
        string.Create(CultureInfo.InvariantCulture, $"| {label} | {t.Creates} | {t.Copies} | {t.Deletes} | {G(t.GiB)} | ${M(t.Monthly)} |\n");

    private static string List(IReadOnlyCollection<string> names) => names.Count == 0 ? "-" : string.Join(", ", names);

    private static string G(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    private static string M(decimal v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Signed(int v) => v.ToString("+0;-0;0", CultureInfo.InvariantCulture);

    private static string Signed(double v) => v.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);

    private static string SignedMoney(decimal v) => v switch
    {
        > 0 => "+$" + M(v),
        < 0 => "-$" + M(-v),
        _ => "$0.00",
    };
}
