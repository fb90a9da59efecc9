using System.CommandLine;
using Lifecycle.Core.Inventory;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle inventory export [--file F]</c>: every region of the local engine in the inventory JSON format.</summary>
internal static class InventoryCommand
{
    public static Command Create()
    {
        var command = new Command("inventory", "Inventory of the local block engine");
        EngineCli.AddCommonOptions(command);
        var file = new Option<string?>("--file") { Description = "Write to this file instead of stdout" };
        var export = new Command("export", "Export volumes and snapshots of every region as inventory JSON (policies/inventory.md)") { file };
        export.SetAction((r, ct) => EngineCli.RunAsync(r, async (engine, _) =>
        {
            var volumes = new List<VolumeInfo>();
            var snapshots = new List<SnapshotInfo>();
            foreach (var name in engine.Regions)
            {
                var region = engine.Region(name);
                volumes.AddRange(await region.DescribeVolumesAsync(cancellationToken: ct));
                snapshots.AddRange(await region.DescribeSnapshotsAsync(cancellationToken: ct));
            }

            var json = InventoryJson.Write(new Inventory { Volumes = [.. volumes], Snapshots = [.. snapshots] });
            if (r.GetValue(file) is { } path)
            {
                await File.WriteAllTextAsync(path, json + "\n", ct);
                Console.Error.WriteLine($"wrote {volumes.Count} volumes and {snapshots.Count} snapshots to {path}");
            }
            else
            {
                Console.WriteLine(json);
            }

            return 0;
        }));
        command.Subcommands.Add(export);
        return command;
    }
}
