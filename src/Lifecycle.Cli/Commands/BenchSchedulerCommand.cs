using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Server.Benchmarks;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench scheduler --store sqlite|postgres [--database URL] [--volumes 1000] [--policies 20] [--fires 2]</c>:
/// snapshot jobs per minute one node sustains and the fire→start delays (see <see cref="SchedulerBenchmark"/>).
/// Takes about <c>fires + 1</c> minutes (real minute schedules). Exit codes: 0 ok, 1 failure, 2 usage.
/// </summary>
public static class BenchSchedulerCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "sqlite or postgres", DefaultValueFactory = _ => "sqlite" };
        var database = new Option<string?>("--database") { Description = "For postgres: postgres://user@host:port/db (a scratch database is created on it)" };
        var volumes = new Option<int>("--volumes") { Description = "Volumes on the local engine", DefaultValueFactory = _ => 1000 };
        var policies = new Option<int>("--policies") { Description = "Minute-level policies the volumes are split over", DefaultValueFactory = _ => 20 };
        var fires = new Option<int>("--fires") { Description = "Minute fires to measure", DefaultValueFactory = _ => 2 };
        var threads = new Option<int>("--threads") { Description = "Hangfire workers for creates (serve's --max-concurrency)", DefaultValueFactory = _ => Lifecycle.Scheduling.Configuration.SchedulingOptions.DefaultMaxConcurrency };
        var retained = new Option<int>("--retained") { Description = "Snapshots each volume already has from earlier fires, owned by its policy (the steady state of a retain-count policy)", DefaultValueFactory = _ => 0 };
        var engine = new Option<string>("--engine") { Description = "local (calls in process) or endpoint (the AWS provider through the EC2-compatible endpoint on loopback)", DefaultValueFactory = _ => "local" };
        var noRehearsal = new Option<bool>("--no-rehearsal") { Description = "Start without the rehearsal of the next fire that serve runs (to measure a cold first fire)" };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("scheduler", "Snapshot jobs per minute, fire→start delay, and each fire's CPU, allocations and GC, of one node on SQLite or PostgreSQL")
        {
            store, database, volumes, policies, fires, threads, retained, engine, noRehearsal, output,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            var options = new SchedulerBenchOptions
            {
                Store = parseResult.GetValue(store)!,
                DatabaseUrl = parseResult.GetValue(database),
                Volumes = parseResult.GetValue(volumes),
                Policies = parseResult.GetValue(policies),
                Fires = parseResult.GetValue(fires),
                Threads = parseResult.GetValue(threads),
                Retained = parseResult.GetValue(retained),
                Engine = parseResult.GetValue(engine)!,
                Rehearse = !parseResult.GetValue(noRehearsal),
            };
            var format = parseResult.GetValue(output);
            if (options.Store is not ("sqlite" or "postgres") || options.Engine is not ("local" or "endpoint") || format is not ("text" or "json") || options.Volumes < 1 || options.Policies < 1
                || options.Fires < 1 || options.Threads is < 1 or > 256 || options.Retained is < 0 or > 1000)
            {
                await stderr.WriteLineAsync("error: --store sqlite|postgres, --engine local|endpoint, --output text|json, positive --volumes/--policies/--fires, --threads 1..256, --retained 0..1000").ConfigureAwait(false);
                return 2;
            }

            try
            {
                var result = await SchedulerBenchmark.RunAsync(options, stderr, cancellationToken).ConfigureAwait(false);
                if (format == "json")
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true })).ConfigureAwait(false);
                }
                else
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"""
                        scheduler bench: store {result.Store}, engine {options.Engine}, {result.Volumes} volumes with {options.Retained} retained snapshot(s) each, {result.Fires} minute fire(s)
                          snapshot jobs          {result.SnapshotJobs} succeeded, {result.FailedJobs} failed
                          throughput             {result.JobsPerMinute:0} snapshot jobs/minute (one node)
                          fire → run start       p50 {result.RunStartP50.TotalMilliseconds:0} ms, p99 {result.RunStartP99.TotalMilliseconds:0} ms
                            fire → action queued p50 {result.EnqueuedP50.TotalMilliseconds:0} ms, p99 {result.EnqueuedP99.TotalMilliseconds:0} ms
                            fire → action job    p50 {result.ActionStartP50.TotalMilliseconds:0} ms, p99 {result.ActionStartP99.TotalMilliseconds:0} ms
                            action job duration  p50 {result.ActionDurationP50.TotalMilliseconds:0} ms, p99 {result.ActionDurationP99.TotalMilliseconds:0} ms
                          fire → snapshot start  p50 {result.SnapshotStartP50.TotalMilliseconds:0} ms, p99 {result.SnapshotStartP99.TotalMilliseconds:0} ms, max {result.SnapshotStartMax.TotalMilliseconds:0} ms
                          peak working set       {result.PeakWorkingSetBytes / (1024.0 * 1024):0} MiB
                        """)).ConfigureAwait(false);
                    foreach (var (fire, i) in result.PerFire.Select((f, i) => (f, i)))
                    {
                        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"  fire {fire.Fire:HH:mm}{(i == 0 ? " (first after start)" : ""),-20} {fire.Snapshots} snapshots, start p50 {fire.P50.TotalMilliseconds:0} ms, p99 {fire.P99.TotalMilliseconds:0} ms, max {fire.Max.TotalMilliseconds:0} ms")).ConfigureAwait(false);
                        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"    first action claimed {fire.FirstJobStart.TotalMilliseconds:0} ms, first create {fire.First.TotalMilliseconds:0} ms; action job claimed p50 {fire.JobStartP50.TotalMilliseconds:0} ms, p99 {fire.JobStartP99.TotalMilliseconds:0} ms")).ConfigureAwait(false);
                        if (fire.FirstSteps.Length > 0)
                        {
                            await stdout.WriteLineAsync("    its first create: " + fire.FirstSteps).ConfigureAwait(false);
                        }

                        if (fire.Work is { } work)
                        {
                            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                                $"    in its first {work.Window.TotalSeconds:0.00} s: {work.Cpu.TotalSeconds:0.00} CPU-s ({work.Utilization * 100:0}% of {work.Cores} cores), {work.AllocatedBytes / (1024.0 * 1024):0} MiB allocated, GCs gen0/1/2 {work.Gen0}/{work.Gen1}/{work.Gen2}, paused {work.GcPause.TotalMilliseconds:0} ms")).ConfigureAwait(false);
                        }
                    }
                }

                return result.FailedJobs == 0 && result.SnapshotJobs > 0 ? 0 : 1;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                await stderr.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
