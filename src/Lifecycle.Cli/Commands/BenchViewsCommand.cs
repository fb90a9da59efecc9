using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Server.Benchmarks;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench views [--runs 100000] [--snapshots 1000000] [--iterations 50]</c>: p50/p99 of every backup view
/// (/views) over a large run store and inventory (see <see cref="ViewsBenchmark"/>). Exit codes: 0 ok, 1 failure, 2 usage.
/// </summary>
public static class BenchViewsCommand
{
    public static Command Create()
    {
        var runs = new Option<int>("--runs") { Description = "Runs seeded in the store (one action each, 1% failed)", DefaultValueFactory = _ => 100_000 };
        var snapshots = new Option<int>("--snapshots") { Description = "Snapshots in the views' inventory (10 policies × 1,000 volumes, snapshots ÷ 10,000 each)", DefaultValueFactory = _ => 1_000_000 };
        var iterations = new Option<int>("--iterations") { Description = "Measured requests per page (after 5 warm-up requests)", DefaultValueFactory = _ => 50 };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("views", "Every backup view (/views) over a large store and inventory: p50/p99 per page through HTTP")
        {
            runs, snapshots, iterations, output,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            var options = new ViewsBenchOptions
            {
                Runs = parseResult.GetValue(runs),
                Snapshots = parseResult.GetValue(snapshots),
                Iterations = parseResult.GetValue(iterations),
            };
            var format = parseResult.GetValue(output);
            if (options.Runs < 1 || options.Snapshots < 10_000 || options.Iterations < 1 || format is not ("text" or "json"))
            {
                await stderr.WriteLineAsync("error: positive --runs and --iterations, --snapshots at least 10000, --output text|json").ConfigureAwait(false);
                return 2;
            }

            try
            {
                var result = await ViewsBenchmark.RunAsync(options, stderr, cancellationToken).ConfigureAwait(false);
                if (format == "json")
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true })).ConfigureAwait(false);
                    return 0;
                }

                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"""
                    views bench: {result.Runs:N0} runs and {result.Actions:N0} actions in the store, {result.Snapshots:N0} snapshots of {result.Volumes:N0} policy volumes in the views' inventory
                      seed runs {result.SeedRuns.TotalSeconds:0.0} s, inventory {result.SeedInventory.TotalSeconds:0.0} s, plan {result.Plan.TotalSeconds:0.0} s, view {result.BuildView.TotalSeconds:0.0} s, managed heap {result.ManagedBytesAfterSeed / (1024.0 * 1024):0} MiB
                    """)).ConfigureAwait(false);
                foreach (var page in result.Pages)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"  {page.Page,-42} p50 {page.P50.TotalMilliseconds,7:0.0} ms  p99 {page.P99.TotalMilliseconds,7:0.0} ms  max {page.Max.TotalMilliseconds,7:0.0} ms  {page.Bytes / 1024.0,7:0} KiB")).ConfigureAwait(false);
                }

                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
            {
                await stderr.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
