using System.Diagnostics;
using System.Security.Cryptography;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// A child process (tests/Lifecycle.LocalEngine.CrashHost) does snapshot, copy-before-write, copy, archive, tier
/// restore, delete and GC work and is SIGKILLed at random moments, 100 times on one data directory. After every kill
/// the store is opened (recovery), verified, every snapshot the child saw complete reads back exactly, and after a GC
/// no block or file is left unreferenced.
/// </summary>
public sealed class CrashTests
{
    /// <summary>
    /// SIGKILLs per run: 60 in the suite (one in three after a completed snapshot of the child's own, the others at
    /// random points), a figure chosen to keep the suite under ten minutes; <c>LIFECYCLE_CRASH_KILLS=N</c> runs more.
    /// </summary>
    private static readonly int Kills = int.TryParse(Environment.GetEnvironmentVariable("LIFECYCLE_CRASH_KILLS"), out var kills) && kills > 0 ? kills : 60;
    private const int Block = LocalRegion.BlockSize;

    [Fact]
    public async Task Store_SurvivesSigkillAtRandomPoints_WithNothingCommittedLost_AndNothingLeaked()
    {
        var root = Path.Combine(Path.GetTempPath(), "lifecycle-crash", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(root);
        var data = Path.Combine(root, "data");
        var journal = Path.Combine(root, "journal.txt");
        var host = Path.Combine(AppContext.BaseDirectory, "Lifecycle.LocalEngine.CrashHost.dll");
        Assert.True(File.Exists(host), $"crash host not built at {host}");
        var random = new Random(2026);
        var checkedSnapshots = 0;
        try
        {
            for (var kill = 0; kill < Kills; kill++)
            {
                var snapshotsBefore = SnapshotLines(journal);
                using (var child = Process.Start(new ProcessStartInfo("dotnet", [host, data, journal, kill.ToString(System.Globalization.CultureInfo.InvariantCulture)])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!)
                {
                    var errors = child.StandardError.ReadToEndAsync();
                    var ready = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                    if (ready != "ready")
                    {
                        Assert.Fail($"kill {kill}: child did not start: {ready} {await errors}");
                    }

                    // Every third child is killed only after it completed a snapshot of its own, so the checks cover
                    // committed work however slowly a loaded machine runs the child; the others die at random points.
                    if (kill % 3 == 0)
                    {
                        await Eventually.UntilAsync(() => Task.FromResult(SnapshotLines(journal)), n => n > snapshotsBefore,
                            $"kill {kill}: the child to complete a snapshot", TimeSpan.FromSeconds(60));
                    }

                    await Task.Delay(random.Next(20, 700));
                    if (child.HasExited)
                    {
                        Assert.Fail($"kill {kill}: child died on its own: {await errors}");
                    }

                    child.Kill(); // SIGKILL on Unix
                    await child.WaitForExitAsync();
                }

                checkedSnapshots += await CheckAsync(data, journal, root, kill);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        Assert.True(checkedSnapshots > Kills, $"only {checkedSnapshots} snapshot checks over {Kills} kills");
    }

    private static int SnapshotLines(string journalPath) =>
        File.Exists(journalPath) ? File.ReadLines(journalPath).Count(l => l.StartsWith("snap ", StringComparison.Ordinal)) : 0;

    private static async Task<int> CheckAsync(string data, string journalPath, string root, int kill)
    {
        var lines = File.Exists(journalPath) ? File.ReadAllLines(journalPath).Select(l => l.Split(' ')).ToList() : [];
        var deleting = lines.Where(p => p.Length == 3 && p[0] == "deleting").Select(p => (p[1], p[2])).ToHashSet();
        var expected = lines.Where(p => p.Length == 4 && p[0] == "snap").ToDictionary(p => (p[1], p[2]), p => p[3]);
        using var engine = LocalEngine.Open(new LocalEngineOptions { DataDirectory = data, KeyRingPath = Path.Combine(root, "crash-keyring.json") });
        var checkedCount = 0;
        foreach (var name in new[] { "crash-1", "crash-2" })
        {
            var region = engine.Region(name);
            var before = await region.VerifyAsync();
            Assert.True(before.Ok, $"kill {kill}, {name}: verify after recovery failed:\n{string.Join("\n", before.Errors)}");
            var snapshots = (await region.DescribeSnapshotsAsync()).ToDictionary(s => s.Id);
            Assert.DoesNotContain(snapshots.Values, s => s.State == SnapshotState.Pending);
            foreach (var ((regionName, id), hash) in expected.Where(e => e.Key.Item1 == name))
            {
                if (!snapshots.TryGetValue(id, out var snapshot))
                {
                    Assert.True(deleting.Contains((regionName, id)), $"kill {kill}: completed snapshot {name}/{id} is gone without a delete");
                    continue;
                }

                Assert.Equal(SnapshotState.Completed, snapshot.State);
                if (snapshot.Tier == StorageTier.Archive)
                {
                    await region.RestoreSnapshotTierAsync(id, 1); // read it back through the archive copy
                }

                var content = new byte[16 * Block]; // the crash host's volumes are 16 blocks
                await region.ReadSnapshotAsync(id, 0, content);
                Assert.True(hash == Convert.ToHexStringLower(SHA256.HashData(content)), $"kill {kill}: snapshot {name}/{id} does not read back as its volume was at its start");
                checkedCount++;
            }

            await region.CollectGarbageAsync();
            var after = await region.VerifyAsync(readDataSubset: 0.25);
            Assert.True(after.Ok, $"kill {kill}, {name}: verify after GC failed:\n{string.Join("\n", after.Errors)}");
            Assert.Equal(0, after.UnreferencedBlocks);
            Assert.Equal(0, after.OrphanFiles);
        }

        return checkedCount;
    }
}
