using System.CommandLine;
using Lifecycle.LocalEngine;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle gc [--region R | --all-regions]</c>: remove unreferenced blocks and repack.</summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all-regions") { Description = "Collect every region" };
        var command = new Command("gc", "Remove blocks no snapshot references, repack sparse packs, purge expired recycle-bin entries") { all };
        EngineCli.AddCommonOptions(command);
        command.SetAction((r, ct) => EngineCli.RunAsync(r, async (engine, region) =>
        {
            var regions = r.GetValue(all) ? engine.Regions.Select(engine.Region).ToList() : [region];
            var reports = new List<object>();
            foreach (var target in regions)
            {
                var report = await target.CollectGarbageAsync(ct);
                reports.Add(new { region = target.Region, report });
                if (!EngineCli.Json(r))
                {
                    Console.WriteLine($"{target.Region}: removed {report.BlocksRemoved} blocks ({EngineCli.FormatBytes(report.BytesReclaimed)}), repacked {report.PacksRepacked} packs, " +
                        $"deleted {report.PacksDeleted} packs and {report.OrphanFilesDeleted} stray files, purged {report.SnapshotsPurged} in {report.Duration.TotalSeconds:0.00} s");
                }
            }

            if (EngineCli.Json(r))
            {
                EngineCli.Print(r, reports, () => { });
            }

            return 0;
        }));
        return command;
    }
}
