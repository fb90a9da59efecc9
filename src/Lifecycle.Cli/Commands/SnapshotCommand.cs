using System.Collections.Immutable;
using System.CommandLine;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Spectre.Console;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle snapshot create|list|show|delete|copy|archive|restore-tier|create-volume|restore-file</c> on the local engine.</summary>
internal static class SnapshotCommand
{
    public static Command Create()
    {
        var command = new Command("snapshot", "Snapshots of the local block engine");
        EngineCli.AddCommonOptions(command);
        var snapshotId = new Argument<string>("SNAPSHOT") { Description = "Snapshot id" };
        var tags = EngineCli.TagOption();
        var description = new Option<string?>("--description") { Description = "Description" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return while the snapshot is still pending" };

        var volumeId = new Argument<string?>("VOLUME") { Description = "Volume id (omit with --instance)", Arity = ArgumentArity.ZeroOrOne };
        var instance = new Option<string?>("--instance") { Description = "Snapshot every volume of this instance at one instant" };
        var excludeBoot = new Option<bool>("--exclude-boot") { Description = "With --instance: leave out the boot volume" };
        var excludeVolumes = new Option<string[]>("--exclude-volume") { Description = "With --instance: leave out this attached data volume (repeatable)" };
        var create = new Command("create", "Create a point-in-time snapshot") { volumeId, instance, excludeBoot, excludeVolumes, tags, description, noWait };
        create.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var tagValues = EngineCli.ParseTags(r.GetValue(tags));
            ImmutableArray<SnapshotInfo> started = r.GetValue(instance) is { } instanceId
                ? await region.CreateSnapshotsAsync(new CreateSnapshotsRequest(instanceId, tagValues, r.GetValue(excludeBoot),
                    [.. r.GetValue(excludeVolumes) ?? []], r.GetValue(description)), ct)
                : [await region.CreateSnapshotAsync(new CreateSnapshotRequest(
                    r.GetValue(volumeId) ?? throw new CliUsageException("snapshot create needs VOLUME or --instance"), tagValues, r.GetValue(description)), ct)];
            var result = r.GetValue(noWait) ? started : await WaitAllAsync(region, started, ct);
            EngineCli.Print(r, result, () => Show(result));
            return result.Any(s => s.State == SnapshotState.Error) ? 1 : 0;
        }));
        command.Subcommands.Add(create);

        var volumeFilter = new Option<string?>("--volume") { Description = "Only snapshots of this volume" };
        var tagFilter = EngineCli.TagOption("--tag", "Only snapshots with this tag (KEY=VALUE or KEY)");
        var list = new Command("list", "List snapshots (not those in the recycle bin)") { volumeFilter, tagFilter };
        list.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var query = new SnapshotQuery
            {
                VolumeIds = r.GetValue(volumeFilter) is { } v ? [v] : [],
                Tags = EngineCli.ParseFilter(r.GetValue(tagFilter)),
            };
            var snapshots = await region.DescribeSnapshotsAsync(query, ct);
            EngineCli.Print(r, snapshots, () => Show(snapshots));
            return 0;
        }));
        command.Subcommands.Add(list);

        var show = new Command("show", "Show one snapshot") { snapshotId };
        show.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var snapshot = (await region.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [r.GetValue(snapshotId)!] }, ct)).SingleOrDefault()
                ?? throw ProviderException.NotFound("InvalidSnapshot.NotFound", $"snapshot '{r.GetValue(snapshotId)}' does not exist in region {region.Region}");
            EngineCli.Print(r, snapshot, () =>
            {
                var grid = new Grid().AddColumn().AddColumn();
                void Row(string name, object? value) => grid.AddRow(name, Markup.Escape(value?.ToString() ?? ""));
                Row("id", snapshot.Id);
                Row("volume", snapshot.VolumeId);
                Row("region", snapshot.Region);
                Row("state", $"{snapshot.State} ({snapshot.Progress}%)");
                Row("start", snapshot.StartTime.ToString("u"));
                Row("tier", snapshot.Tier);
                Row("archived at", snapshot.ArchivedAt?.ToString("u"));
                Row("restore expiry", snapshot.RestoreExpiryTime?.ToString("u"));
                Row("full size", snapshot.FullSizeBytes is { } full ? EngineCli.FormatBytes(full) : null);
                Row("stored (added)", snapshot.StoredBytes is { } stored ? EngineCli.FormatBytes(stored) : null);
                Row("encrypted", snapshot.Encrypted ? snapshot.KeyId : "no");
                Row("source", snapshot.SourceSnapshotId is null ? null : $"{snapshot.SourceRegion}/{snapshot.SourceSnapshotId}");
                Row("fast restore", string.Join(", ", snapshot.FastRestore.Select(z => $"{z.Key}={z.Value}")));
                Row("tags", EngineCli.FormatTags(snapshot.Tags));
                Row("description", snapshot.Description);
                AnsiConsole.Write(grid);
            });
            return 0;
        }));
        command.Subcommands.Add(show);

        var force = new Option<bool>("--force") { Description = "Delete an archived snapshot before its 90 days" };
        var delete = new Command("delete", "Delete a snapshot (to the recycle bin when a rule matches; missing is success)") { snapshotId, force };
        delete.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            await region.DeleteSnapshotAsync(r.GetValue(snapshotId)!, r.GetValue(force), ct);
            EngineCli.Print(r, new { snapshotId = r.GetValue(snapshotId), deleted = true }, () => Console.WriteLine($"deleted {r.GetValue(snapshotId)}"));
            return 0;
        }));
        command.Subcommands.Add(delete);

        var to = new Option<string>("--to") { Description = "Target region", Required = true };
        var encrypted = new Option<bool>("--encrypted") { Description = "Encrypt the copy (default key or --key)" };
        var key = new Option<string?>("--key") { Description = "Key id to (re-)encrypt the copy with" };
        var copy = new Command("copy", "Copy a snapshot from --region to --to, sending only blocks the target lacks") { snapshotId, to, encrypted, key, tags, description, noWait };
        copy.SetAction((r, ct) => EngineCli.RunAsync(r, async (engine, region) =>
        {
            var target = engine.Region(r.GetValue(to)!);
            var started = await target.CopySnapshotAsync(new CopySnapshotRequest(region.Region, r.GetValue(snapshotId)!, EngineCli.ParseTags(r.GetValue(tags)),
                r.GetValue(encrypted), r.GetValue(key), r.GetValue(description)), ct);
            var result = r.GetValue(noWait) ? started : (await WaitAllAsync(target, [started], ct))[0];
            EngineCli.Print(r, result, () => Show([result]));
            return result.State == SnapshotState.Error ? 1 : 0;
        }, needsKeyRing: r.GetValue(encrypted) || r.GetValue(key) is not null));
        command.Subcommands.Add(copy);

        var archive = new Command("archive", "Move a snapshot to the archive tier (a full, self-contained copy)") { snapshotId };
        archive.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            await region.ArchiveSnapshotAsync(r.GetValue(snapshotId)!, ct);
            EngineCli.Print(r, new { snapshotId = r.GetValue(snapshotId), tier = "archive" }, () => Console.WriteLine($"archived {r.GetValue(snapshotId)}"));
            return 0;
        }));
        command.Subcommands.Add(archive);

        var days = new Option<int?>("--days") { Description = "Temporary restore for N days (then archived again)" };
        var permanent = new Option<bool>("--permanent") { Description = "Restore permanently to the standard tier" };
        var restoreTier = new Command("restore-tier", "Restore an archived snapshot to the standard tier") { snapshotId, days, permanent };
        restoreTier.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            if (r.GetValue(days) is null == !r.GetValue(permanent))
            {
                throw new CliUsageException("restore-tier needs exactly one of --days N or --permanent");
            }

            await region.RestoreSnapshotTierAsync(r.GetValue(snapshotId)!, r.GetValue(days), ct);
            EngineCli.Print(r, new { snapshotId = r.GetValue(snapshotId), days = r.GetValue(days) }, () => Console.WriteLine($"restored {r.GetValue(snapshotId)}"));
            return 0;
        }));
        command.Subcommands.Add(restoreTier);

        var zone = new Option<string>("--zone") { Description = "Availability zone", DefaultValueFactory = _ => "zone-a" };
        var createVolume = new Command("create-volume", "Create a volume from a snapshot (lazy load, or hydrated with fast restore in the zone)") { snapshotId, zone, tags };
        createVolume.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var volume = await region.CreateVolumeAsync(new CreateVolumeRequest(r.GetValue(snapshotId)!, r.GetValue(zone)!, EngineCli.ParseTags(r.GetValue(tags))), ct);
            EngineCli.Print(r, volume, () => Console.WriteLine($"{volume.Id} ({(region.IsHydrating(volume.Id) ? "loads blocks on first read" : "fully loaded")})"));
            return 0;
        }));
        command.Subcommands.Add(createVolume);

        var file = new Argument<string>("FILE") { Description = "Target raw image file" };
        var restoreFile = new Command("restore-file", "Write a snapshot's content to a raw (sparse) image file") { snapshotId, file };
        restoreFile.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var id = r.GetValue(snapshotId)!;
            var info = (await region.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [id] }, ct)).SingleOrDefault();
            await EngineCli.WithProgressAsync($"restore {id}", info?.FullSizeBytes ?? 0, p => region.RestoreSnapshotToFileAsync(id, r.GetValue(file)!, p, ct));
            EngineCli.Print(r, new { snapshotId = id, file = r.GetValue(file) }, () => Console.WriteLine($"restored {id} to {r.GetValue(file)}"));
            return 0;
        }));
        command.Subcommands.Add(restoreFile);
        return command;
    }

    /// <summary>Waits for pending snapshots or copies, with a progress bar per snapshot when stdout is a terminal.</summary>
    private static async Task<ImmutableArray<SnapshotInfo>> WaitAllAsync(LocalRegion region, ImmutableArray<SnapshotInfo> started, CancellationToken ct)
    {
        var waits = started.Select(s => region.WaitForSnapshotAsync(s.Id, ct)).ToList();
        var all = Task.WhenAll(waits);
        if (!Console.IsOutputRedirected)
        {
            await AnsiConsole.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async context =>
                {
                    var bars = started.ToDictionary(s => s.Id, s => context.AddTask(s.Id, maxValue: 100));
                    while (!all.IsCompleted)
                    {
                        await Task.WhenAny(all, Task.Delay(200, ct));
                        var query = new SnapshotQuery { SnapshotIds = [.. bars.Keys] };
                        foreach (var snapshot in await region.DescribeSnapshotsAsync(query, ct))
                        {
                            bars[snapshot.Id].Value = snapshot.Progress;
                        }
                    }

                    foreach (var bar in bars.Values)
                    {
                        bar.Value = 100;
                    }
                });
        }

        return [.. await all];
    }

    internal static void Show(IReadOnlyList<SnapshotInfo> snapshots)
    {
        var table = new Table().AddColumns("ID", "Volume", "Start", "State", "Tier", "Full", "Added", "Enc", "Source", "Tags");
        foreach (var s in snapshots)
        {
            table.AddRow(s.Id, s.VolumeId, s.StartTime.ToString("u"), s.State == SnapshotState.Pending ? $"pending {s.Progress}%" : s.State.ToString().ToLowerInvariant(),
                s.Tier.ToString().ToLowerInvariant() + (s.RestoreExpiryTime is { } e ? $" until {e:u}" : ""),
                s.FullSizeBytes is { } full ? EngineCli.FormatBytes(full) : "", s.StoredBytes is { } added ? EngineCli.FormatBytes(added) : "",
                s.Encrypted ? s.KeyId ?? "yes" : "", s.SourceSnapshotId is null ? "" : $"{s.SourceRegion}/{s.SourceSnapshotId}",
                Markup.Escape(EngineCli.FormatTags(s.Tags)));
        }

        AnsiConsole.Write(table);
    }
}
