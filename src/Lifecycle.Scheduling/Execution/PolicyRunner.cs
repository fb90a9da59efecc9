using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// One wake-up of a policy (level-triggered): read the inventory, ask the planner what is due for this policy now,
/// and enqueue it. On a fire, creates go first and the other actions follow once the creates completed.
/// </summary>
public sealed class PolicyRunner
{
    private readonly InventoryReader inventory;
    private readonly ActionDispatcher dispatcher;
    private readonly RunStore store;
    private readonly TimeProvider timeProvider;
    private readonly NodeIdentity node;
    private readonly ILogger logger;
    private readonly SnapshotPlanner planner = new();

    public PolicyRunner(InventoryReader inventory, ActionDispatcher dispatcher, RunStore store, TimeProvider timeProvider, NodeIdentity node, ILogger<PolicyRunner> logger)
    {
        this.inventory = inventory;
        this.dispatcher = dispatcher;
        this.store = store;
        this.timeProvider = timeProvider;
        this.node = node;
        this.logger = logger;
    }

    /// <summary>Plans and enqueues; returns the run id.</summary>
    public async Task<string> RunAsync(
        SnapshotPolicy policy, string mode, string? schedule, DateTimeOffset? fireTime, CancellationToken cancellationToken = default)
    {
        var runId = Guid.NewGuid().ToString("N");
        await store.StartRunAsync(new RunRecord(runId, policy.Name, schedule, mode, fireTime, timeProvider.GetUtcNow(), null, RunStates.Running, node.Name, 0, null),
            cancellationToken).ConfigureAwait(false);
        try
        {
            var set = new PolicySet([policy]);
            var now = timeProvider.GetUtcNow();
            var shareRecent = mode == PolicyRunMode.Fire;
            List<PlannedAction>? selected = null;
            var notes = "";
            if (mode is PolicyRunMode.Fire or PolicyRunMode.Manual)
            {
                // A fire's creates need only the snapshots of the fire times now due, not all the policy keeps.
                var due = await inventory.DueCreatesAsync(planner, set, now, cancellationToken, shareRecent).ConfigureAwait(false);
                selected = due.IsEmpty ? null : [.. due];
            }

            if (selected is null)
            {
                // Nothing to create (a fire delivered again, a catch-up, a follow-up, a reconcile): the whole plan.
                var plan = await inventory.PlanAsync(planner, set, now, cancellationToken, shareRecent).ConfigureAwait(false);
                var actions = plan.For(policy.Name).ToList();
                var creates = actions.Where(a => a.Kind == ActionKind.Create).ToList();
                selected = PolicyRunMode.MayCreate(mode)
                    ? (creates.Count > 0 ? creates : actions)
                    : actions.Where(a => a.Kind != ActionKind.Create).ToList();
                notes = string.Join("; ", plan.Notes.Where(n => n.Policy == policy.Name).Select(n => n.Message));
            }

            // All of a fire's actions in one store transaction, then one Hangfire job each.
            var queued = await dispatcher.EnqueueManyAsync(runId, selected, cancellationToken).ConfigureAwait(false);

            var message = $"{queued} action(s) queued of {selected.Count} planned" + (notes.Length > 0 ? "; " + notes : "");
            await store.FinishRunAsync(runId, RunStates.Succeeded, queued, message, cancellationToken).ConfigureAwait(false);
            logger.LogInformation("policy {Policy} ({Mode}{Schedule}): {Message}", policy.Name, mode, schedule is null ? "" : " " + schedule, message);
            return runId;
        }
        catch (Exception e)
        {
            // Cancelled too (a shutdown, a timeout inside a read): a run never stays running in a live process.
            await store.FinishRunAsync(runId, RunStates.Failed, 0, e is OperationCanceledException ? "cancelled: " + e.Message : e.Message, CancellationToken.None)
                .ConfigureAwait(false);
            throw;
        }
    }
}
