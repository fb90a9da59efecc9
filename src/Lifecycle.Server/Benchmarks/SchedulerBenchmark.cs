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
    /// Snapshots each volume already has, owned by its policy from earlier minutes (the policies keep 100): what a fire
    /// meets once a retain-count policy has run for a while, rather than a region with no snapshots.
    /// </summary>
    public int Retained { get; init; }

    /// <summary>The start rehearsal that `lifecycle serve` runs (<see cref="Lifecycle.Scheduling.Execution.FireRehearsal"/>); off to measure a start without it.</summary>
    public bool Rehearse { get; init; } = true;

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
public sealed record FireDelays(DateTimeOffset Fire, int Snapshots, TimeSpan P50, TimeSpan P99, TimeSpan Max)
{
    /// <summary>The first of the fire's creates to start: a one-time stall delays it, a busy machine the later ones.</summary>
    public TimeSpan First { get; init; }

    /// <summary>Fire → the first of the fire's actions claimed by a job.</summary>
    public TimeSpan FirstJobStart { get; init; }

    /// <summary>
    /// The steps of the action whose snapshot started first, from the fire: recorded in the run store, its Hangfire job
    /// enqueued, taken by a worker (processing), claimed in the run store, snapshot started. Where a one-time stall is.
    /// </summary>
    public string FirstSteps { get; init; } = "";

    /// <summary>Fire → the action's job claiming it (its wait for a worker), p50 and p99.</summary>
    public TimeSpan JobStartP50 { get; init; }

    public TimeSpan JobStartP99 { get; init; }

    /// <summary>What the whole process spent in the <see cref="FireWork.Window"/> from the fire (null if not sampled).</summary>
    public FireWork? Work { get; init; }
}

/// <summary>
/// The process's work in a window from a fire (<see cref="Window"/>, as measured): CPU (user and system, all threads;
/// <see cref="Cores"/> is how many the machine has), bytes allocated, collections per generation and time paused by the
/// GC. Less noisy than the delays on a shared machine, and it says where a fire's time goes.
/// </summary>
public sealed record FireWork(TimeSpan Window, TimeSpan Cpu, int Cores, long AllocatedBytes, int Gen0, int Gen1, int Gen2, TimeSpan GcPause)
{
    public static FireWork Between(ProcessSample start, ProcessSample end) => new(
        Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp), end.Cpu - start.Cpu, Environment.ProcessorCount, end.Allocated - start.Allocated,
        end.Gen0 - start.Gen0, end.Gen1 - start.Gen1, end.Gen2 - start.Gen2, end.GcPause - start.GcPause);

    /// <summary>The share of the machine's cores the process used in the window.</summary>
    public double Utilization => Cpu / (Window * Cores);
}

