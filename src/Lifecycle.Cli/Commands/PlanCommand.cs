using System.CommandLine;
using Lifecycle.Core.Planning;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle plan --policies DIR --inventory FILE [--now ISO8601] [--output text|json]</c>: what the policies would
/// do now to the inventory, with a reason for every action and every owned snapshot. Read-only.
/// Exit codes: 0 planned, 1 invalid policies or inventory, 2 usage error.
/// </summary>
public static class PlanCommand
{
    public static Command Create(TimeProvider? clock = null)
    {
        var policies = new Option<string>("--policies", "-p") { Description = "Policy file or directory (*.yaml, *.yml)" };
        var inventory = new Option<string>("--inventory", "-i") { Description = "Inventory JSON file (docs/inventory.md)" };
        var now = new Option<string>("--now") { Description = "The instant to plan for (ISO 8601); default: the current time" };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var command = new Command("plan", "Show what the policies would create, copy, archive, fast-restore and delete now, and why");
        command.Options.Add(policies);
        command.Options.Add(inventory);
        command.Options.Add(now);
        command.Options.Add(output);
        command.SetAction(parseResult =>
        {
            var configuration = parseResult.InvocationConfiguration;
            return Run(parseResult.GetValue(policies), parseResult.GetValue(inventory), parseResult.GetValue(now),
                parseResult.GetValue(output) ?? "text", clock ?? TimeProvider.System, configuration.Output, configuration.Error);
        });
        return command;
    }

    /// <summary>Runs the command; the action and the golden tests call this.</summary>
    public static int Run(string? policiesPath, string? inventoryPath, string? now, string output, TimeProvider clock, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (output is not ("text" or "json"))
        {
            stderr.WriteLine($"error: --output must be text or json, not '{output}'");
            return PlanInputs.UsageError;
        }

        var instant = clock.GetUtcNow();
        if (now is not null && !PlanInputs.TryParseInstant(now, out instant))
        {
            stderr.WriteLine($"error: --now '{now}' is not an ISO 8601 instant (e.g. 2026-11-21T12:00:00Z)");
            return PlanInputs.UsageError;
        }

        var code = PlanInputs.TryLoad(policiesPath, inventoryPath, stderr, out var policySet, out var inventorySnapshot);
        if (code != PlanInputs.Ok)
        {
            return code;
        }

        var plan = new SnapshotPlanner().Plan(policySet, inventorySnapshot, instant);
        stdout.Write(output == "json"
            ? PlanJsonWriter.Write(plan)
            : PlanTextWriter.Write(plan, policySet.Policies.Select(p => p.Name)));
        return PlanInputs.Ok;
    }
}
