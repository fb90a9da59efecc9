using System.CommandLine;
using Lifecycle.LocalEngine;
using Spectre.Console;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle recycle-bin list|restore|add-rule</c>.</summary>
internal static class RecycleBinCommand
{
    public static Command Create()
    {
        var command = new Command("recycle-bin", "Recycle bin of the local block engine");
        EngineCli.AddCommonOptions(command);

        var list = new Command("list", "Deleted snapshots that can still be restored");
        list.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var entries = await region.ListSnapshotsInRecycleBinAsync(ct);
            EngineCli.Print(r, entries, () =>
            {
                var table = new Table().AddColumns("Snapshot", "Volume", "Deleted", "Purged at", "Tags");
                foreach (var e in entries)
                {
                    table.AddRow(e.Snapshot.Id, e.Snapshot.VolumeId, e.RecycleBinEnterTime.ToString("u"), e.RecycleBinExitTime.ToString("u"),
                        Markup.Escape(EngineCli.FormatTags(e.Snapshot.Tags)));
                }

                AnsiConsole.Write(table);
            });
            return 0;
        }));
        command.Subcommands.Add(list);

        var snapshotId = new Argument<string>("SNAPSHOT") { Description = "Snapshot id" };
        var restore = new Command("restore", "Restore a snapshot from the recycle bin") { snapshotId };
        restore.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var snapshot = await region.RestoreSnapshotFromRecycleBinAsync(r.GetValue(snapshotId)!, ct);
            EngineCli.Print(r, snapshot, () => Console.WriteLine($"restored {snapshot.Id}"));
            return 0;
        }));
        command.Subcommands.Add(restore);

        var days = new Option<int>("--days") { Description = "Retention in the bin, 1..365 days", Required = true };
        var tag = new Option<string?>("--tag") { Description = "Only snapshots with this tag (KEY=VALUE or KEY); omit for every snapshot" };
        var addRule = new Command("add-rule", "Add a retention rule to the region") { days, tag };
        addRule.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var text = r.GetValue(tag);
            var equals = text?.IndexOf('=', StringComparison.Ordinal) ?? -1;
            var rule = text is null ? new RecycleBinRule(r.GetValue(days))
                : equals < 0 ? new RecycleBinRule(r.GetValue(days), text)
                : new RecycleBinRule(r.GetValue(days), text[..equals], text[(equals + 1)..]);
            var id = await region.CreateRecycleBinRuleAsync(rule, ct);
            EngineCli.Print(r, new { ruleId = id, rule.RetentionDays, rule.TagKey, rule.TagValue }, () => Console.WriteLine(id));
            return 0;
        }));
        command.Subcommands.Add(addRule);
        return command;
    }
}
