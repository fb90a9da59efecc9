using System.Globalization;
using System.Text;
using System.Text.Json;
using Lifecycle.Core.Planning;

namespace Lifecycle.Core.Simulation;

/// <summary>Writes a simulation report for people: totals per policy and region, then the snapshot counts over time.</summary>
public static class SimulationTextWriter
{
    public static string Write(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        var days = (report.To - report.From).TotalDays;
        text.Append(inv, $"Simulation {Iso(report.From)} .. {Iso(report.To)} ({days:0.##} days, {report.Steps} clock steps), change rate {report.ChangeRatePercentPerDay:0.###}%/day\n");
        var p = report.Prices;
        text.Append(inv, $"Prices: standard ${p.StandardPerGbMonth}/GB-month, archive ${p.ArchivePerGbMonth}/GB-month, archive restore ${p.ArchiveRestorePerGb}/GB, fast restore ${p.FastRestorePerSnapshotZoneHour}/snapshot-zone-hour\n\n");

        var header = new[] { "POLICY", "REGION", "CREATED", "COPIED", "ARCHIVED", "DELETED", "STD END", "ARCH END", "STD PEAK", "STD GiB END", "ARCH GiB END", "STD GiB-MO", "ARCH GiB-MO", "FSR ZONE-H", "PERIOD $", "MONTHLY $ END" };
        var rows = report.Totals.Select(t => new[]
        {
            t.Policy, t.Region, N(t.Created), N(t.Copied), N(t.Archived), N(t.Deleted), N(t.FinalStandard), N(t.FinalArchive), N(t.PeakStandard),
            G(t.FinalStandardGiB), G(t.FinalArchiveGiB), G(t.StandardGiBMonths), G(t.ArchiveGiBMonths), G(t.FastRestoreZoneHours),
            M(t.PeriodCost), M(t.MonthlyCostAtEnd),
        }).ToList();
        rows.Add(
        [
            "TOTAL", "", N(report.Totals.Sum(t => t.Created)), N(report.Totals.Sum(t => t.Copied)), N(report.Totals.Sum(t => t.Archived)),
            N(report.Totals.Sum(t => t.Deleted)), N(report.Totals.Sum(t => t.FinalStandard)), N(report.Totals.Sum(t => t.FinalArchive)), "",
            G(report.Totals.Sum(t => t.FinalStandardGiB)), G(report.Totals.Sum(t => t.FinalArchiveGiB)), G(report.Totals.Sum(t => t.StandardGiBMonths)),
            G(report.Totals.Sum(t => t.ArchiveGiBMonths)), G(report.Totals.Sum(t => t.FastRestoreZoneHours)), M(report.PeriodCost), M(report.MonthlyCostAtEnd),
        ]);
        Table(text, header, rows, rightAlignFrom: 2);

        text.Append("\nSnapshots over time (standard/archive)\n");
        var series = report.Totals.Select(t => (t.Policy, t.Region)).ToList();
        var byTime = report.Timeline.GroupBy(s => s.At).OrderBy(g => g.Key);
        var timelineRows = byTime.Select(g =>
        {
            var at = g.ToDictionary(s => (s.Policy, s.Region));
            return new[] { g.Key.UtcDateTime.ToString("yyyy-MM-dd", inv) }
                .Concat(series.Select(k => at.TryGetValue(k, out var s) ? $"{s.Standard}/{s.Archive}" : "-"))
                .ToArray();
        }).ToList();
        Table(text, ["DATE", .. series.Select(s => $"{s.Policy}/{s.Region}")], timelineRows, rightAlignFrom: 1);
        text.Append(inv, $"\nEstimated cost of the period: ${report.PeriodCost:0.00}; monthly at the end: ${report.MonthlyCostAtEnd:0.00} (storage GB-months and fast-restore hours; restoring one GB from the archive costs ${p.ArchiveRestorePerGb}).\n");
        return text.ToString();
    }

    private static string Iso(DateTimeOffset t) => OwnershipTags.FormatFireTime(t);

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string G(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    private static string M(decimal v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    private static void Table(StringBuilder text, string[] header, List<string[]> rows, int rightAlignFrom)
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
            var line = new StringBuilder("  ");
            for (var i = 0; i < row.Length; i++)
            {
                line.Append(i >= rightAlignFrom ? row[i].PadLeft(widths[i]) : row[i].PadRight(widths[i]));
                line.Append("  ");
            }

            text.Append(line.ToString().TrimEnd()).Append('\n');
        }
    }
}

/// <summary>Writes a simulation report as JSON (<c>"format": "lifecycle-simulation/v1"</c>).</summary>
public static class SimulationJsonWriter
{
    public const string Format = "lifecycle-simulation/v1";

    public static string Write(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("from", OwnershipTags.FormatFireTime(report.From));
            json.WriteString("to", OwnershipTags.FormatFireTime(report.To));
            json.WriteNumber("steps", report.Steps);
            json.WriteNumber("changeRatePercentPerDay", report.ChangeRatePercentPerDay);
            json.WriteStartObject("prices");
            json.WriteNumber("standardPerGbMonth", report.Prices.StandardPerGbMonth);
            json.WriteNumber("archivePerGbMonth", report.Prices.ArchivePerGbMonth);
            json.WriteNumber("archiveRestorePerGb", report.Prices.ArchiveRestorePerGb);
            json.WriteNumber("fastRestorePerSnapshotZoneHour", report.Prices.FastRestorePerSnapshotZoneHour);
            json.WriteEndObject();
            json.WriteNumber("periodCost", report.PeriodCost);
            json.WriteNumber("monthlyCostAtEnd", report.MonthlyCostAtEnd);
            json.WriteStartArray("totals");
            foreach (var t in report.Totals)
            {
                json.WriteStartObject();
                json.WriteString("policy", t.Policy);
                json.WriteString("region", t.Region);
                json.WriteNumber("created", t.Created);
                json.WriteNumber("copied", t.Copied);
                json.WriteNumber("archived", t.Archived);
                json.WriteNumber("deleted", t.Deleted);
                json.WriteNumber("finalStandard", t.FinalStandard);
                json.WriteNumber("finalArchive", t.FinalArchive);
                json.WriteNumber("peakStandard", t.PeakStandard);
                json.WriteNumber("finalStandardGiB", Math.Round(t.FinalStandardGiB, 4));
                json.WriteNumber("finalArchiveGiB", Math.Round(t.FinalArchiveGiB, 4));
                json.WriteNumber("standardGiBMonths", Math.Round(t.StandardGiBMonths, 4));
                json.WriteNumber("archiveGiBMonths", Math.Round(t.ArchiveGiBMonths, 4));
                json.WriteNumber("fastRestoreZoneHours", Math.Round(t.FastRestoreZoneHours, 4));
                json.WriteNumber("finalFastRestoreZones", t.FinalFastRestoreZones);
                json.WriteNumber("periodCost", t.PeriodCost);
                json.WriteNumber("monthlyCostAtEnd", t.MonthlyCostAtEnd);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("timeline");
            foreach (var s in report.Timeline)
            {
                json.WriteStartObject();
                json.WriteString("at", OwnershipTags.FormatFireTime(s.At));
                json.WriteString("policy", s.Policy);
                json.WriteString("region", s.Region);
                json.WriteNumber("standard", s.Standard);
                json.WriteNumber("archive", s.Archive);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
