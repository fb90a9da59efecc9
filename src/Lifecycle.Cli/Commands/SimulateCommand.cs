using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Lifecycle.Core.Simulation;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle simulate --policies DIR --inventory FILE --from ISO8601 --days N [--change-rate PERCENT] [--prices FILE]
/// [--output text|json]</c>: runs the planner forward in virtual time and reports snapshot counts per tier over time,
/// deletions, storage in GiB-months and the estimated cost. Exit codes: 0 ok, 1 invalid input, 2 usage error.
/// <para>
/// With <c>--baseline DIR</c> it reviews a change (the pipeline's pull-request step): the same simulation of the
/// baseline policies (the set at the base revision) and of <c>--policies</c>, from one inventory (<c>--inventory FILE</c>
/// or <c>--server URL</c>, whose <c>GET /api/v1/inventory</c> it reads) and one instant (<c>--from</c>, default now),
/// compared in a Markdown summary (<c>--output markdown</c>): creates, deletes, stored GiB and monthly cost before and
/// after, and the destructive findings (a removed policy, shortened retention, and the delete actions of
/// <c>--plan FILE</c>, the JSON of <c>lifecycle plan --server … --output json</c>). A destructive change exits 3 unless
/// <c>--allow-destructive</c>.
/// </para>
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
        var output = new Option<string>("--output", "-o") { Description = "text (default), json, or with --baseline markdown", DefaultValueFactory = _ => "text" };
        var baseline = new Option<string?>("--baseline") { Description = "Review a change: the policies before it (a directory, may be empty or missing), simulated beside --policies" };
        var baselineLabel = new Option<string?>("--baseline-label") { Description = "How the summary names the baseline (e.g. the git revision)" };
        var server = new Option<string?>("--server") { Description = "Read the inventory from a running server (GET /api/v1/inventory) instead of --inventory" };
        var plan = new Option<string?>("--plan") { Description = "With --baseline: the JSON of `lifecycle plan --server … --output json`; its delete actions are destructive" };
        var allowDestructive = new Option<bool>("--allow-destructive") { Description = "With --baseline: a destructive change exits 0 instead of 3 (the summary says it was allowed)" };
        var tokenFile = ServerClient.TokenFileOption();
        var data = ServerClient.DataOption();
        var command = new Command("simulate", "Run the policies forward in virtual time: snapshot counts, storage and cost over the coming months");
        foreach (var option in new Option[] { policies, inventory, from, days, changeRate, prices, sampleDays, output, baseline, baselineLabel, server, plan, allowDestructive, tokenFile, data })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var configuration = parseResult.InvocationConfiguration;
            var arguments = new Arguments(parseResult.GetValue(policies), parseResult.GetValue(inventory), parseResult.GetValue(from),
                parseResult.GetValue(days), parseResult.GetValue(changeRate), parseResult.GetValue(prices), parseResult.GetValue(sampleDays),
                parseResult.GetValue(output) ?? "text")
            {
                Baseline = parseResult.GetValue(baseline),
                BaselineLabel = parseResult.GetValue(baselineLabel),
                Plan = parseResult.GetValue(plan),
                AllowDestructive = parseResult.GetValue(allowDestructive),
            };
            if (parseResult.GetValue(server) is { } url)
            {
                if (arguments.Inventory is not null)
                {
                    await configuration.Error.WriteLineAsync("error: give --inventory or --server, not both").ConfigureAwait(false);
                    return PlanInputs.UsageError;
                }

                var fetched = await FetchInventoryAsync(url, parseResult.GetValue(tokenFile), parseResult.GetValue(data), configuration.Error, cancellationToken).ConfigureAwait(false);
                if (fetched is null)
                {
                    return PlanInputs.Invalid;
                }

                try
                {
                    return Run(arguments with { Inventory = fetched }, configuration.Output, configuration.Error);
                }
                finally
                {
                    File.Delete(fetched);
                }
            }

            return Run(arguments, configuration.Output, configuration.Error);
        });
        return command;
    }

    /// <summary>The exit code of a review whose change is destructive and not allowed.</summary>
    public const int Destructive = 3;

    public sealed record Arguments(string? Policies, string? Inventory, string? From, int Days, double ChangeRate, string? Prices, int SampleDays, string Output)
    {
        /// <summary>Review mode: the policies before the change.</summary>
        public string? Baseline { get; init; }

        public string? BaselineLabel { get; init; }

        /// <summary>Review mode: a server plan's JSON, whose delete actions are destructive.</summary>
        public string? Plan { get; init; }

        public bool AllowDestructive { get; init; }
    }

    /// <summary>Writes the server's inventory to a temporary file; null (with the error written) when it cannot.</summary>
    private static async Task<string?> FetchInventoryAsync(string server, string? tokenFile, string? dataDirectory, TextWriter stderr, CancellationToken cancellationToken)
    {
        using var client = new ServerClient(server, tokenFile, dataDirectory);
        try
        {
            var (status, body) = await client.GetAsync("api/v1/inventory", cancellationToken).ConfigureAwait(false);
            if (status != 200)
            {
                await stderr.WriteLineAsync($"error: GET {server}/api/v1/inventory: HTTP {status} {ServerClient.Indented(body)}").ConfigureAwait(false);
                return null;
            }

            var file = Path.Combine(Path.GetTempPath(), $"lifecycle-inventory-{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(file, body.GetRawText(), cancellationToken).ConfigureAwait(false);
            return file;
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"error: cannot reach the server at {server}: {e.Message}").ConfigureAwait(false);
            return null;
        }
    }

    public static int Run(Arguments arguments, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (arguments.Output is not ("text" or "json") && !(arguments.Output == "markdown" && arguments.Baseline is not null))
        {
            stderr.WriteLine($"error: --output must be text or json (or markdown with --baseline), not '{arguments.Output}'");
            return PlanInputs.UsageError;
        }

        if (arguments.Baseline is not null && arguments.From is null)
        {
            // A review simulates from now; whole minutes keep the summary stable within a run.
            var now = TimeProvider.System.GetUtcNow();
            arguments = arguments with { From = OwnershipTagsFormat(now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMinute))) };
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
        var options = new SimulationOptions
        {
            From = from,
            Days = arguments.Days,
            ChangeRatePercentPerDay = arguments.ChangeRate,
            Prices = prices,
            SampleEvery = TimeSpan.FromDays(arguments.SampleDays),
        };
        if (arguments.Baseline is not null)
        {
            return Review(arguments, policySet, inventory, options, stdout, stderr);
        }

        var report = new SnapshotSimulator().Run(policySet, inventory, options);
        stdout.Write(arguments.Output == "json" ? SimulationJsonWriter.Write(report) : SimulationTextWriter.Write(report));
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"simulate: {report.Steps} clock steps in {stopwatch.Elapsed.TotalSeconds:0.00} s"));
        return PlanInputs.Ok;
    }

    private static string OwnershipTagsFormat(DateTimeOffset instant) => Core.Planning.OwnershipTags.FormatFireTime(instant);

    /// <summary>The review of a change: both simulations, the findings, the summary; exit 3 when destructive and not allowed.</summary>
    private static int Review(Arguments arguments, Core.Policies.PolicySet after, Core.Inventory.Inventory inventory, SimulationOptions options, TextWriter stdout, TextWriter stderr)
    {
        var before = Core.Policies.PolicySet.Empty;
        if (Directory.Exists(arguments.Baseline) || File.Exists(arguments.Baseline))
        {
            var loaded = Lifecycle.Policies.PolicyLoader.Load([arguments.Baseline!]);
            if (loaded.HasErrors)
            {
                // The base revision's policies were valid once; a set that no longer loads (a newer language) is
                // reviewed as empty, and said so.
                stderr.WriteLine($"warning: the baseline policies in {arguments.Baseline} do not load; they are reviewed as none");
            }
            else
            {
                before = loaded.Policies;
            }
        }

        int? plannedDeletes = null;
        if (arguments.Plan is not null)
        {
            if (!File.Exists(arguments.Plan))
            {
                stderr.WriteLine($"error: --plan {arguments.Plan}: no such file");
                return PlanInputs.UsageError;
            }

            try
            {
                plannedDeletes = PlannedDeletes(File.ReadAllText(arguments.Plan));
            }
            catch (System.Text.Json.JsonException e)
            {
                stderr.WriteLine($"error: --plan {arguments.Plan}: not the JSON of `lifecycle plan --output json`: {e.Message}");
                return PlanInputs.Invalid;
            }
        }

        var simulator = new SnapshotSimulator();
        var summary = PolicyChangeReview.Review(before, after, simulator.Run(before, inventory, options), simulator.Run(after, inventory, options),
            plannedDeletes, arguments.AllowDestructive);
        stdout.Write(arguments.Output == "json"
            ? System.Text.Json.JsonSerializer.Serialize(new
            {
                added = summary.Added,
                removed = summary.Removed,
                changed = summary.Changed,
                destructive = summary.Destructive,
                plannedDeletes = summary.PlannedDeletes,
                destructiveAllowed = summary.DestructiveAllowed,
                before = System.Text.Json.JsonDocument.Parse(SimulationJsonWriter.Write(summary.Before)).RootElement,
                after = System.Text.Json.JsonDocument.Parse(SimulationJsonWriter.Write(summary.After)).RootElement,
            }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n"
            : PolicyChangeMarkdownWriter.Write(summary, arguments.BaselineLabel ?? "before"));
        return summary.IsDestructive && !summary.DestructiveAllowed ? Destructive : PlanInputs.Ok;
    }

    /// <summary>Delete actions in a plan's JSON: a server answer (<c>plan.actions</c>, or under <c>result</c>) or an offline plan (<c>actions</c>).</summary>
    internal static int PlannedDeletes(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            return 0;
        }

        if (root.TryGetProperty("result", out var result) && result.ValueKind == System.Text.Json.JsonValueKind.Object)
        {
            root = result;
        }

        var actions = root.TryGetProperty("plan", out var plan) && plan.ValueKind == System.Text.Json.JsonValueKind.Object && plan.TryGetProperty("actions", out var planned)
            ? planned
            : root.TryGetProperty("actions", out var direct) ? direct : default;
        return actions.ValueKind != System.Text.Json.JsonValueKind.Array
            ? 0
            : actions.EnumerateArray().Count(a => a.TryGetProperty("kind", out var kind) && string.Equals(kind.ToString(), "delete", StringComparison.OrdinalIgnoreCase));
    }
}
