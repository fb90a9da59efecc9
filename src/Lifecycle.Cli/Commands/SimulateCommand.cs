using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Lifecycle.Core.Simulation;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle simulate --policies DIR --inventory FILE --from ISO8601 --days N [--change-rate PERCENT] [--prices FILE]
/// [--output text|json]</c>: runs the planner forward in virtual time and reports snapshot counts per tier over time,
/// deletions, storage in GiB-months and the estimated cost. Exit codes: 0 ok, 1 invalid input, 2 usage error.
/// </summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        var policies = new Option<string>("--policies", "-p") { Description = "Policy file or directory (*.yaml, *.yml)" };
        var inventory = new Option<string>("--inventory", "-i") { Description = "Inventory JSON file to start from (policies/inventory.md)" };
        var from = new Option<string>("--from") { Description = "Start of the simulation (ISO 8601)" };
        var days = new Option<int>("--days") { Description = "Days to simulate (1-3660)", DefaultValueFactory = _ => 400 };
        var changeRate = new Option<double>("--change-rate") { Description = "Percent of each volume changed per day (default 1)", DefaultValueFactory = _ => 1.0 };
        var prices = new Option<string>("--prices") { Description = "Prices JSON: standardPerGbMonth, archivePerGbMonth, archiveRestorePerGb, fastRestorePerSnapshotZoneHour" };
        var sampleDays = new Option<int>("--sample-days") { Description = "Days between snapshot-count samples (default 7)", DefaultValueFactory = _ => 7 };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("simulate", "Run the policies forward in virtual time: snapshot counts, storage and cost over the coming months");
        foreach (var option in new Option[] { policies, inventory, from, days, changeRate, prices, sampleDays, output })
        {
            command.Options.Add(option);
        }

        command.SetAction(parseResult =>
        {
            var configuration = parseResult.InvocationConfiguration;
            return Run(new Arguments(parseResult.GetValue(policies), parseResult.GetValue(inventory), parseResult.GetValue(from),
                    parseResult.GetValue(days), parseResult.GetValue(changeRate), parseResult.GetValue(prices), parseResult.GetValue(sampleDays),
                    parseResult.GetValue(output) ?? "text"),
                configuration.Output, configuration.Error);
        });
        return command;
    }

    public sealed record Arguments(string? Policies, string? Inventory, string? From, int Days, double ChangeRate, string? Prices, int SampleDays, string Output);

    public static int Run(Arguments arguments, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (arguments.Output is not ("text" or "json"))
        {
            stderr.WriteLine($"error: --output must be text or json, not '{arguments.Output}'");
            return PlanInputs.UsageError;
        }

        if (arguments.From is null || !PlanInputs.TryParseInstant(arguments.From, out var from))
        {
            stderr.WriteLine($"error: --from {(arguments.From is null ? "is required" : $"'{arguments.From}' is not an ISO 8601 instant")} (e.g. 2026-12-01T00:00:00Z)");
            return PlanInputs.UsageError;
        }

        if (arguments.Days is < 1 or > 3660 || arguments.ChangeRate is < 0 or > 100 || arguments.SampleDays < 1)
        {
            stderr.WriteLine("error: --days must be 1-3660, --change-rate 0-100 (percent per day), --sample-days at least 1");
            return PlanInputs.UsageError;
        }

        var prices = StoragePrices.Default;
        if (arguments.Prices is not null)
        {
            if (!File.Exists(arguments.Prices))
            {
                stderr.WriteLine($"error: {arguments.Prices}: no such file");
                return PlanInputs.UsageError;
            }

            try
            {
                prices = StoragePrices.Read(File.ReadAllText(arguments.Prices), arguments.Prices);
            }
            catch (FormatException e)
            {
                stderr.WriteLine(e.Message);
                return PlanInputs.Invalid;
            }
        }

        var code = PlanInputs.TryLoad(arguments.Policies, arguments.Inventory, stderr, out var policySet, out var inventory);
        if (code != PlanInputs.Ok)
        {
            return code;
        }

        var stopwatch = Stopwatch.StartNew();
        var report = new SnapshotSimulator().Run(policySet, inventory, new SimulationOptions
        {
            From = from,
            Days = arguments.Days,
            ChangeRatePercentPerDay = arguments.ChangeRate,
            Prices = prices,
            SampleEvery = TimeSpan.FromDays(arguments.SampleDays),
        });
        stdout.Write(arguments.Output == "json" ? SimulationJsonWriter.Write(report) : SimulationTextWriter.Write(report));
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"simulate: {report.Steps} clock steps in {stopwatch.Elapsed.TotalSeconds:0.00} s"));
        return PlanInputs.Ok;
    }
}
