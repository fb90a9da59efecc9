using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.LocalEngine.Encryption;
using Spectre.Console;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle volume create|list|write|import|export|attach|delete</c> on the local engine.</summary>
internal static class VolumeCommand
{
    public static Command Create()
    {
        var command = new Command("volume", "Volumes of the local block engine");
        EngineCli.AddCommonOptions(command);

        var size = new Option<string>("--size") { Description = "Size, e.g. 1GiB, 512MiB (a multiple of 512 KiB)", Required = true };
        var zone = new Option<string>("--zone") { Description = "Availability zone", DefaultValueFactory = _ => "zone-a" };
        var tags = EngineCli.TagOption();
        var encrypted = new Option<bool>("--encrypted") { Description = "Encrypt with the key ring's default key (or --key)" };
        var key = new Option<string?>("--key") { Description = "Key id from the key ring" };
        var create = new Command("create", "Create an empty volume") { size, zone, tags, encrypted, key };
        create.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var volume = await region.CreateVolumeAsync(r.GetValue(zone)!, EngineCli.ParseSize(r.GetValue(size)!), EngineCli.ParseTags(r.GetValue(tags)),
                r.GetValue(encrypted), r.GetValue(key), ct);
            EngineCli.Print(r, volume, () => Console.WriteLine(volume.Id));
            return 0;
        }, needsKeyRing: r.GetValue(encrypted) || r.GetValue(key) is not null));
        command.Subcommands.Add(create);

        var filter = EngineCli.TagOption("--tag", "Only volumes with this tag (KEY=VALUE or KEY)");
        var list = new Command("list", "List volumes") { filter };
        list.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var volumes = await region.DescribeVolumesAsync(EngineCli.ParseFilter(r.GetValue(filter)), ct);
            EngineCli.Print(r, volumes, () =>
            {
                var table = new Table().AddColumns("ID", "Zone", "Size", "State", "Instance", "Encrypted", "From snapshot", "Tags");
                foreach (var v in volumes)
                {
                    table.AddRow(v.Id, v.Zone, EngineCli.FormatBytes(region.VolumeSizeBytes(v.Id)), v.State.ToString(), v.InstanceId ?? "", v.Encrypted ? v.KeyId ?? "yes" : "no",
                        v.SnapshotId ?? "", Markup.Escape(EngineCli.FormatTags(v.Tags)));
                }

                AnsiConsole.Write(table);
            });
            return 0;
        }));
        command.Subcommands.Add(list);

        var volumeId = new Argument<string>("VOLUME") { Description = "Volume id" };
        var offset = new Option<string>("--offset") { Description = "Byte offset (e.g. 0, 3MiB)", DefaultValueFactory = _ => "0" };
        var fromFile = new Option<string?>("--file") { Description = "Write this file's bytes" };
        var text = new Option<string?>("--text") { Description = "Write this UTF-8 text" };
        var random = new Option<string?>("--random") { Description = "Write this many random bytes (e.g. 4MiB)" };
        var write = new Command("write", "Write data into a volume at an offset") { volumeId, offset, fromFile, text, random };
        write.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            byte[] data = r.GetValue(fromFile) is { } file ? await File.ReadAllBytesAsync(file, ct)
                : r.GetValue(text) is { } t ? System.Text.Encoding.UTF8.GetBytes(t)
                : r.GetValue(random) is { } n ? RandomBytes(EngineCli.ParseSize(n))
                : throw new CliUsageException("volume write needs --file, --text or --random");
            await region.WriteAsync(r.GetValue(volumeId)!, EngineCli.ParseSize(r.GetValue(offset)!), data, ct);
            EngineCli.Print(r, new { volumeId = r.GetValue(volumeId), bytes = data.Length }, () => Console.WriteLine($"wrote {data.Length} bytes"));
            return 0;
        }));
        command.Subcommands.Add(write);

        var source = new Argument<string>("FILE") { Description = "Raw image file" };
        var into = new Option<string?>("--volume") { Description = "Import into this existing volume instead of creating one" };
        var import = new Command("import", "Import a raw image file as a new volume (or into --volume)") { source, into, zone, tags };
        import.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var path = r.GetValue(source)!;
            var length = new FileInfo(path).Length;
            var id = r.GetValue(into);
            if (id is null)
            {
                var rounded = Math.Max(LocalRegion.BlockSize, (length + LocalRegion.BlockSize - 1) / LocalRegion.BlockSize * LocalRegion.BlockSize);
                id = (await region.CreateVolumeAsync(r.GetValue(zone)!, rounded, EngineCli.ParseTags(r.GetValue(tags)), cancellationToken: ct)).Id;
            }

            await EngineCli.WithProgressAsync($"import {Path.GetFileName(path)}", length, p => region.ImportVolumeAsync(id, path, p, ct));
            EngineCli.Print(r, new { volumeId = id, bytes = length }, () => Console.WriteLine(id));
            return 0;
        }));
        command.Subcommands.Add(import);

        var target = new Argument<string>("FILE") { Description = "Target raw image file" };
        var export = new Command("export", "Export a volume to a raw (sparse) image file") { volumeId, target };
        export.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            var id = r.GetValue(volumeId)!;
            await EngineCli.WithProgressAsync($"export {id}", region.VolumeSizeBytes(id), p => region.ExportVolumeAsync(id, r.GetValue(target)!, p, ct));
            EngineCli.Print(r, new { volumeId = id, file = r.GetValue(target) }, () => Console.WriteLine($"exported {id} to {r.GetValue(target)}"));
            return 0;
        }));
        command.Subcommands.Add(export);

        var instance = new Option<string>("--instance") { Description = "Instance id", Required = true };
        var device = new Option<string>("--device") { Description = "Device name", DefaultValueFactory = _ => "/dev/xvdf" };
        var boot = new Option<bool>("--boot") { Description = "This is the instance's boot volume" };
        var attach = new Command("attach", "Attach a volume to an instance id (for instance-targeted policies)") { volumeId, instance, device, boot };
        attach.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            await region.AttachVolumeAsync(r.GetValue(volumeId)!, r.GetValue(instance)!, r.GetValue(device)!, r.GetValue(boot), ct);
            EngineCli.Print(r, new { volumeId = r.GetValue(volumeId), instanceId = r.GetValue(instance) }, () => Console.WriteLine("attached"));
            return 0;
        }));
        command.Subcommands.Add(attach);

        var delete = new Command("delete", "Delete a volume (missing is success)") { volumeId };
        delete.SetAction((r, ct) => EngineCli.RunAsync(r, async (_, region) =>
        {
            await region.DeleteVolumeAsync(r.GetValue(volumeId)!, ct);
            EngineCli.Print(r, new { volumeId = r.GetValue(volumeId), deleted = true }, () => Console.WriteLine($"deleted {r.GetValue(volumeId)}"));
            return 0;
        }));
        command.Subcommands.Add(delete);
        return command;
    }

    private static byte[] RandomBytes(long length)
    {
        var bytes = new byte[length];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return bytes;
    }
}