/// <summary>The process's counters at one instant (see <see cref="FireWork"/>).</summary>
public readonly record struct ProcessSample(long Timestamp, TimeSpan Cpu, long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan GcPause)
{
    public static ProcessSample Now()
    {
        using var self = Process.GetCurrentProcess();
        return new(Stopwatch.GetTimestamp(), self.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0),
            GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
    }
}

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
            if (options.Retained > 0)
            {
                await SeedRetainedAsync(engine.Region(Region), options, progress, cancellationToken).ConfigureAwait(false);
            }

            // The seed's garbage (100,000 creates' worth with --retained 100) is not the server's: a started server has
            // none of it, and the first measured fire would otherwise pay for collecting it.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);

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
            // The policies' first fire comes at least MinimumLead after the server's start work (apply, rehearsal),
            // not during it: how close to a minute the seed ends is chance, and the fires are every minute.
            var started = TimeProvider.System.GetUtcNow();
            if (60 - started.Second - started.Millisecond / 1000.0 < MinimumLead.TotalSeconds)
            {
                await Task.Delay(TimeSpan.FromSeconds(61 - started.Second), cancellationToken).ConfigureAwait(false);
            }

            var applied = await applier.ApplyAsync(scheduler, new ApplyRequest { Sources = sources, Author = "bench", CatchUp = false }, cancellationToken).ConfigureAwait(false);
            if (applied.Status != ApplyResult.Applied)
            {
                throw new InvalidOperationException($"bench policies not applied: {applied.Status} {applied.Refusal} {string.Join("; ", applied.Diagnostics)}");
            }

            // No catch-up on apply: only scheduled fires are measured.
            var runStore = host.Services.GetRequiredService<RunStore>();
            await WaitIdleAsync(runStore, TimeSpan.Zero, progress, cancellationToken).ConfigureAwait(false);
            if (options.Rehearse)
            {
                // What serve does once started (its policy directory applied during the start): rehearse the next fire.
                var rehearsal = await host.Services.GetRequiredService<Lifecycle.Scheduling.Execution.FireRehearsal>().RunAsync(cancellationToken).ConfigureAwait(false);
                await progress.WriteLineAsync($"start rehearsal: {rehearsal.Policies} policies, {rehearsal.PlannedCreates} creates planned, {rehearsal.TokenLookups} token lookups, {rehearsal.FailedReads} failed reads, in {rehearsal.Elapsed.TotalSeconds:0.0}s").ConfigureAwait(false);
            }

            var now = TimeProvider.System.GetUtcNow();
            var firstFire = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            var lastFire = firstFire.AddMinutes(options.Fires - 1);
            await progress.WriteLineAsync($"measuring fires {firstFire:HH:mm}..{lastFire:HH:mm} UTC").ConfigureAwait(false);
            var work = MeasureFiresAsync(firstFire, options.Fires, cancellationToken);
            var peak = 0L;
            while (TimeProvider.System.GetUtcNow() < lastFire.AddSeconds(5))
            {
                peak = Math.Max(peak, Process.GetCurrentProcess().WorkingSet64);
                await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
            }

            var fireWork = await work.ConfigureAwait(false);

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
            var monitoring = host.Services.GetRequiredService<Hangfire.JobStorage>().GetMonitoringApi();
            string FirstSteps(DateTimeOffset fire)
            {
                var first = actions.Where(a => a.FireTime == fire && a.ResultSnapshotId is not null && snapshots.ContainsKey(a.ResultSnapshotId))
                    .MinBy(a => snapshots[a.ResultSnapshotId!].StartTime);
                if (first?.Job is null)
                {
                    return "";
                }

                var history = monitoring.JobDetails(first.Job)?.History ?? [];
                string At(DateTimeOffset? at) => at is { } t ? ((t - fire).TotalMilliseconds).ToString("0", CultureInfo.InvariantCulture) + " ms" : "?";
                DateTimeOffset? State(string name) => history.Where(h => h.StateName == name).Select(h => (DateTimeOffset?)new DateTimeOffset(h.CreatedAt, TimeSpan.Zero)).Min();
                return $"recorded {At(first.EnqueuedAt)}, job enqueued {At(State("Enqueued"))}, processing {At(State("Processing"))}, claimed {At(first.StartedAt)}, snapshot {At(snapshots[first.ResultSnapshotId!].StartTime)}";
            }

            var perFire = snapshotStarts.GroupBy(s => s.Fire).OrderBy(g => g.Key).Select(g =>
            {
                var delays = g.Select(s => s.Delay).Order().ToList();
                var jobStarts = actions.Where(a => a.FireTime == g.Key && a.StartedAt is not null).Select(a => a.StartedAt!.Value - g.Key).Order().ToList();
                return new FireDelays(g.Key, delays.Count, Percentile(delays, 0.50), Percentile(delays, 0.99), delays[^1])
                {
                    First = delays[0],
                    FirstJobStart = jobStarts.FirstOrDefault(),
                    FirstSteps = FirstSteps(g.Key),
                    JobStartP50 = Percentile(jobStarts, 0.50),
                    JobStartP99 = Percentile(jobStarts, 0.99),
                    Work = fireWork.GetValueOrDefault(g.Key),
                };
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

    /// <summary>
    /// Gives every volume <see cref="SchedulerBenchOptions.Retained"/> completed snapshots, tagged as its policy's
    /// minutely schedule tags them, one per minute before now (so none is for a measured fire).
    /// </summary>
    private static async Task SeedRetainedAsync(LocalEngine.LocalRegion region, SchedulerBenchOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var volumes = await region.DescribeVolumesAsync(TagFilter.Key("bench", "true"), cancellationToken).ConfigureAwait(false);
        var now = TimeProvider.System.GetUtcNow();
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        for (var age = options.Retained; age >= 1; age--)
        {
            var fire = minute.AddMinutes(-age);
            await Parallel.ForEachAsync(volumes, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (volume, ct) =>
            {
                var policy = "bench-" + volume.Tags["group"];
                var tags = ImmutableSortedDictionary<string, string>.Empty
                    .Add(Core.Planning.OwnershipTags.Policy, policy)
                    .Add(Core.Planning.OwnershipTags.Schedule, "minutely")
                    .Add(Core.Planning.OwnershipTags.Schedules, "minutely")
                    .Add(Core.Planning.OwnershipTags.FireTime, Core.Planning.OwnershipTags.FormatFireTime(fire))
                    .Add(Core.Planning.OwnershipTags.Token, Core.Planning.CreationToken.ForCreate(policy, "minutely", fire, volume.Id))
                    .Add(Core.Planning.OwnershipTags.Consistency, "crash");
                await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, tags, "retained"), ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }

        await region.WaitForBackgroundWorkAsync(cancellationToken).ConfigureAwait(false);
        await progress.WriteLineAsync($"seeded {options.Retained} retained snapshots per volume ({options.Retained * volumes.Length} in all) in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0}s").ConfigureAwait(false);
    }

    /// <summary>The least time between the policies' apply and their first fire (the set-up and rehearsal run in it).</summary>
    private static readonly TimeSpan MinimumLead = TimeSpan.FromSeconds(30);

    /// <summary>The window from a fire in which its process work is counted: the time its creates have to start.</summary>
    private static readonly TimeSpan FireWindow = TimeSpan.FromSeconds(2);

    /// <summary>Samples the process at each measured fire and <see cref="FireWindow"/> after it.</summary>
    private static async Task<Dictionary<DateTimeOffset, FireWork>> MeasureFiresAsync(DateTimeOffset firstFire, int fires, CancellationToken cancellationToken)
    {
        var work = new Dictionary<DateTimeOffset, FireWork>();
        for (var i = 0; i < fires; i++)
        {
            var fire = firstFire.AddMinutes(i);
            await DelayUntilAsync(fire, cancellationToken).ConfigureAwait(false);
            var start = ProcessSample.Now();
            await DelayUntilAsync(fire + FireWindow, cancellationToken).ConfigureAwait(false);
            work[fire] = FireWork.Between(start, ProcessSample.Now());
        }

        return work;
    }

    private static async Task DelayUntilAsync(DateTimeOffset at, CancellationToken cancellationToken)
    {
        var wait = at - TimeProvider.System.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
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
