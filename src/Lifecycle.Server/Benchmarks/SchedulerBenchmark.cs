using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Quartz;
using SchedulingOptions = Lifecycle.Scheduling.Configuration.SchedulingOptions;

namespace Lifecycle.Server.Benchmarks;

public sealed record SchedulerBenchOptions
{
    /// <summary>sqlite or postgres.</summary>
    public string Store { get; init; } = "sqlite";

    /// <summary>For postgres: the server (a fresh database is created on it for the run).</summary>
    public string? DatabaseUrl { get; init; }

    public int Volumes { get; init; } = 1000;

    /// <summary>The volumes are split over this many policies (each fires every minute).</summary>
    public int Policies { get; init; } = 20;

    /// <summary>Minute fires to measure.</summary>
    public int Fires { get; init; } = 2;

    public int Threads { get; init; } = SchedulingOptions.DefaultMaxConcurrency;

    /// <summary>
    /// local: the scheduler calls the engine in process. endpoint: through the AWS provider (AWSSDK.EC2, SigV4) and the
    /// EC2-compatible endpoint on a loopback port, as a node of a cluster on the local engine does.
    /// </summary>
    public string Engine { get; init; } = "local";
}

public sealed record SchedulerBenchResult(
    string Store,
    int Volumes,
    int Fires,
    int SnapshotJobs,
    int FailedJobs,
    double JobsPerMinute,
    TimeSpan RunStartP50,
    TimeSpan RunStartP99,
    TimeSpan SnapshotStartP50,
    TimeSpan SnapshotStartP99,
    TimeSpan SnapshotStartMax,
    long PeakWorkingSetBytes)
{
    /// <summary>Where the fire→snapshot-start delay goes: fire → action row enqueued (p50, p99).</summary>
    public TimeSpan EnqueuedP50 { get; init; }

    public TimeSpan EnqueuedP99 { get; init; }

    /// <summary>Fire → the action's job started on a scheduler thread (p50, p99).</summary>
    public TimeSpan ActionStartP50 { get; init; }

    public TimeSpan ActionStartP99 { get; init; }

    /// <summary>How long an action job holds its scheduler thread: start → finished (create, then wait for completion).</summary>
    public TimeSpan ActionDurationP50 { get; init; }

    public TimeSpan ActionDurationP99 { get; init; }

    /// <summary>
    /// Fire → snapshot start per measured fire. The first fire after a start also pays for the JIT compiling the hot
    /// paths, so it is shown apart from the ones after it.
    /// </summary>
    public IReadOnlyList<FireDelays> PerFire { get; init; } = [];
}

/// <summary>One measured fire: its time and the fire → snapshot start delays of its creates.</summary>
public sealed record FireDelays(DateTimeOffset Fire, int Snapshots, TimeSpan P50, TimeSpan P99, TimeSpan Max);

/// <summary>
/// `lifecycle bench scheduler`: one node, the real Quartz store (SQLite or PostgreSQL), the real executor and the
/// local engine with N volumes under minute-level policies. Measures snapshot jobs per minute (creates finished per
/// minute of busy time), the delay from a scheduled fire to the policy run's start, and from the fire to each
/// snapshot's start time.
/// </summary>
public static class SchedulerBenchmark
{
    private const string Region = "bench-1";

