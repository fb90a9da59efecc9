using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Server.Benchmarks;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench metrics [--snapshots 1000000] [--volumes 10000] [--policies 20] [--scrapes 200]</c>: the
/// background aggregation of an inventory of N snapshots into the inventory gauges, and /metrics scraped over HTTP
/// with them (see <see cref="MetricsBenchmark"/>). Exit codes: 0 ok, 1 failure, 2 usage.
/// </summary>
public static class BenchMetricsCommand
{
    public static Command Create()
    {
        var snapshots = new Option<int>("--snapshots") { Description = "Owned snapshots in the generated inventory", DefaultValueFactory = _ => 1_000_000 };
        var volumes = new Option<int>("--volumes") { Description = "Targeted volumes (one newest-snapshot series each)", DefaultValueFactory = _ => 10_000 };
        var policies = new Option<int>("--policies") { Description = "Policies the volumes are split over", DefaultValueFactory = _ => 20 };
        var scrapes = new Option<int>("--scrapes") { Description = "Measured scrapes of /metrics in each series (after a first one)", DefaultValueFactory = _ => 200 };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("metrics", "/metrics over a large inventory: the background aggregation and the scrape's p50/p99")
        {
            snapshots, volumes, policies, scrapes, output,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            var options = new MetricsBenchOptions
            {
                Snapshots = parseResult.GetValue(snapshots),
                Volumes = parseResult.GetValue(volumes),
                Policies = parseResult.GetValue(policies),
                Scrapes = parseResult.GetValue(scrapes),
            };
            var format = parseResult.GetValue(output);
            if (options.Snapshots < 1 || options.Volumes < 1 || options.Policies < 1 || options.Scrapes < 1 || format is not ("text" or "json"))
            {
                await stderr.WriteLineAsync("error: positive --snapshots, --volumes, --policies and --scrapes, --output text|json").ConfigureAwait(false);
                return 2;
            }

            try
            {
                var result = await MetricsBenchmark.RunAsync(options, stderr, cancellationToken).ConfigureAwait(false);
                if (format == "json")
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true })).ConfigureAwait(false);
                    return 0;
                }

                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"metrics bench: {result.Snapshots} snapshots, {result.Volumes} volumes, {result.Policies} policies (generated in {result.Generate.TotalSeconds:0.0} s)")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  background aggregation: {string.Join(", ", result.Aggregations.Select(a => a.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms"))}")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  /metrics: {result.Series} series ({result.NewestSeries} newest-snapshot series), {result.ResponseBytes / 1024.0:0} KiB")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  GET /metrics x{result.Scrapes}, quiet:                 p50 {result.Quiet.P50.TotalMilliseconds:0.0} ms  p99 {result.Quiet.P99.TotalMilliseconds:0.0} ms  max {result.Quiet.Max.TotalMilliseconds:0.0} ms")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  GET /metrics x{result.Scrapes}, aggregation running:   p50 {result.DuringRefresh.P50.TotalMilliseconds:0.0} ms  p99 {result.DuringRefresh.P99.TotalMilliseconds:0.0} ms  max {result.DuringRefresh.Max.TotalMilliseconds:0.0} ms")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  peak working set {result.PeakWorkingSetBytes / (1024.0 * 1024):0} MiB")).ConfigureAwait(false);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException)
            {
                await stderr.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
