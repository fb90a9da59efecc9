using System.Globalization;
using System.Text;

namespace Lifecycle.Core.Planning;

/// <summary>
/// Writes a plan for people: per policy, its actions with their reasons, then a table of its snapshots (kept,
/// released, deferred) with the rules behind each verdict, then its notes. Plain fixed-width columns, no colour,
/// deterministic (goldens compare it byte for byte).
/// </summary>
public static class PlanTextWriter
{
    /// <param name="plan">The plan.</param>
    /// <param name="policyNames">Policies to list even when they have nothing to do (optional).</param>
    public static string Write(Plan plan, IEnumerable<string>? policyNames = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var text = new StringBuilder();
        var policies = new SortedSet<string>(StringComparer.Ordinal);
        var known = new HashSet<string>(policyNames ?? [], StringComparer.Ordinal);
        policies.UnionWith(known);
        policies.UnionWith(plan.Actions.Select(a => a.Policy));
        policies.UnionWith(plan.Decisions.Select(d => d.Policy));
        policies.UnionWith(plan.Notes.Select(n => n.Policy));

        text.Append(CultureInfo.InvariantCulture, $"Plan at {OwnershipTags.FormatFireTime(plan.Now)}: ");
        text.Append(string.Join(", ", Enum.GetValues<ActionKind>().Select(k => $"{plan.Actions.Count(a => a.Kind == k)} {PlanJsonWriter.KindName(k)}")));
        text.Append(CultureInfo.InvariantCulture,
            $"; {plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Kept)} kept, {plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Released)} released, {plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Deferred)} deferred\n");

        foreach (var policy in policies)
        {
            var actions = plan.Actions.Where(a => a.Policy == policy).ToList();
            var decisions = plan.Decisions.Where(d => d.Policy == policy).ToList();
            var notes = plan.Notes.Where(n => n.Policy == policy).ToList();
            if (policyNames is not null && !known.Contains(policy))
            {
                text.Append(CultureInfo.InvariantCulture, $"\nPolicy {policy}: not in this policy set\n");
                foreach (var note in notes)
                {
                    text.Append("    - ").Append(note.Message).Append('\n');
                }

                continue;
            }

            text.Append(CultureInfo.InvariantCulture,
                $"\nPolicy {policy}: {actions.Count} action(s); {decisions.Count} owned snapshot(s): {decisions.Count(d => d.Verdict == SnapshotVerdict.Kept)} kept, {decisions.Count(d => d.Verdict == SnapshotVerdict.Released)} released, {decisions.Count(d => d.Verdict == SnapshotVerdict.Deferred)} deferred\n");

            if (actions.Count > 0)
            {
                text.Append("\n  Actions\n");
                var rows = actions.Select(a => new[]
                {
                    PlanJsonWriter.KindName(a.Kind),
                    a.SourceRegion is null ? a.Region : $"{a.SourceRegion} -> {a.Region}",
                    a.InstanceId is null ? string.Join(",", a.VolumeIds) : $"{a.InstanceId} ({string.Join(",", a.VolumeIds)})",
                    a.SnapshotId ?? "-",
                    Detail(a),
                });
                Table(text, ["ACTION", "REGION", "TARGET", "SNAPSHOT", "WHY"], rows);
            }

            if (decisions.Count > 0)
            {
                text.Append("\n  Snapshots\n");
                var rows = decisions.Select(d => new[]
                {
                    d.SnapshotId,
                    d.Region,
                    d.VolumeId,
                    d.Schedule ?? "-",
                    OwnershipTags.FormatFireTime(d.StartTime),
                    PlanJsonWriter.VerdictName(d.Verdict),
                    string.Join("; ", d.Reasons),
                });
                Table(text, ["SNAPSHOT", "REGION", "VOLUME", "SCHEDULE", "STARTED", "VERDICT", "REASONS"], rows);
            }

            var adopted = decisions.Where(d => d.AdoptedFrom is not null).ToList();
            if (adopted.Count > 0)
            {
                text.Append("\n  Adopted\n");
                foreach (var decision in adopted)
                {
                    text.Append("    - ").Append(decision.SnapshotId).Append(": ").Append(decision.Adoption ?? "adopted from Amazon DLM policy " + decision.AdoptedFrom).Append('\n');
                }
            }

            if (notes.Count > 0)
            {
                text.Append("\n  Notes\n");
                foreach (var note in notes)
                {
                    text.Append("    - ").Append(note.Message).Append('\n');
                }
            }

            if (actions.Count == 0 && decisions.Count == 0 && notes.Count == 0)
            {
                text.Append("  nothing to do\n");
            }
        }

        return text.ToString();
    }

    private static string Detail(PlannedAction action)
    {
        var detail = action.Reason;
        if (!action.Zones.IsDefaultOrEmpty)
        {
            detail += $" [zones {string.Join(", ", action.Zones)}]";
        }

        if (action.Kind == ActionKind.Copy && action.Encrypted)
        {
            detail += action.KeyId is null ? " [encrypted]" : $" [encrypted with {action.KeyId}]";
        }

        return detail;
    }

    private static void Table(StringBuilder text, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = new int[header.Length];
        foreach (var row in all)
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        foreach (var row in all)
        {
            text.Append("    ");
            for (var i = 0; i < row.Length; i++)
            {
                text.Append(i == row.Length - 1 ? row[i] : row[i].PadRight(widths[i] + 2));
            }

            text.Append('\n');
        }
    }
}