    public static async Task<SchedulerBenchResult> RunAsync(SchedulerBenchOptions options, TextWriter progress, CancellationToken cancellationToken = default)
    {
        var root = Path.Combine(Path.GetTempPath(), "lifecycle-bench-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        string? database = null;
        try
        {
            using var engine = LocalEngine.LocalEngine.Open(new LocalEngine.LocalEngineOptions { DataDirectory = Path.Combine(root, "engine") });
            var created = Stopwatch.StartNew();
            for (var i = 0; i < options.Volumes; i++)
            {
                var tags = new Dictionary<string, string> { ["bench"] = "true", ["group"] = (i % options.Policies).ToString(CultureInfo.InvariantCulture) };
                var volume = await engine.Region(Region).CreateVolumeAsync("bench-1a", LocalEngine.LocalRegion.BlockSize * 2L, tags, cancellationToken: cancellationToken).ConfigureAwait(false);
                await engine.Region(Region).WriteAsync(volume.Id, 0, RandomBlock(), cancellationToken).ConfigureAwait(false);
            }

            await progress.WriteLineAsync($"seeded {options.Volumes} volumes in {created.Elapsed.TotalSeconds:0.0}s").ConfigureAwait(false);
            StoreOptions store;
            if (options.Store == "postgres")
            {
                (store, database) = await CreatePostgresDatabaseAsync(options.DatabaseUrl
                    ?? throw new ArgumentException("--store postgres needs --database postgres://... (tests/postgres.sh start prints one)"), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                store = StoreOptions.From(Path.Combine(root, "data"), null);
            }

            await using var endpoint = options.Engine == "endpoint" ? await EndpointHost.StartAsync(engine, root, Region, cancellationToken).ConfigureAwait(false) : null;
            using var aws = endpoint?.Provider();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Services.AddLifecycleScheduling(
                new SchedulingOptions { Store = store, MaxConcurrency = options.Threads, CatchUpOnStart = false, NodeName = "bench" },
                EngineRegistry.Single(EngineKind.Local, (IProviderRegistry?)aws ?? engine), new YamlPolicySetParser());
            using var host = builder.Build();
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            var scheduler = await host.Services.GetRequiredService<ISchedulerFactory>().GetScheduler(cancellationToken).ConfigureAwait(false);
            var applier = host.Services.GetRequiredService<PolicyApplier>();
            var sources = Enumerable.Range(0, options.Policies).Select(i => new PolicySource($"bench-{i}.yaml", $$"""
                apiVersion: lifecycle/v1
                kind: SnapshotPolicy
                metadata: { name: bench-{{i}} }
                spec:
                  engine: local
                  regions: [{{Region}}]
                  targets: { tags: { bench: "true", group: "{{i}}" } }
                  schedules:
                    - name: minutely
                      cron: "* * * * *"
                      retain: { count: 100 }
                """)).ToImmutableArray();
            var applied = await applier.ApplyAsync(scheduler, new ApplyRequest { Sources = sources, Author = "bench", CatchUp = false }, cancellationToken).ConfigureAwait(false);
            if (applied.Status != ApplyResult.Applied)
            {
                throw new InvalidOperationException($"bench policies not applied: {applied.Status} {applied.Refusal} {string.Join("; ", applied.Diagnostics)}");
            }

            // No catch-up on apply: only scheduled fires are measured.
            var runStore = host.Services.GetRequiredService<RunStore>();
            await WaitIdleAsync(runStore, TimeSpan.Zero, progress, cancellationToken).ConfigureAwait(false);
            var now = TimeProvider.System.GetUtcNow();
            var firstFire = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            var lastFire = firstFire.AddMinutes(options.Fires - 1);
            await progress.WriteLineAsync($"measuring fires {firstFire:HH:mm}..{lastFire:HH:mm} UTC").ConfigureAwait(false);
            var peak = 0L;
            while (TimeProvider.System.GetUtcNow() < lastFire.AddSeconds(5))
            {
                peak = Math.Max(peak, Process.GetCurrentProcess().WorkingSet64);
                await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
            }

            // No fire after the measured ones: pause the policies, then let the measured work finish.
            await scheduler.PauseJobGroups(GroupMatcher<JobKey>.GroupEquals(Lifecycle.Scheduling.Jobs.JobKeys.PolicyGroup), cancellationToken).ConfigureAwait(false);
            await WaitIdleAsync(runStore, TimeSpan.FromSeconds(2), progress, cancellationToken).ConfigureAwait(false);
            peak = Math.Max(peak, Process.GetCurrentProcess().WorkingSet64);

            var runs = (await runStore.ListRunsAsync(new RunFilter { Limit = 100_000 }, cancellationToken).ConfigureAwait(false))
                .Where(r => r.Kind == "fire" && r.FireTime >= firstFire && r.FireTime <= lastFire).ToList();
            var runIds = runs.Select(r => r.Id).ToHashSet();
            var actions = (await runStore.ListActionsAsync(new ActionFilter { Kind = "create", Limit = 1_000_000 }, cancellationToken).ConfigureAwait(false))
                .Where(a => runIds.Contains(a.RunId)).ToList();
            var snapshots = (await engine.Region(Region).DescribeSnapshotsAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
                .ToDictionary(s => s.Id);
            var snapshotStarts = actions
                .Where(a => a.ResultSnapshotId is not null && snapshots.ContainsKey(a.ResultSnapshotId) && a.FireTime is not null)
                .Select(a => (Fire: a.FireTime!.Value, Delay: snapshots[a.ResultSnapshotId!].StartTime - a.FireTime!.Value)).ToList();
            var snapshotDelays = snapshotStarts.Select(s => s.Delay).Order().ToList();
            var perFire = snapshotStarts.GroupBy(s => s.Fire).OrderBy(g => g.Key).Select(g =>
            {
                var delays = g.Select(s => s.Delay).Order().ToList();
                return new FireDelays(g.Key, delays.Count, Percentile(delays, 0.50), Percentile(delays, 0.99), delays[^1]);
            }).ToList();
            var runDelays = runs.Select(r => r.StartedAt - r.FireTime!.Value).Order().ToList();
            var enqueuedDelays = actions.Where(a => a.FireTime is not null).Select(a => a.EnqueuedAt - a.FireTime!.Value).Order().ToList();
            var actionStartDelays = actions.Where(a => a.FireTime is not null && a.StartedAt is not null)
                .Select(a => a.StartedAt!.Value - a.FireTime!.Value).Order().ToList();
            var actionDurations = actions.Where(a => a.StartedAt is not null && a.FinishedAt is not null)
                .Select(a => a.FinishedAt!.Value - a.StartedAt!.Value).Order().ToList();
            var succeeded = actions.Where(a => a.State == ActionStates.Succeeded).ToList();

            // Busy time: per fire, from the fire to the last create's finish; jobs/min = creates / busy minutes.
            var busy = TimeSpan.Zero;
            foreach (var fire in succeeded.GroupBy(a => a.FireTime!.Value))
            {
                busy += fire.Max(a => a.FinishedAt!.Value) - fire.Key;
            }

            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return new SchedulerBenchResult(
                options.Store, options.Volumes, options.Fires, succeeded.Count, actions.Count - succeeded.Count,
                busy > TimeSpan.Zero ? succeeded.Count / busy.TotalMinutes : 0,
                Percentile(runDelays, 0.50), Percentile(runDelays, 0.99),
                Percentile(snapshotDelays, 0.50), Percentile(snapshotDelays, 0.99), snapshotDelays.LastOrDefault(), peak)
            {
                EnqueuedP50 = Percentile(enqueuedDelays, 0.50),
                EnqueuedP99 = Percentile(enqueuedDelays, 0.99),
                ActionStartP50 = Percentile(actionStartDelays, 0.50),
                ActionStartP99 = Percentile(actionStartDelays, 0.99),
                ActionDurationP50 = Percentile(actionDurations, 0.50),
                ActionDurationP99 = Percentile(actionDurations, 0.99),
                PerFire = perFire,
            };
        }
        finally
        {
            if (database is not null && options.DatabaseUrl is not null)
            {
                await DropPostgresDatabaseAsync(options.DatabaseUrl, database).ConfigureAwait(false);
            }

            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task WaitIdleAsync(RunStore store, TimeSpan settle, TextWriter progress, CancellationToken cancellationToken)
    {
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromMinutes(10);
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            var open = (await store.ListActionsAsync(new ActionFilter { State = ActionStates.Enqueued, Limit = 1 }, cancellationToken).ConfigureAwait(false)).Count
                + (await store.ListActionsAsync(new ActionFilter { State = ActionStates.Running, Limit = 1 }, cancellationToken).ConfigureAwait(false)).Count
                + (await store.ListActionsAsync(new ActionFilter { State = ActionStates.Completing, Limit = 1 }, cancellationToken).ConfigureAwait(false)).Count
                + (await store.ListRunsAsync(new RunFilter { State = RunStates.Running, Limit = 1 }, cancellationToken).ConfigureAwait(false)).Count;
            if (open == 0)
            {
                await Task.Delay(settle, cancellationToken).ConfigureAwait(false);
                return;
            }

            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }

        await progress.WriteLineAsync("warning: actions still open after 10 minutes").ConfigureAwait(false);
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double p) =>
        sorted.Count == 0 ? TimeSpan.Zero : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static byte[] RandomBlock()
    {
        var block = new byte[LocalEngine.LocalRegion.BlockSize];
        Random.Shared.NextBytes(block);
        return block;
    }

    private static async Task<(StoreOptions Store, string Database)> CreatePostgresDatabaseAsync(string url, CancellationToken cancellationToken)
    {
        var admin = StoreOptions.ForPostgres(url);
        var database = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var builder = new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database };
        return (new StoreOptions(StoreDialect.Postgres, builder.ConnectionString), database);
    }

    private static async Task DropPostgresDatabaseAsync(string url, string database)
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(StoreOptions.ForPostgres(url).ConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
