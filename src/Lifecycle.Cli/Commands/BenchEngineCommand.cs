using System.Collections.Immutable;
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Spectre.Console;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench engine --size 2GiB [--change 1%] [--keep-image DIR]</c>: generates a realistic volume image
/// (incompressible, compressible, zero and duplicated blocks), then measures a full snapshot, an incremental snapshot
/// after a scattered change, restore to a file, a cross-region copy, verify, and first-read latency of a volume
/// created from a snapshot with and without fast restore. Prints MB/s, stored bytes and peak memory.
/// </summary>
internal static class BenchEngineCommand
{
    private const int Block = LocalRegion.BlockSize;

    public static Command Create()
    {
        var size = new Option<string>("--size") { Description = "Volume size", DefaultValueFactory = _ => "2GiB" };
        var change = new Option<string>("--change") { Description = "Share of blocks changed (one scattered write each) before the incremental", DefaultValueFactory = _ => "1%" };
        var keep = new Option<string?>("--keep-image") { Description = "Also write image.raw and image-changed.raw into DIR (for tests/bench/compare-peers.sh)" };
        var work = new Option<string?>("--work") { Description = "Directory for the engine's data (default: a new temporary directory, removed afterwards)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated image", DefaultValueFactory = _ => 42 };
        var encrypted = new Option<bool>("--encrypted") { Description = "Use an encrypted volume (AES-256-GCM)" };
        var stages = new Option<bool>("--stages") { Description = "Also print the time each pipeline stage took (summed over threads) after each step" };
        var output = new Option<string>("--output") { Description = "text or json", DefaultValueFactory = _ => "text" };
        output.AcceptOnlyFromAmong("text", "json");
        var command = new Command("engine", "Benchmark the local block engine") { size, change, keep, work, seed, encrypted, stages, output };
        command.SetAction((r, ct) => RunAsync(EngineCli.ParseSize(r.GetValue(size)!), EngineCli.ParsePercent(r.GetValue(change)!), r.GetValue(keep),
            r.GetValue(work), r.GetValue(seed), r.GetValue(encrypted), r.GetValue(stages), r.GetValue(output) == "json", ct));
        return command;
    }

    private sealed record Measurement(string Step, double Seconds, long Bytes, long? StoredBytes, string Note)
    {
        /// <summary>CPU time (user + kernel, all threads) the step took: steadier than wall time on a shared machine.</summary>
        public double CpuSeconds { get; init; }

        public double MegabytesPerSecond => Seconds > 0 ? Bytes / 1e6 / Seconds : 0;
    }

