using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Quartz;

namespace Lifecycle.Scheduling.Policies;

/// <summary>A whole policy set to plan or apply (the GitOps path: every file of the directory).</summary>
public sealed record ApplyRequest
{
    public required ImmutableArray<PolicySource> Sources { get; init; }

    /// <summary>The git commit the set came from, if known.</summary>
    public string? Revision { get; init; }

    public string? Author { get; init; }

    /// <summary>Apply even when the plan deletes more than a policy's maxDeletesPerRun.</summary>
    public bool AllowDestructive { get; init; }

    /// <summary>Wake new and changed policies at once to catch up their latest fire (the benchmark turns it off).</summary>
    public bool CatchUp { get; init; } = true;
}

/// <summary>How the new set differs from the applied one, by policy name.</summary>
public sealed record PolicySetDiff(ImmutableArray<string> Added, ImmutableArray<string> Removed, ImmutableArray<string> Changed, ImmutableArray<string> Unchanged)
{
    public bool IsEmpty => Added.IsEmpty && Removed.IsEmpty && Changed.IsEmpty;

    public override string ToString() => IsEmpty
        ? "no change"
        : string.Join(", ", new[]
        {
            Added.IsEmpty ? null : "added " + string.Join(' ', Added),
            Removed.IsEmpty ? null : "removed " + string.Join(' ', Removed),
            Changed.IsEmpty ? null : "changed " + string.Join(' ', Changed),
        }.Where(s => s is not null));
}

/// <summary>What a plan or apply call decided.</summary>
public sealed record ApplyResult
{
    public required string Status { get; init; }

    public ImmutableArray<string> Diagnostics { get; init; } = [];

    public PolicySetDiff? Diff { get; init; }

    public Plan? Plan { get; init; }

    /// <summary>Why the apply was refused (invalid, destructive, conflict).</summary>
    public string? Refusal { get; init; }

    /// <summary>The applied revision's sequence number (apply only).</summary>
    public long? Seq { get; init; }

    public const string Valid = "valid";
    public const string Invalid = "invalid";
    public const string Refused = "refused";
    public const string Applied = "applied";
    public const string Unchanged = "unchanged";
    public const string Conflict = "conflict";
}

/// <summary>
/// The one path by which a policy set becomes active (API, CLI apply, the watched directory): validate, diff against
/// the applied revision, plan against the current inventory, refuse a destructive revision unless allowed, then
/// store the revision atomically and reschedule.
/// </summary>
public sealed class PolicyApplier
{
    private readonly IPolicySetParser parser;
    private readonly AppliedPolicies applied;
    private readonly RunStore store;
    private readonly InventoryReader inventory;
    private readonly TimeProvider timeProvider;
    private readonly NodeIdentity node;
    private readonly SemaphoreSlim gate = new(1, 1);

    public PolicyApplier(IPolicySetParser parser, AppliedPolicies applied, RunStore store, InventoryReader inventory, TimeProvider timeProvider, NodeIdentity node)
    {
        this.parser = parser;
        this.applied = applied;
        this.store = store;
        this.inventory = inventory;
        this.timeProvider = timeProvider;
        this.node = node;
    }

