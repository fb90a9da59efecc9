using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Simulation;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Server.Views;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Benchmarks;

public sealed record ViewsBenchOptions
{
    public int Runs { get; init; } = 100_000;

    public int Snapshots { get; init; } = 1_000_000;

    public int Policies { get; init; } = 10;

    public int VolumesPerPolicy { get; init; } = 1_000;

    /// <summary>Measured requests per page (after <see cref="Warmup"/> unmeasured ones).</summary>
    public int Iterations { get; init; } = 50;

    public int Warmup { get; init; } = 5;
}

public sealed record ViewsPageTiming(string Page, int Bytes, TimeSpan P50, TimeSpan P99, TimeSpan Max);

public sealed record ViewsBenchResult(
    int Runs, int Actions, int Snapshots, int Volumes, TimeSpan SeedRuns, TimeSpan SeedInventory, TimeSpan Plan, TimeSpan BuildView,
    long ManagedBytesAfterSeed, IReadOnlyList<ViewsPageTiming> Pages);

/// <summary>
/// <c>lifecycle bench views</c>: every backup view over a large store and inventory, through HTTP. A real server
/// (SQLite store, empty local engine) gets N policies applied through the API, the run store is seeded directly in
/// SQLite (100,000 runs with one action each, 1% failed), and the views' inventory is a synthetic provider inventory
/// of 1,000,000 snapshots (policies × volumes × snapshots per volume, two regions, 10% archived, the newest of one
/// policy's volumes fast-restore enabled) planned by the real planner and built into an <see cref="InventoryView"/>,
/// pinned in the server's cache: the pages read it as they read any refreshed view. Each page is then requested with
/// the admin token, warm-up first, and timed from request to the last byte.
/// </summary>
public static class ViewsBenchmark
{
    public static async Task<ViewsBenchResult> RunAsync(ViewsBenchOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        var root = Path.Combine(Path.GetTempPath(), "lifecycle-bench-views-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            await using var app = LifecycleServer.Build(new ServerOptions { DataDirectory = root, Urls = "http://127.0.0.1:0" }, TextWriter.Null, Microsoft.Extensions.Logging.LogLevel.Error);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(root, "admin-token"), cancellationToken).ConfigureAwait(false)).Trim());

            var names = Enumerable.Range(0, options.Policies).Select(i => $"bench-p{i}").ToList();
            var files = names.Select((name, i) => new
            {
                path = name + ".yaml",
                text = $$"""
                    apiVersion: lifecycle/v1
                    kind: SnapshotPolicy
                    metadata: { name: {{name}} }
                    spec:
                      engine: local
                      regions: [{{Region(i)}}]
                      targets: { tags: { bench-group: {{name}} } }
                      schedules:
                        - name: hourly
                          every: 1h
                          retain: { count: 90 }
                          archive: { after: { count: 90 }, retain: { age: 3y } }
                    """,
            }).ToList();
            using (var applied = await http.PostAsJsonAsync("/api/v1/policies:apply", new { files, revision = "bench", author = "bench views" }, cancellationToken).ConfigureAwait(false))
            {
                if (!applied.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"apply: {(int)applied.StatusCode} {await applied.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
                }
            }

            var set = await app.Services.GetRequiredService<AppliedPolicies>().GetAsync(cancellationToken).ConfigureAwait(false);
            var now = app.Services.GetRequiredService<TimeProvider>().GetUtcNow();

            log.WriteLine($"bench views: seeding {options.Runs:N0} runs and actions in {Path.Combine(root, "lifecycle.db")}…");
            var clock = Stopwatch.StartNew();
            await SeedRunsAsync(Path.Combine(root, "lifecycle.db"), names, options.Runs, now, cancellationToken).ConfigureAwait(false);
            var seedRuns = clock.Elapsed;

            log.WriteLine($"bench views: building an inventory of {options.Snapshots:N0} snapshots…");
            clock.Restart();
            var inventory = SyntheticInventory(names, options.VolumesPerPolicy, options.Snapshots, now);
            var seedInventory = clock.Elapsed;
            clock.Restart();
            var plan = new SnapshotPlanner().Plan(set.Policies, inventory, now);
            var planTime = clock.Elapsed;
            clock.Restart();
            var view = InventoryView.Build(set.Policies, inventory, plan, [], now, StoragePrices.Default, seedInventory + planTime, set.Seq);
            var buildTime = clock.Elapsed;
            log.WriteLine($"bench views: inventory {seedInventory.TotalSeconds:0.0} s, plan {planTime.TotalSeconds:0.0} s ({plan.Decisions.Length:N0} decisions), view {buildTime.TotalSeconds:0.0} s");
            app.Services.GetRequiredService<InventoryViewCache>().Pin(view);
            plan = null;
            inventory = null;
            GC.Collect();
            var managed = GC.GetTotalMemory(forceFullCollection: true);

            var pages = new (string Name, string Path)[]
            {
                ("policies", BackupViews.PoliciesPath),
                ("volumes", BackupViews.VolumesPath),
                ("volumes, one policy, page 5", $"{BackupViews.VolumesPath}?policy=bench-p3&page=5"),
                ("snapshots", BackupViews.SnapshotsPath),
                ("snapshots, region+tier, page 200", $"{BackupViews.SnapshotsPath}?region={Region(1)}&tier=standard&page=200&size=100"),
                ("snapshots, last page of all, 500 a page", $"{BackupViews.SnapshotsPath}?page={(options.Snapshots + 499) / 500}&size=500"),
                ("storage", BackupViews.StoragePath),
                ("revisions", BackupViews.RevisionsPath),
            };
            var timings = new List<ViewsPageTiming>();
            foreach (var (name, path) in pages)
            {
                var samples = new List<TimeSpan>();
                var bytes = 0;
                for (var i = 0; i < options.Warmup + options.Iterations; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    using var response = await http.GetAsync(path, cancellationToken).ConfigureAwait(false);
                    var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(body)}");
                    }

                    bytes = body.Length;
                    if (i >= options.Warmup)
                    {
                        samples.Add(elapsed);
                    }
                }

                samples.Sort();
                timings.Add(new ViewsPageTiming(name, bytes, Percentile(samples, 0.50), Percentile(samples, 0.99), samples[^1]));
            }

            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return new ViewsBenchResult(options.Runs, options.Runs, view.Snapshots.Length, view.Volumes.Length, seedRuns, seedInventory, planTime, buildTime, managed, timings);
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string Region(int policy) => policy % 2 == 0 ? "bench-a" : "bench-b";