/// <summary>A command line that cannot be run as given (exit code 2).</summary>
internal sealed class CliUsageException(string message) : Exception(message);

/// <summary>Options and plumbing shared by the local-engine commands.</summary>
internal static class EngineCli
{
    public static readonly Option<string> Data = new("--data")
    {
        Description = "Data directory of the local engine",
        DefaultValueFactory = _ => "./.lifecycle",
        Recursive = true,
    };

    public static readonly Option<string?> KeyRingFile = new("--key-ring")
    {
        Description = "Key ring JSON file (outside the data directory); created with a fresh key when encryption is first requested",
        Recursive = true,
    };

    public static readonly Option<string> Region = new("--region")
    {
        Description = "Region",
        DefaultValueFactory = _ => "local-1",
        Recursive = true,
    };

    public static readonly Option<string> Output = CreateOutput();

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output") { Description = "text or json", DefaultValueFactory = _ => "text", Recursive = true };
        option.AcceptOnlyFromAmong("text", "json");
        return option;
    }

    public static void AddCommonOptions(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(KeyRingFile);
        command.Options.Add(Region);
        command.Options.Add(Output);
    }

    public static Option<string[]> TagOption(string name = "--tag", string description = "Tag KEY=VALUE (repeatable)") =>
        new(name) { Description = description, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };

    public static bool Json(ParseResult r) => r.GetValue(Output) == "json";

    public static LocalEngine.LocalEngine OpenEngine(ParseResult r) => LocalEngine.LocalEngine.Open(new LocalEngineOptions
    {
        DataDirectory = r.GetValue(Data)!,
        KeyRingPath = r.GetValue(KeyRingFile),
    });

    /// <summary>With encryption requested and no key ring yet, creates one with a fresh default key.</summary>
    public static void EnsureKeyRing(ParseResult r)
    {
        var path = r.GetValue(KeyRingFile) ?? throw new CliUsageException("encryption needs --key-ring FILE (kept outside the data directory)");
        if (!File.Exists(path))
        {
            KeyRing.AddKey(path, "default");
            Console.Error.WriteLine($"created key ring {path} with key 'default'");
        }
    }

    /// <summary>Opens the engine, runs the command against the region, and maps failures to exit codes (1 failure, 2 usage).</summary>
    public static async Task<int> RunAsync(ParseResult r, Func<LocalEngine.LocalEngine, LocalRegion, Task<int>> body, bool needsKeyRing = false)
    {
        try
        {
            if (needsKeyRing)
            {
                EnsureKeyRing(r);
            }

            using var engine = OpenEngine(r);
            return await body(engine, engine.Region(r.GetValue(Region)!));
        }
        catch (CliUsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (ProviderException e)
        {
            Console.Error.WriteLine($"error: {e.Code}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or FormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    public static void Print(ParseResult r, object value, Action text)
    {
        if (Json(r))
        {
            Console.WriteLine(JsonSerializer.Serialize(value, value.GetType(), InventoryJson.Options));
        }
        else
        {
            text();
        }
    }

    public static ImmutableSortedDictionary<string, string> ParseTags(string[]? tags)
    {
        var result = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var tag in tags ?? [])
        {
            var equals = tag.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new CliUsageException($"--tag '{tag}': expected KEY=VALUE");
            }

            result[tag[..equals]] = tag[(equals + 1)..];
        }

        return result.ToImmutable();
    }

    public static TagFilter? ParseFilter(string[]? tags)
    {
        if (tags is null || tags.Length == 0)
        {
            return null;
        }

        var result = ImmutableSortedDictionary.CreateBuilder<string, ImmutableArray<string>>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var equals = tag.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? tag : tag[..equals];
            var values = result.TryGetValue(key, out var existing) ? existing : [];
            result[key] = equals < 0 ? values : values.Add(tag[(equals + 1)..]);
        }

        return new TagFilter(result.ToImmutable());
    }

    /// <summary>Parses 2GiB, 512MiB, 4KiB, 1G, 10M or plain bytes.</summary>
    public static long ParseSize(string text)
    {
        var units = new (string Suffix, long Factor)[]
        {
            ("TiB", 1L << 40), ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10),
            ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000),
            ("T", 1L << 40), ("G", 1L << 30), ("M", 1L << 20), ("K", 1L << 10), ("B", 1),
        };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0)
            {
                return (long)(number * factor);
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)
            ? bytes
            : throw new CliUsageException($"'{text}' is not a size (examples: 2GiB, 512MiB, 4096)");
    }

    /// <summary>Parses 1%, 0.5% or a fraction like 0.01 into a fraction 0..1.</summary>
    public static double ParsePercent(string text)
    {
        var isPercent = text.EndsWith('%');
        if (!double.TryParse(isPercent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0)
        {
            throw new CliUsageException($"'{text}' is not a percentage (examples: 1%, 10%)");
        }

        var fraction = isPercent ? value / 100 : value;
        return fraction <= 1 ? fraction : throw new CliUsageException($"'{text}' is more than 100%");
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.##} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.##} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.##} KiB",
        _ => $"{bytes} B",
    };

    public static string FormatTags(IReadOnlyDictionary<string, string> tags) => string.Join(", ", tags.Select(t => $"{t.Key}={t.Value}"));

    /// <summary>Runs data-moving work with a progress bar when stdout is a terminal, silently otherwise.</summary>
    public static async Task WithProgressAsync(string label, long total, Func<IProgress<long>?, Task> work)
    {
        if (Console.IsOutputRedirected || total <= 0)
        {
            await work(null);
            return;
        }

        await AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(label), maxValue: total);
                await work(new BarProgress(task));
                task.Value = total;
            });
    }

    private sealed class BarProgress(ProgressTask task) : IProgress<long>
    {
        public void Report(long value) => task.Value = Math.Max(task.Value, value);
    }
}