    /// <summary>Validates, diffs and plans without changing anything.</summary>
    public async Task<ApplyResult> PlanAsync(ApplyRequest request, CancellationToken cancellationToken = default) =>
        await EvaluateAsync(request, await applied.GetAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    public async Task<ApplyResult> ApplyAsync(IScheduler scheduler, ApplyRequest request, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The diff and the optimistic append use the same revision, so a concurrent apply elsewhere is a conflict.
            var current = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
            var evaluated = await EvaluateAsync(request, current, cancellationToken).ConfigureAwait(false);
            if (evaluated.Status != ApplyResult.Valid)
            {
                return evaluated;
            }

            var parsed = parser.Parse(request.Sources);
            if (evaluated.Diff!.IsEmpty && current.Seq > 0)
            {
                // Same policies: still make sure the triggers exist (a fresh node, a lost trigger).
                await PolicyScheduler.SyncAsync(scheduler, current.Policies, cancellationToken).ConfigureAwait(false);
                return evaluated with { Status = ApplyResult.Unchanged, Seq = current.Seq };
            }

            var names = parsed.Policies.Policies.Select(p => p.Name);
            var seq = await store.AppendRevisionAsync(current.Seq, request.Revision, request.Author, node.Name, request.Sources, names,
                evaluated.Diff.ToString(), cancellationToken).ConfigureAwait(false);
            if (seq is null)
            {
                return evaluated with { Status = ApplyResult.Conflict, Refusal = "another revision was applied at the same time; plan again" };
            }

            var now = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
            await PolicyScheduler.SyncAsync(scheduler, now.Policies, cancellationToken).ConfigureAwait(false);

            // A new or changed policy catches up its latest fire time at once (at most one create per schedule and volume).
            foreach (var name in request.CatchUp ? evaluated.Diff.Added.Concat(evaluated.Diff.Changed) : [])
            {
                if (now.Policies.Find(name) is { Enabled: true })
                {
                    await scheduler.TriggerJob(JobKeys.Policy(name), new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Startup }, cancellationToken).ConfigureAwait(false);
                }
            }

            return evaluated with { Status = ApplyResult.Applied, Seq = seq };
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<ApplyResult> EvaluateAsync(ApplyRequest request, AppliedPolicySet current, CancellationToken cancellationToken)
    {
        var parsed = parser.Parse(request.Sources);
        var diagnostics = parsed.Diagnostics.Select(d => d.ToString()).ToImmutableArray();
        if (parsed.HasErrors)
        {
            return new ApplyResult { Status = ApplyResult.Invalid, Diagnostics = diagnostics, Refusal = "the policy set has errors" };
        }

        var diff = Diff(current, parsed.Policies, request.Sources);
        var set = parsed.Policies;
        var plan = new SnapshotPlanner().Plan(set, await inventory.ReadAsync(set, cancellationToken).ConfigureAwait(false), timeProvider.GetUtcNow());
        var refusal = request.AllowDestructive ? null : DestructiveRefusal(set, plan);
        return new ApplyResult
        {
            Status = refusal is null ? ApplyResult.Valid : ApplyResult.Refused,
            Diagnostics = diagnostics,
            Diff = diff,
            Plan = plan,
            Refusal = refusal,
        };
    }

    /// <summary>
    /// A revision is destructive when, for some policy, the snapshots its plan releases (deleted now or deferred)
    /// exceed that policy's maxDeletesPerRun.
    /// </summary>
    public static string? DestructiveRefusal(PolicySet set, Plan plan)
    {
        var problems = new List<string>();
        foreach (var policy in set.Policies)
        {
            if (policy.Safety.MaxDeletesPerRun is not { } limit)
            {
                continue;
            }

            var owned = plan.Decisions.Count(d => d.Policy == policy.Name);
            var released = plan.Decisions.Count(d => d.Policy == policy.Name && d.Verdict != SnapshotVerdict.Kept);
            var allowed = limit.Resolve(owned);
            if (released > allowed)
            {
                problems.Add($"{policy.Name} would delete {released} snapshot(s), more than maxDeletesPerRun {limit} ({allowed})");
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems) + "; pass allowDestructive to apply anyway";
    }

    /// <summary>Policies compare by the text of the file that defines them (plus name), so any edit counts as a change.</summary>
    private static PolicySetDiff Diff(AppliedPolicySet current, PolicySet next, ImmutableArray<PolicySource> nextSources)
    {
        var before = Fingerprints(current.Policies, current.Revision?.Sources ?? []);
        var after = Fingerprints(next, nextSources);
        return new PolicySetDiff(
            [.. after.Keys.Except(before.Keys).Order(StringComparer.Ordinal)],
            [.. before.Keys.Except(after.Keys).Order(StringComparer.Ordinal)],
            [.. after.Keys.Intersect(before.Keys).Where(k => before[k] != after[k]).Order(StringComparer.Ordinal)],
            [.. after.Keys.Intersect(before.Keys).Where(k => before[k] == after[k]).Order(StringComparer.Ordinal)]);
    }

    private static Dictionary<string, string> Fingerprints(PolicySet set, ImmutableArray<PolicySource> sources)
    {
        var byPath = sources.GroupBy(s => s.Path, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Text, StringComparer.Ordinal);
        return set.Policies.ToDictionary(p => p.Name, p =>
        {
            var text = byPath.GetValueOrDefault(p.Source.File) ?? "";
            return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(p.Name + "\n" + text)));
        }, StringComparer.Ordinal);
    }
}
