using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.Server.Ec2;

namespace Lifecycle.Server.Benchmarks;

public sealed record Ec2DescribeBenchOptions
{
    /// <summary>Snapshots in the region (seeded once; a kept --work directory is reused).</summary>
    public int Snapshots { get; init; } = 100_000;

    /// <summary>MaxResults of each measured call.</summary>
    public int PageSize { get; init; } = 1000;

    /// <summary>Measured calls per filter.</summary>
    public int Calls { get; init; } = 200;

    /// <summary>The engine's directory; null: a temporary one, removed afterwards.</summary>
    public string? WorkDirectory { get; init; }
}

/// <summary>
/// p50/p99/max of one filter's signed DescribeSnapshots calls (signing, the HTTP round trip and reading the whole
/// answer; the client's XML parse after it is not counted), and the p50 of the same pages read from the engine
/// directly (what the catalog costs of it).
/// </summary>
public sealed record Ec2DescribeTiming(string Filter, int Matching, int Calls, TimeSpan P50, TimeSpan P99, TimeSpan Max, TimeSpan EngineP50);

public sealed record Ec2DescribeBenchResult(int Snapshots, TimeSpan SeedTime, int PageSize, IReadOnlyList<Ec2DescribeTiming> Timings, long PeakWorkingSetBytes)
{
    /// <summary>
    /// The AWS provider (AWSSDK.EC2, SigV4, the endpoint on loopback) reading every bench snapshot of the region the way
    /// an inventory read does (one tag filter, pages of 1,000): each run's wall time, and the snapshots it returned.
    /// </summary>
    public IReadOnlyList<TimeSpan> ProviderInventoryReads { get; init; } = [];

    public int ProviderInventorySnapshots { get; init; }
}

/// <summary>
/// `lifecycle bench ec2-describe`: a region of the local engine holding N snapshots behind the EC2 endpoint on a
/// loopback port, and signed DescribeSnapshots calls with MaxResults=1000 filtered by a tag (one that 10% of the
/// snapshots carry, one that all carry), walking their pages by NextToken.
/// Seeding goes through the engine's own API, as fast as it honestly goes: 1,000 empty 512 KiB volumes attached to
/// 10 instances, then CreateSnapshots of each instance in turn (100 snapshots in one catalog insert; the builds read
/// nothing, since an empty image is all holes, and each commits its completed row), until N snapshots exist.
/// </summary>
public static class Ec2DescribeBenchmark
{
    public const string Region = "eu-west-1";
    private const int Instances = 10;
    private const int VolumesPerInstance = 100;

    public static async Task<Ec2DescribeBenchResult> RunAsync(Ec2DescribeBenchOptions options, TextWriter progress, CancellationToken cancellationToken = default)
    {
        var root = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "lifecycle-bench-ec2-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            using var engine = LocalEngine.LocalEngine.Open(new LocalEngineOptions { DataDirectory = Path.Combine(root, "engine") });
            var seed = await SeedAsync(engine.Region(Region), options.Snapshots, progress, cancellationToken).ConfigureAwait(false);

            await using var endpoint = await EndpointHost.StartAsync(engine, root, Region, cancellationToken).ConfigureAwait(false);
            var (keyId, secret, address) = (endpoint.KeyId, endpoint.Secret, endpoint.Address);
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };

            var timings = new List<Ec2DescribeTiming>();
            foreach (var (filter, value, matching) in new[] { ("tag:group", "3", options.Snapshots / Instances), ("tag:bench", "ec2-describe", options.Snapshots) })
            {
                progress.WriteLine($"measuring DescribeSnapshots {filter}={value}, MaxResults={options.PageSize}, {options.Calls} calls");
                var durations = new List<TimeSpan>();
                string? token = null;
                for (var call = -5; call < options.Calls; call++)
                {
                    var (count, next, elapsed) = await DescribeAsync(http, keyId, secret, filter, value, options.PageSize, token, cancellationToken).ConfigureAwait(false);
                    if (count == 0 && next is null)
                    {
                        throw new InvalidOperationException($"DescribeSnapshots {filter}={value} returned nothing");
                    }

                    if (call >= 0)
                    {
                        durations.Add(elapsed); // the first five warm the JIT and the caches
                    }

                    token = next; // walk the pages; the last page starts the walk again
                }

                durations.Sort();
                var engineDurations = new List<TimeSpan>();
                string? after = null;
                var tag = TagFilter.Key(filter["tag:".Length..], value);
                for (var call = 0; call < Math.Min(options.Calls, 50); call++)
                {
                    var started = Stopwatch.GetTimestamp();
                    var page = await engine.Region(Region).DescribeSnapshotsPageAsync(new SnapshotPageQuery { Tags = tag, AfterId = after, Limit = options.PageSize }, cancellationToken).ConfigureAwait(false);
                    engineDurations.Add(Stopwatch.GetElapsedTime(started));
                    after = page.HasMore ? page.Snapshots[^1].Id : null;
                }

                engineDurations.Sort();
                timings.Add(new Ec2DescribeTiming($"{filter}={value}", matching, durations.Count,
                    Percentile(durations, 0.50), Percentile(durations, 0.99), durations[^1], Percentile(engineDurations, 0.50)));
            }

