using System.Collections.Immutable;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Telemetry;
using Lifecycle.Server.Hosting;
using Lifecycle.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Benchmarks;

public sealed record MetricsBenchOptions
{
    public int Snapshots { get; init; } = 1_000_000;

    public int Volumes { get; init; } = 10_000;

    public int Policies { get; init; } = 20;

    public int Scrapes { get; init; } = 200;
}

public sealed record MetricsBenchResult(
    int Snapshots, int Volumes, int Policies, TimeSpan Generate, IReadOnlyList<TimeSpan> Aggregations,
    int Scrapes, ScrapeTimes Quiet, ScrapeTimes DuringRefresh, long ResponseBytes, int Series, int NewestSeries, long PeakWorkingSetBytes);

/// <summary>Scrape times (request to last byte) of one series of scrapes.</summary>
public sealed record ScrapeTimes(TimeSpan P50, TimeSpan P99, TimeSpan Max);

/// <summary>
/// <c>lifecycle bench metrics</c>: what /metrics costs over a large inventory. An inventory of N owned snapshots
/// (policies × volumes × an hourly schedule, every tenth hour a DR copy in another region, a tenth archived, 0.1% of the newest pending,
/// every snapshot with its own ownership tags) is generated in memory, as the background refresh receives it from
/// the engines; the refresh's aggregation (<see cref="InventoryMetrics.Compute"/>) is timed, its result published,
/// and /metrics is scraped over HTTP on loopback through the server's own route and exporter, timed from the request
/// to the answer's last byte. The engine's read of the inventory is not part of it (the refresh does that in the
/// background, and `lifecycle bench ec2-describe` measures it: about 3.5 s per 100,000 snapshots through /ec2).
/// </summary>
public static class MetricsBenchmark
{
    public static async Task<MetricsBenchResult> RunAsync(MetricsBenchOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var now = TimeProvider.System.GetUtcNow();
        var generate = Stopwatch.StartNew();
        var (policies, inventory) = Generate(options, now);
        generate.Stop();
        await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"metrics bench: {inventory.Snapshots.Length} snapshots of {inventory.Volumes.Length} volumes under {policies.Policies.Length} policies generated in {generate.Elapsed.TotalSeconds:0.0} s")).ConfigureAwait(false);

        var aggregations = new List<TimeSpan>();
        InventoryGauges? gauges = null;
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            gauges = InventoryMetrics.Compute(policies, inventory, now, gauges?.CountKeys);
            aggregations.Add(watch.Elapsed);
        }

        foreach (var policy in policies.Policies)
        {
            LifecycleMetrics.DeclarePolicy(policy.Name);
        }

        LifecycleMetrics.PublishState(new MetricsState
        {
            Snapshots = gauges!.Snapshots,
            StoredBytes = gauges.StoredBytes,
            Newest = gauges.Newest,
            Intervals = gauges.Intervals,
            Healthy = [new Measurement<long>(1)],
        });

        MetricsEndpoint.ConfigureExporter();
        var builder = WebApplication.CreateSlimBuilder(ServerHostOptions.Options());
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddAuthorization();
        await using var app = builder.Build();
        app.UseRouting();
        app.UseAuthorization();
        app.MapLifecycleMetrics(anonymous: true);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
            // The first scrape creates the exporter's series; it is timed apart (a server's first scrape after start).
            var first = Stopwatch.StartNew();
            var text = await client.GetStringAsync(MetricsEndpoint.Path, cancellationToken).ConfigureAwait(false);
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  first scrape {first.Elapsed.TotalMilliseconds:0} ms")).ConfigureAwait(false);
            var quiet = await ScrapeAsync(client, options.Scrapes, cancellationToken).ConfigureAwait(false);

            // The same while the aggregation runs again and again beside it: the worst case of a scrape that meets the
            // background refresh (which runs every 30 s in a server) and its garbage.
            using var stop = new CancellationTokenSource();
            var keys = gauges.CountKeys;
            var refresh = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    keys = InventoryMetrics.Compute(policies, inventory, now, keys).CountKeys;
                }
            }, CancellationToken.None);
            ScrapeTimes during;
            try
            {
                during = await ScrapeAsync(client, options.Scrapes, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await refresh.ConfigureAwait(false);
            }

            var series = text.Split('\n').Count(l => l.Length > 0 && l[0] != '#');
            var newest = text.Split('\n').Count(l => l.StartsWith("lifecycle_newest_snapshot_timestamp_seconds{", StringComparison.Ordinal));
            using var process = Process.GetCurrentProcess();
            return new MetricsBenchResult(options.Snapshots, options.Volumes, options.Policies, generate.Elapsed, aggregations, options.Scrapes,
                quiet, during, text.Length, series, newest, process.PeakWorkingSet64);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<ScrapeTimes> ScrapeAsync(HttpClient client, int count, CancellationToken cancellationToken)
    {
        var times = new List<TimeSpan>(count);
        for (var i = 0; i < count; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await client.GetAsync(MetricsEndpoint.Path, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            times.Add(watch.Elapsed);
        }

        times.Sort();
        return new ScrapeTimes(Percentile(times, 0.50), Percentile(times, 0.99), times[^1]);
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>The policies and an inventory of owned snapshots, each snapshot with its own tags (as an engine returns them).</summary>
    private static (PolicySet Policies, Inventory Inventory) Generate(MetricsBenchOptions options, DateTimeOffset now)
    {
        string[] regions = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];
        const string drRegion = "eu-north-1";
        var policies = Enumerable.Range(0, options.Policies).Select(p => new SnapshotPolicy
        {
            Name = $"policy-{p:00}",
            Engine = EngineKind.Local,
            Regions = [regions[p % regions.Length]],
            Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("policy", [$"policy-{p:00}"]) },
            Schedules = [new Schedule { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 100 } }],
        }).ToImmutableArray();
        var volumes = Enumerable.Range(0, options.Volumes).Select(v => new VolumeInfo
        {
            Id = $"vol-{v:x17}",
            Region = regions[v % options.Policies % regions.Length],
            Zone = regions[v % options.Policies % regions.Length] + "a",
        }).ToImmutableArray();
        var snapshots = ImmutableArray.CreateBuilder<SnapshotInfo>(options.Snapshots);
        var hour = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < options.Snapshots; i++)
        {
            var v = i % options.Volumes;
            var age = i / options.Volumes; // hours back
            var volume = volumes[v];
            var policy = policies[v % options.Policies].Name;
            var fire = hour.AddHours(-age);
            var copy = age % 10 == 9;
            var tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
            [
                KeyValuePair.Create(OwnershipTags.Policy, policy),
                KeyValuePair.Create(OwnershipTags.Schedule, "hourly"),
                KeyValuePair.Create(OwnershipTags.FireTime, fire.ToString("O", CultureInfo.InvariantCulture)),
                KeyValuePair.Create(OwnershipTags.Token, $"{policy}/hourly/{fire.ToUnixTimeSeconds()}/{volume.Id}{(copy ? "/copy" : "")}"),
            ]);
            if (copy)
            {
                tags = tags.Add(OwnershipTags.SourceSnapshot, $"snap-{i - 1:x17}").Add(OwnershipTags.SourceVolume, volume.Id);
            }

            snapshots.Add(new SnapshotInfo
            {
                Id = $"snap-{i:x17}",
                VolumeId = volume.Id,
                Region = copy ? drRegion : volume.Region,
                StartTime = fire.AddSeconds(1),
                State = age == 0 && v % 1000 == 0 ? SnapshotState.Pending : SnapshotState.Completed,
                Tier = age % 10 == 3 ? StorageTier.Archive : StorageTier.Standard,
                VolumeSizeGiB = 8,
                StoredBytes = 1L << 20,
                Tags = tags,
            });
        }

        return (new PolicySet(policies), new Inventory { Volumes = volumes, Snapshots = snapshots.MoveToImmutable() });
    }
}
