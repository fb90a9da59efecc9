using System.CommandLine;
using Lifecycle.LocalEngine;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle verify [--region R | every region] [--read-data-subset N%]</c>; exit 1 when anything is wrong.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var subset = new Option<string>("--read-data-subset") { Description = "Share of blocks to read back and re-hash (e.g. 10%)", DefaultValueFactory = _ => "100%" };
        var command = new Command("verify", "Check manifests, references and packs; re-hash stored blocks") { subset };
        EngineCli.AddCommonOptions(command);
        command.SetAction((r, ct) => EngineCli.RunAsync(r, async (engine, _) =>
        {
            var fraction = EngineCli.ParsePercent(r.GetValue(subset)!);
            var explicitRegion = r.GetResult(EngineCli.Region) is { Implicit: false };
            var regions = explicitRegion ? [engine.Region(r.GetValue(EngineCli.Region)!)] : engine.Regions.Select(engine.Region).ToList();
            var reports = new List<VerifyReport>();
            foreach (var region in regions)
            {
                VerifyReport? report = null;
                await EngineCli.WithProgressAsync($"verify {region.Region}", 0, async p => report = await region.VerifyAsync(fraction, p, ct));
                reports.Add(report!);
                if (!EngineCli.Json(r))
                {
                    Console.WriteLine($"{region.Region}: {(report!.Ok ? "ok" : "FAILED")}: {report.Snapshots} snapshots, {report.BlocksReferenced} block references, " +
                        $"{report.BlocksChecked} blocks re-hashed ({EngineCli.FormatBytes(report.BytesChecked)}), {report.UnreferencedBlocks} unreferenced (GC removes), " +
                        $"{report.OrphanFiles} stray files, {report.Duration.TotalSeconds:0.00} s");
                    foreach (var error in report.Errors)
                    {
                        Console.WriteLine($"  error: {error}");
                    }
                }
            }

            if (EngineCli.Json(r))
            {
                EngineCli.Print(r, reports, () => { });
            }

            return reports.All(x => x.Ok) ? 0 : 1;
        }));
        return command;
    }
}
