using System.CommandLine;
using Lifecycle.Core.Planning;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle plan --policies DIR --inventory FILE [--now ISO8601] [--output text|json]</c>: what the policies would
/// do now to the inventory, with a reason for every action and every owned snapshot. Read-only.
/// <c>lifecycle plan --server URL --policies DIR</c>: the same question asked of a running server, against what its
/// engine holds: the diff of the policy set against the applied revision and the actions of the next runs (the
/// pull-request step of the GitOps pipeline; it changes nothing).
/// <c>--changed-since REF</c> plans only the policies whose files changed since the git revision REF
/// (<c>git diff --name-only REF -- DIR</c>, plus untracked files): with <c>--server</c> the whole set is still sent (a
/// partial set would read as removals) and the answer is cut to those policies; a deleted file's policies show as
/// removed. Offline, only the changed policies are planned.
/// Exit codes: 0 planned, 1 invalid policies or inventory (or the server refuses), 2 usage error.
/// </summary>
public static class PlanCommand
{
    public static Command Create(TimeProvider? clock = null)
    {
        var policies = new Option<string>("--policies", "-p") { Description = "Policy file or directory (*.yaml, *.yml)" };
        var inventory = new Option<string>("--inventory", "-i") { Description = "Inventory JSON file (policies/inventory.md)" };
        var now = new Option<string>("--now") { Description = "The instant to plan for (ISO 8601); default: the current time" };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var server = new Option<string?>("--server") { Description = "Plan against a running server (its applied revision and its engine) instead of an inventory file" };
        var changedSince = new Option<string?>("--changed-since")
        {
            Description = "Plan only the policies whose files changed since this git revision (git diff --name-only REF -- DIR); deleted files show as removals",
        };
        var command = new Command("plan", "Show what the policies would create, copy, archive, fast-restore and delete now, and why");
        command.Options.Add(policies);
        command.Options.Add(inventory);
        command.Options.Add(now);
        command.Options.Add(output);
        command.Options.Add(server);
        command.Options.Add(changedSince);
        var tokenFile = ServerClient.TokenFileOption();
        var data = ServerClient.DataOption();
        command.Options.Add(tokenFile);
        command.Options.Add(data);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var configuration = parseResult.InvocationConfiguration;
            if (parseResult.GetValue(server) is { } url)
            {
                if (parseResult.GetValue(inventory) is not null || parseResult.GetValue(now) is not null)
                {
                    await configuration.Error.WriteLineAsync("error: --server plans against the server's own inventory and clock; leave out --inventory and --now").ConfigureAwait(false);
                    return PlanInputs.UsageError;
                }

                if (parseResult.GetValue(policies) is not { } policyPath)
                {
                    await configuration.Error.WriteLineAsync("error: --policies is required").ConfigureAwait(false);
                    return PlanInputs.UsageError;
                }

                ChangedPolicies? changedPolicies = null;
                if (parseResult.GetValue(changedSince) is { } gitRef
                    && (changedPolicies = await ChangedPolicies.FindAsync(policyPath, gitRef, configuration.Error, cancellationToken).ConfigureAwait(false)) is null)
                {
                    return PlanInputs.UsageError;
                }

                return await ApplyCommand.RunAsync(url, policyPath, revision: null, author: null, allowDestructive: false, dryRun: true,
                    parseResult.GetValue(output) ?? "text", configuration.Output, configuration.Error, cancellationToken,
                    parseResult.GetValue(tokenFile), parseResult.GetValue(data), changedPolicies).ConfigureAwait(false);
            }

            ChangedPolicies? changedOffline = null;
            if (parseResult.GetValue(changedSince) is { } offlineRef && parseResult.GetValue(policies) is { } offlinePath
                && (changedOffline = await ChangedPolicies.FindAsync(offlinePath, offlineRef, configuration.Error, cancellationToken).ConfigureAwait(false)) is null)
            {
                return PlanInputs.UsageError;
            }

            return Run(parseResult.GetValue(policies), parseResult.GetValue(inventory), parseResult.GetValue(now),
                parseResult.GetValue(output) ?? "text", clock ?? TimeProvider.System, configuration.Output, configuration.Error, changedOffline?.Names);
        });
        return command;
    }

    /// <summary>Runs the command; the action and the golden tests call this.</summary>
    /// <param name="onlyPolicies">Plan only these policies of the set (<c>--changed-since</c>); null: all.</param>
    public static int Run(string? policiesPath, string? inventoryPath, string? now, string output, TimeProvider clock, TextWriter stdout, TextWriter stderr,
        IReadOnlySet<string>? onlyPolicies = null)
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

        if (onlyPolicies is not null)
        {
            policySet = new Core.Policies.PolicySet([.. policySet.Policies.Where(p => onlyPolicies.Contains(p.Name))]);
        }

        var plan = new SnapshotPlanner().Plan(policySet, inventorySnapshot, instant);
        stdout.Write(output == "json"
            ? PlanJsonWriter.Write(plan)
            : PlanTextWriter.Write(plan, policySet.Policies.Select(p => p.Name)));
        return PlanInputs.Ok;
    }
}