    private static TimeSpan Percentile(List<TimeSpan> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>Runs (each with one create action, 1% failed), written straight into the store's tables in one transaction.</summary>
    private static async Task SeedRunsAsync(string database, IReadOnlyList<string> policies, int runs, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Default Timeout=30");
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var run = connection.CreateCommand();
        run.Transaction = transaction;
        run.CommandText = """
            INSERT INTO runs (id, policy, schedule, kind, fire_time, started_at, finished_at, state, node, actions_planned, message)
            VALUES ($id, $policy, 'hourly', 'fire', $fire, $started, $finished, $state, 'bench', 1, NULL)
            """;
        await using var action = connection.CreateCommand();
        action.Transaction = transaction;
        action.CommandText = """
            INSERT INTO actions (id, run_id, policy, schedule, kind, region, volume_ids, snapshot_id, token, fire_time, state, attempts, result_snapshot_id,
                                 consistency, error, payload, node, enqueued_at, started_at, finished_at, job)
            VALUES ($id, $run, $policy, 'hourly', 'create', 'bench-a', $volume, NULL, $id, $fire, $state, 1, NULL, 'crash', $error, '{}', 'bench', $started, $started, $finished, $job)
            """;
        var parameters = new[] { "$id", "$policy", "$fire", "$started", "$finished", "$state" }.ToDictionary(n => n, n => run.Parameters.Add(new SqliteParameter(n, null)));
        var actionParameters = new[] { "$id", "$run", "$policy", "$volume", "$fire", "$state", "$error", "$started", "$finished", "$job" }
            .ToDictionary(n => n, n => action.Parameters.Add(new SqliteParameter(n, null)));
        for (var i = 0; i < runs; i++)
        {
            var policy = policies[i % policies.Count];
            var started = now.AddMinutes(-(runs - i)).ToUnixTimeMilliseconds();
            var failed = i % 100 == 7;
            parameters["$id"].Value = $"run-bench-{i:D7}";
            parameters["$policy"].Value = policy;
            parameters["$fire"].Value = started;
            parameters["$started"].Value = started;
            parameters["$finished"].Value = started + 2_000;
            parameters["$state"].Value = failed ? "failed" : "succeeded";
            await run.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            actionParameters["$id"].Value = $"create-bench-{i:D7}";
            actionParameters["$run"].Value = $"run-bench-{i:D7}";
            actionParameters["$policy"].Value = policy;
            actionParameters["$volume"].Value = $"vol-{i % 1000:D17}";
            actionParameters["$fire"].Value = started;
            actionParameters["$state"].Value = failed ? "failed" : "succeeded";
            actionParameters["$error"].Value = failed ? "InternalError: the bench says so" : DBNull.Value;
            actionParameters["$started"].Value = started;
            actionParameters["$finished"].Value = started + 2_000;
            actionParameters["$job"].Value = (i + 1).ToString(CultureInfo.InvariantCulture);
            await action.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Policies × volumes × (snapshots / volumes) hourly snapshots per volume, newest first an hour apart; the oldest
    /// tenth archived; the newest of the first policy's volumes fast-restore enabled in one zone.
    /// </summary>
    private static Inventory SyntheticInventory(IReadOnlyList<string> policies, int volumesPerPolicy, int snapshots, DateTimeOffset now)
    {
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>(policies.Count * volumesPerPolicy);
        var perVolume = Math.Max(1, snapshots / (policies.Count * volumesPerPolicy));
        var rows = ImmutableArray.CreateBuilder<SnapshotInfo>(policies.Count * volumesPerPolicy * perVolume);
        var latestFire = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero);
        var fast = ImmutableSortedDictionary<string, FastRestoreState>.Empty.Add("bench-aa", FastRestoreState.Enabled);
        for (var p = 0; p < policies.Count; p++)
        {
            var region = Region(p);
            var volumeTags = ImmutableSortedDictionary<string, string>.Empty.Add("bench-group", policies[p]);
            for (var v = 0; v < volumesPerPolicy; v++)
            {
                var volumeId = $"vol-{p:D3}{v:D14}";
                volumes.Add(new VolumeInfo { Id = volumeId, Region = region, Zone = region + "a", SizeGiB = 100, Tags = volumeTags });
                for (var s = 0; s < perVolume; s++)
                {
                    var fire = latestFire.AddHours(-s);
                    var archived = s >= perVolume - perVolume / 10;
                    rows.Add(new SnapshotInfo
                    {
                        Id = $"snap-{p:D3}{v:D6}{s:D8}",
                        VolumeId = volumeId,
                        Region = region,
                        StartTime = fire,
                        Tier = archived ? StorageTier.Archive : StorageTier.Standard,
                        ArchivedAt = archived ? fire.AddHours(1) : null,
                        VolumeSizeGiB = 100,
                        StoredBytes = ((s * 7919L + v) % 100 + 1) * 1024 * 1024,
                        FullSizeBytes = 100L * 1024 * 1024 * 1024,
                        Tags = ImmutableSortedDictionary<string, string>.Empty
                            .Add(OwnershipTags.Policy, policies[p]).Add(OwnershipTags.Schedule, "hourly").Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire)),
                        FastRestore = p == 0 && s == 0 ? fast : ImmutableSortedDictionary<string, FastRestoreState>.Empty,
                    });
                }
            }
        }

        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = rows.ToImmutable() };
    }
}
