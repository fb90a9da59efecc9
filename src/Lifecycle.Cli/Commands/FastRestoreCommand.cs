using System.Collections.Immutable;
using System.CommandLine;
using Spectre.Console;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle fast-restore enable|disable|list</c>: fast snapshot restore per availability zone.</summary>
internal static class FastRestoreCommand
{
    public static Command Create()
    {
        var command = new Command("fast-restore", "Fast snapshot restore of the local block engine");
        EngineCli.AddCommonOptions(command);
        var snapshotId = new Argument<string>("SNAPSHOT") { Description = "Snapshot id" };
        var zones = new Option<string[]>("--zone") { Description = "Availability zone (repeatable)", Required = true, Arity = ArgumentArity.OneOrMore };

        foreach (var (name, enable) in new[] { ("enable", true), ("disable", false) })
        {
            var sub = new Command(name, $"{(enable ? "Enable" : "Disable")} fast snapshot restore in zones") { snapshotId, zones };
            sub.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
            {
                ImmutableArray<string> zoneList = [.. r.GetValue(zones)!];
                var states = enable
                    ? await region.EnableFastSnapshotRestoresAsync(r.GetValue(snapshotId)!, zoneList, ct)
                    : await region.DisableFastSnapshotRestoresAsync(r.GetValue(snapshotId)!, zoneList, ct);
                EngineCli.Print(r, states, () => Show(states));
                return 0;
            }));
            command.Subcommands.Add(sub);
        }

        var optionalSnapshot = new Argument<string?>("SNAPSHOT") { Description = "Only this snapshot", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "Fast snapshot restore states") { optionalSnapshot };
        list.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var states = await region.DescribeFastSnapshotRestoresAsync(r.GetValue(optionalSnapshot), ct);
            EngineCli.Print(r, states, () => Show(states));
            return 0;
        }));
        command.Subcommands.Add(list);
        return command;
    }

    private static void Show(IEnumerable<Core.Providers.FastRestoreZoneState> states)
    {
        var table = new Table().AddColumns("Snapshot", "Zone", "State", "Since");
        foreach (var s in states)
        {
            table.AddRow(s.SnapshotId, s.Zone, s.State.ToString().ToLowerInvariant(), s.Since.ToString("u"));
        }

        AnsiConsole.Write(table);
    }
}
