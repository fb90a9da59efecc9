using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Server.Benchmarks;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench ec2-describe [--snapshots 100000] [--page-size 1000] [--calls 200] [--work DIR]</c>: signed
/// DescribeSnapshots pages filtered by a tag through the EC2 endpoint over a region of N snapshots (see
/// <see cref="Ec2DescribeBenchmark"/>). Exit codes: 0 ok, 1 failure, 2 usage.
/// </summary>
public static class BenchEc2DescribeCommand
{
    public static Command Create()
    {
        var snapshots = new Option<int>("--snapshots") { Description = "Snapshots in the region (seeded through the engine; a kept --work directory is reused)", DefaultValueFactory = _ => 100_000 };
        var pageSize = new Option<int>("--page-size") { Description = "MaxResults of each call (5..1000)", DefaultValueFactory = _ => 1000 };
        var calls = new Option<int>("--calls") { Description = "Measured calls per filter", DefaultValueFactory = _ => 200 };
        var work = new Option<string?>("--work") { Description = "Directory for the engine's data (default: a new temporary directory, removed afterwards)" };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("ec2-describe", "DescribeSnapshots filtered by a tag through the EC2 endpoint: p50/p99 of a page over a large region")
        {
            snapshots, pageSize, calls, work, output,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            var options = new Ec2DescribeBenchOptions
            {
                Snapshots = parseResult.GetValue(snapshots),
                PageSize = parseResult.GetValue(pageSize),
                Calls = parseResult.GetValue(calls),
                WorkDirectory = parseResult.GetValue(work),
            };
            var format = parseResult.GetValue(output);
            if (options.Snapshots < 1 || options.PageSize is < 5 or > 1000 || options.Calls < 1 || format is not ("text" or "json"))
            {
                await stderr.WriteLineAsync("error: positive --snapshots and --calls, --page-size 5..1000, --output text|json").ConfigureAwait(false);
                return 2;
            }

            try
            {
                var result = await Ec2DescribeBenchmark.RunAsync(options, stderr, cancellationToken).ConfigureAwait(false);
                if (format == "json")
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true })).ConfigureAwait(false);
                    return 0;
                }

                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"ec2-describe bench: {result.Snapshots} snapshots in {Ec2DescribeBenchmark.Region} (seeded in {result.SeedTime.TotalSeconds:0.0} s), MaxResults={result.PageSize}, signed HTTP calls on loopback")).ConfigureAwait(false);
                foreach (var t in result.Timings)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"  {t.Filter,-26} {t.Matching,7} matching  {t.Calls} calls  p50 {t.P50.TotalMilliseconds:0.0} ms  p99 {t.P99.TotalMilliseconds:0.0} ms  max {t.Max.TotalMilliseconds:0.0} ms  (engine alone p50 {t.EngineP50.TotalMilliseconds:0.0} ms)")).ConfigureAwait(false);
                }

                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  AWS provider inventory read of {result.ProviderInventorySnapshots} snapshots: {string.Join(", ", result.ProviderInventoryReads.Select(r => r.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s"))}")).ConfigureAwait(false);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  peak working set {result.PeakWorkingSetBytes / (1024.0 * 1024):0} MiB")).ConfigureAwait(false);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or Lifecycle.Core.Providers.ProviderException)
            {
                await stderr.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