            var (reads, read) = await ProviderInventoryAsync(endpoint, progress, cancellationToken).ConfigureAwait(false);
            return new Ec2DescribeBenchResult(options.Snapshots, seed, options.PageSize, timings, Process.GetCurrentProcess().PeakWorkingSet64)
            {
                ProviderInventoryReads = reads,
                ProviderInventorySnapshots = read,
            };
        }
        finally
        {
            if (options.WorkDirectory is null)
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>Three full inventory reads of the region through the AWS provider (the first one also builds the client).</summary>
    private static async Task<(IReadOnlyList<TimeSpan> Reads, int Snapshots)> ProviderInventoryAsync(
        EndpointHost endpoint, TextWriter progress, CancellationToken cancellationToken)
    {
        using var registry = endpoint.Provider();
        var reads = new List<TimeSpan>();
        var count = 0;
        for (var run = 0; run < 3; run++)
        {
            var started = Stopwatch.GetTimestamp();
            var snapshots = await registry.For(Region).DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("bench", "ec2-describe") }, cancellationToken).ConfigureAwait(false);
            reads.Add(Stopwatch.GetElapsedTime(started));
            count = snapshots.Length;
            progress.WriteLine($"the AWS provider read {count} snapshots through the endpoint in {reads[^1].TotalSeconds:0.00} s");
        }

        return (reads, count);
    }

    private static async Task<TimeSpan> SeedAsync(LocalRegion region, int target, TextWriter progress, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var existing = await CountAsync(region, cancellationToken).ConfigureAwait(false);
        if (existing >= target)
        {
            progress.WriteLine($"the region already holds {existing} bench snapshots");
            return TimeSpan.Zero;
        }

        var volumes = (await region.DescribeVolumesAsync(TagFilter.Key("bench", "ec2-describe"), cancellationToken).ConfigureAwait(false)).Where(v => v.InstanceId is not null).ToList();
        for (var i = volumes.Count; i < Instances * VolumesPerInstance; i++)
        {
            var instance = "i-bench" + (i % Instances).ToString(CultureInfo.InvariantCulture);
            var volume = await region.CreateVolumeAsync(Region + "a", LocalRegion.BlockSize, ImmutableSortedDictionary<string, string>.Empty.Add("bench", "ec2-describe"),
                cancellationToken: cancellationToken).ConfigureAwait(false);
            await region.AttachVolumeAsync(volume.Id, instance, "/dev/xvd" + (i / Instances).ToString(CultureInfo.InvariantCulture), isBoot: false, cancellationToken).ConfigureAwait(false);
        }

        var count = existing;
        var round = 0;
        while (count < target)
        {
            for (var instance = 0; instance < Instances && count < target; instance++)
            {
                var tags = ImmutableSortedDictionary<string, string>.Empty
                    .Add("bench", "ec2-describe")
                    .Add("group", instance.ToString(CultureInfo.InvariantCulture))
                    .Add("round", round.ToString(CultureInfo.InvariantCulture));
                var created = await region.CreateSnapshotsAsync(new CreateSnapshotsRequest("i-bench" + instance.ToString(CultureInfo.InvariantCulture), tags), cancellationToken).ConfigureAwait(false);
                count += created.Length;
            }

            round++;
            if (round % 10 == 0)
            {
                await region.WaitForBackgroundWorkAsync(cancellationToken).ConfigureAwait(false);
                progress.WriteLine($"seeded {count} snapshots ({Stopwatch.GetElapsedTime(started).TotalSeconds:0} s)");
            }
        }

        await region.WaitForBackgroundWorkAsync(cancellationToken).ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(started);
    }

    private static async Task<int> CountAsync(LocalRegion region, CancellationToken cancellationToken)
    {
        var count = 0;
        string? after = null;
        while (true)
        {
            var page = await region.DescribeSnapshotsPageAsync(new SnapshotPageQuery { Limit = 10_000, AfterId = after, Tags = TagFilter.Key("bench", "ec2-describe") }, cancellationToken).ConfigureAwait(false);
            count += page.Snapshots.Length;
            if (!page.HasMore)
            {
                return count;
            }

            after = page.Snapshots[^1].Id;
        }
    }

    /// <summary>One signed call, timed from before signing to the last byte of the answer (the XML is parsed after).</summary>
    private static async Task<(int Count, string? NextToken, TimeSpan Elapsed)> DescribeAsync(HttpClient http, string keyId, string secret, string filter, string value, int pageSize, string? token, CancellationToken cancellationToken)
    {
        var form = $"Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self&MaxResults={pageSize}&Filter.1.Name={Uri.EscapeDataString(filter)}&Filter.1.Value.1={Uri.EscapeDataString(value)}"
            + (token is null ? "" : "&NextToken=" + Uri.EscapeDataString(token));
        var started = Stopwatch.GetTimestamp();
        var body = Encoding.UTF8.GetBytes(form);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(http.BaseAddress!, Ec2Endpoint.Path)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
        SigV4Signer.Sign(request, body, keyId, secret, Region, TimeProvider.System.GetUtcNow());
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"DescribeSnapshots: {(int)response.StatusCode} {text[..Math.Min(400, text.Length)]}");
        }

        var xml = System.Xml.Linq.XDocument.Parse(text);
        System.Xml.Linq.XNamespace ns = Ec2Xml.Namespace;
        var set = xml.Root!.Element(ns + "snapshotSet")!;
        return (set.Elements(ns + "item").Count(), xml.Root.Element(ns + "nextToken")?.Value, elapsed);
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double share) =>
        sorted[Math.Clamp((int)Math.Ceiling(share * sorted.Count) - 1, 0, sorted.Count - 1)];
}