    private static async Task<int> RunAsync(long size, double change, string? keepDirectory, string? workDirectory, int seed, bool encrypted, bool stages, bool json, CancellationToken ct)
    {
        if (size <= 0 || size % Block != 0)
        {
            Console.Error.WriteLine($"error: --size must be a positive multiple of {Block} bytes");
            return 2;
        }

        var root = workDirectory ?? Path.Combine(Path.GetTempPath(), "lifecycle-bench-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(root);
        var keyRing = Path.Combine(root, "keyring.json");
        if (encrypted)
        {
            LocalEngine.Encryption.KeyRing.AddKey(keyRing, "bench");
        }

        var measurements = new List<Measurement>();
        var log = json ? TextWriter.Null : Console.Out;
        void PrintStages(string step)
        {
            var all = LocalEngine.Storage.StageClock.TakeAll();
            if (stages)
            {
                log.WriteLine($"  stages of {step}: " + string.Join(", ", all.Select(s => $"{s.Stage} {s.Time.TotalSeconds:0.000} s ({s.Count})")));
            }
        }

        try
        {
            using var engine = LocalEngine.LocalEngine.Open(new LocalEngineOptions
            {
                DataDirectory = Path.Combine(root, "data"),
                KeyRingPath = encrypted ? keyRing : null,
                FastRestoreEnablingTime = TimeSpan.Zero,
                FastRestoreOptimizingTime = TimeSpan.Zero,
            });
            var region = engine.Region("bench-1");
            var tags = ImmutableSortedDictionary<string, string>.Empty;
            var volume = await region.CreateVolumeAsync("zone-a", size, tags, encrypted, cancellationToken: ct);
            var blocks = (int)(size / Block);

            log.WriteLine($"generating a {EngineCli.FormatBytes(size)} image (seed {seed}) ...");
            var generator = new ImageGenerator(seed);
            var keep = keepDirectory is null ? null : File.Create(Path.Combine(Directory.CreateDirectory(keepDirectory).FullName, "image.raw"));
            var chunk = new byte[16 * Block];
            for (var first = 0; first < blocks; first += 16)
            {
                var count = Math.Min(16, blocks - first);
                for (var i = 0; i < count; i++)
                {
                    generator.Fill(first + i, chunk.AsSpan(i * Block, Block));
                }

                await region.WriteAsync(volume.Id, (long)first * Block, chunk.AsMemory(0, count * Block), ct);
                keep?.Write(chunk, 0, count * Block);
            }

            // The peers' runs start after `sync` (compare-peers.sh); so does ours: no write-back of the kept image
            // competes with the measured steps.
            keep?.Flush(flushToDisk: true);
            keep?.Dispose();
            log.WriteLine($"image: {generator.Describe()}");

            PrintStages("image generation");
            var packs = Path.Combine(region.Directory, "packs");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            Measurement CpuStep(Measurement m)
            {
                var now = Process.GetCurrentProcess().TotalProcessorTime;
                var result = m with { CpuSeconds = (now - cpu).TotalSeconds };
                cpu = now;
                return result;
            }

            var sw = Stopwatch.StartNew();
            var full = await region.WaitForSnapshotAsync((await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, tags), ct)).Id, ct);
            measurements.Add(CpuStep(new Measurement("full snapshot", sw.Elapsed.TotalSeconds, size, DirectorySize(packs), $"{region.BlocksReadBy(full.Id)} blocks read")));
            PrintStages("full snapshot");

            // scattered change: one write of 4 KiB..512 KiB of new data into each chosen block
            var random = new Random(seed + 1);
            var changed = Enumerable.Range(0, blocks).OrderBy(_ => random.Next()).Take(Math.Max(1, (int)Math.Round(blocks * change))).Order().ToList();
            var writes = new List<(long Offset, byte[] Data)>();
            foreach (var index in changed)
            {
                var length = random.Next(4096, Block + 1) & ~4095;
                var within = random.Next(0, Block - length + 1) & ~4095;
                var data = new byte[length];
                random.NextBytes(data);
                writes.Add(((long)index * Block + within, data));
                await region.WriteAsync(volume.Id, (long)index * Block + within, data, ct);
            }

            if (keepDirectory is not null)
            {
                var changedImage = Path.Combine(keepDirectory, "image-changed.raw");
                File.Copy(Path.Combine(keepDirectory, "image.raw"), changedImage, overwrite: true);
                using var handle = File.OpenHandle(changedImage, FileMode.Open, FileAccess.Write);
                foreach (var (offset, data) in writes)
                {
                    RandomAccess.Write(handle, data, offset);
                }

                RandomAccess.FlushToDisk(handle);
            }

            var beforeIncremental = DirectorySize(packs);
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var incremental = await region.WaitForSnapshotAsync((await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, tags), ct)).Id, ct);
            measurements.Add(CpuStep(new Measurement($"incremental ({changed.Count} blocks changed)", sw.Elapsed.TotalSeconds, writes.Sum(w => (long)w.Data.Length),
                DirectorySize(packs) - beforeIncremental, $"{region.BlocksReadBy(incremental.Id)} blocks read")));
            PrintStages("incremental");

            var restored = Path.Combine(root, "restored.raw");
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            await region.RestoreSnapshotToFileAsync(incremental.Id, restored, cancellationToken: ct);
            measurements.Add(CpuStep(new Measurement("restore to file", sw.Elapsed.TotalSeconds, size, null, $"{EngineCli.FormatBytes(incremental.FullSizeBytes ?? 0)} of non-zero data, verified")));
            PrintStages("restore to file");
            File.Delete(restored);

            var target = engine.Region("bench-2");
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var copyOfFull = await target.WaitForSnapshotAsync((await target.CopySnapshotAsync(new CopySnapshotRequest(region.Region, full.Id, tags), ct)).Id, ct);
            measurements.Add(CpuStep(new Measurement("copy full to bench-2", sw.Elapsed.TotalSeconds, copyOfFull.StoredBytes ?? 0, copyOfFull.StoredBytes, "all blocks sent")));
            PrintStages("copy full to bench-2");
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var copy = await target.WaitForSnapshotAsync((await target.CopySnapshotAsync(new CopySnapshotRequest(region.Region, incremental.Id, tags), ct)).Id, ct);
            measurements.Add(CpuStep(new Measurement("copy incremental to bench-2", sw.Elapsed.TotalSeconds, copy.StoredBytes ?? 0, copy.StoredBytes, "only blocks bench-2 lacks")));

            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var report = await region.VerifyAsync(1.0, cancellationToken: ct);
            measurements.Add(CpuStep(new Measurement("verify (100%)", sw.Elapsed.TotalSeconds, report.BytesChecked, null, report.Ok ? "ok" : $"FAILED: {report.Errors.Length} errors")));
            PrintStages("verify");

            // first read: lazy load versus fast snapshot restore
            var probe = new byte[4096];
            var lazy = await region.CreateVolumeAsync(new CreateVolumeRequest(incremental.Id, "zone-a", tags), ct);
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            await region.ReadAsync(lazy.Id, (long)changed[0] * Block, probe, ct);
            var lazyFirstRead = sw.Elapsed;
            await region.EnableFastSnapshotRestoresAsync(incremental.Id, ["zone-b"], ct);
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var hydrated = await region.CreateVolumeAsync(new CreateVolumeRequest(incremental.Id, "zone-b", tags), ct);
            var hydrateTime = sw.Elapsed;
            sw.Restart();
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            await region.ReadAsync(hydrated.Id, (long)changed[0] * Block, probe, ct);
            var fastFirstRead = sw.Elapsed;
            measurements.Add(CpuStep(new Measurement("first read, lazy volume", lazyFirstRead.TotalSeconds, probe.Length, null, "volume usable at once")));
            measurements.Add(CpuStep(new Measurement("first read, fast restore", fastFirstRead.TotalSeconds, probe.Length, null, $"create-volume hydrated in {hydrateTime.TotalSeconds:0.00} s")));

            var peak = PeakMemoryBytes();
            if (json)
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    sizeBytes = size,
                    change,
                    encrypted,
                    image = generator.Describe(),
                    peakMemoryBytes = peak,
                    verifyOk = report.Ok,
                    steps = measurements.Select(m => new { step = m.Step, seconds = m.Seconds, cpuSeconds = m.CpuSeconds, bytes = m.Bytes, megabytesPerSecond = m.MegabytesPerSecond, storedBytes = m.StoredBytes, note = m.Note }),
                }, Core.Inventory.InventoryJson.Options));
            }
            else
            {
                var table = new Table().AddColumns("Step", "Time", "CPU s", "MB/s", "Stored / added", "Note");
                foreach (var m in measurements)
                {
                    table.AddRow(Markup.Escape(m.Step), m.Seconds < 0.01 ? $"{m.Seconds * 1000:0.00} ms" : $"{m.Seconds:0.000} s", $"{m.CpuSeconds:0.00}", $"{m.MegabytesPerSecond:0}",
                        m.StoredBytes is { } stored ? $"{stored / 1e6:0.0} MB" : "", Markup.Escape(m.Note));
                }

                AnsiConsole.Write(table);
                Console.WriteLine($"peak memory (VmHWM): {peak / (1 << 20)} MiB; cores: {Environment.ProcessorCount}");
            }

            return report.Ok ? 0 : 1;
        }
        finally
        {
            if (workDirectory is null)
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static long DirectorySize(string directory) =>
        Directory.Exists(directory) ? new DirectoryInfo(directory).EnumerateFiles().Sum(f => f.Length) : 0;

    /// <summary>Peak resident memory of this process (VmHWM on Linux).</summary>
    private static long PeakMemoryBytes()
    {
        const string procStatus = "/proc/self/status";
        if (File.Exists(procStatus))
        {
            var line = File.ReadLines(procStatus).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kib))
            {
                return kib * 1024;
            }
        }

        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    /// <summary>
    /// A disk-like image: per block, 30% incompressible (random), 30% compressible (log- and text-like records), 25%
    /// zero, 15% an exact copy of an earlier block (duplicated files). Every compressible block is unique.
    /// </summary>
    private sealed class ImageGenerator
    {
        private readonly Random _random;
        private readonly byte[] _corpus;
        private readonly List<int> _written = [];
        private readonly Dictionary<int, byte[]> _kept = [];
        private int _random30, _text30, _zero25, _dup15;

        public ImageGenerator(int seed)
        {
            _random = new Random(seed);
            _corpus = BuildCorpus(new Random(seed + 7), 8 << 20);
        }

        public void Fill(int index, Span<byte> block)
        {
            var kind = _random.Next(100);
            if (kind < 25)
            {
                block.Clear();
                _zero25++;
                return;
            }

            if (kind < 40 && _written.Count > 0)
            {
                _kept[_written[_random.Next(_written.Count)]].CopyTo(block);
                _dup15++;
                return;
            }

            if (kind < 70)
            {
                _random.NextBytes(block);
                _random30++;
            }
            else
            {
                var start = _random.Next(0, _corpus.Length - Block);
                _corpus.AsSpan(start, Block).CopyTo(block);
                for (var i = 0; i < 64; i++)
                {
                    block[_random.Next(Block)] = (byte)_random.Next(256);
                }

                BitConverter.TryWriteBytes(block, index);
                _text30++;
            }

            // keep a bounded pool of earlier blocks to duplicate
            if (_kept.Count < 64)
            {
                _written.Add(index);
                _kept[index] = block.ToArray();
            }
        }

        public string Describe() => $"{_random30} random, {_text30} compressible, {_zero25} zero, {_dup15} duplicate blocks";

        private static byte[] BuildCorpus(Random random, int length)
        {
            string[] words = ["GET", "POST", "/api/v1/orders", "/healthz", "200", "404", "500", "user", "session", "timeout", "INFO", "WARN", "ERROR",
                "db", "query", "took", "ms", "cache", "hit", "miss", "eu-west-1", "instance", "volume", "snapshot", "lifecycle", "retry", "ok", "failed"];
            var builder = new StringBuilder(length + 256);
            var time = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            while (builder.Length < length)
            {
                time = time.AddMilliseconds(random.Next(1, 5000));
                builder.Append(time.ToString("O")).Append(' ');
                for (var i = random.Next(4, 14); i > 0; i--)
                {
                    builder.Append(words[random.Next(words.Length)]).Append(i % 3 == 0 ? $"={random.Next(100000)} " : " ");
                }

                builder.Append('\n');
            }

            return Encoding.ASCII.GetBytes(builder.ToString(0, length));
        }
    }
}
