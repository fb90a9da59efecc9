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

    /// <summary>
    /// Apply even when the revision is destructive: it removes policies that own snapshots, more than half of them or
    /// all of them, or its plan deletes more than a policy's maxDeletesPerRun (or the default cap).
    /// </summary>
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
                await PolicyScheduler.SyncAsync(scheduler, current.Policies, await PausedAsync(cancellationToken).ConfigureAwait(false), removeOthers: false, cancellationToken)
                    .ConfigureAwait(false);
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
            // A schedule edit rebuilds its trigger; a paused policy stays paused (the store says so, and Quartz agrees).
            var paused = await PausedAsync(cancellationToken).ConfigureAwait(false);
            await PolicyScheduler.SyncAsync(scheduler, now.Policies, paused, removeOthers: true, cancellationToken).ConfigureAwait(false);

            // A new or changed policy catches up its latest fire time at once (at most one create per schedule and volume).
            foreach (var name in request.CatchUp ? evaluated.Diff.Added.Concat(evaluated.Diff.Changed) : [])
            {
                if (now.Policies.Find(name) is { Enabled: true })
                {
                    await PolicyScheduler.TriggerAsync(scheduler, name, new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Startup }, now.Policies, paused, cancellationToken)
                        .ConfigureAwait(false);
                }
            }

            return evaluated with { Status = ApplyResult.Applied, Seq = seq };
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<IReadOnlySet<string>> PausedAsync(CancellationToken cancellationToken) =>
        (await store.ListPausesAsync(cancellationToken).ConfigureAwait(false)).Keys.ToHashSet(StringComparer.Ordinal);

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
        var plan = await inventory.PlanAsync(new SnapshotPlanner(), set, timeProvider.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        string? refusal = null;
        if (!request.AllowDestructive)
        {
            // Snapshots the removed policies own (read from their regions): a removed policy's retention stops for good.
            var removed = new PolicySet([.. current.Policies.Policies.Where(p => diff.Removed.Contains(p.Name, StringComparer.Ordinal))]);
            var owned = removed.Policies.IsEmpty
                ? new Dictionary<string, int>(StringComparer.Ordinal)
                : (await inventory.ReadAsync(removed, cancellationToken).ConfigureAwait(false)).Snapshots
                    .Select(s => s.Tags.GetValueOrDefault(OwnershipTags.Policy))
                    .OfType<string>()
                    .Where(name => diff.Removed.Contains(name, StringComparer.Ordinal))
                    .GroupBy(name => name, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var problems = new[]
            {
                RemovalRefusal(current.Policies.Policies.Length, set.Policies.Length, diff.Removed, owned),
                DestructiveRefusal(set, plan, [.. diff.Added, .. diff.Changed]),
            }.OfType<string>().ToList();
            refusal = problems.Count == 0 ? null : string.Join("; ", problems) + "; pass allowDestructive to apply anyway";
        }

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
    /// The cap on a policy without <c>maxDeletesPerRun</c>: a revision that adds or changes it may not release more
    /// than half of the snapshots it owns (at least one is always allowed). Unchanged policies are not held to it, so
    /// an unrelated edit is never refused for another policy's ordinary retention backlog.
    /// </summary>
    public static DeleteLimit DefaultMaxDeletesPerRun { get; } = new(50, IsPercent: true);

    /// <summary>
    /// A revision is destructive when, for some policy, the snapshots its plan releases (deleted now or deferred)
    /// exceed that policy's maxDeletesPerRun; a policy without one is held to <see cref="DefaultMaxDeletesPerRun"/>
    /// when it is in <paramref name="touched"/> (added or changed by the revision; null: every policy). Null when not
    /// destructive, otherwise the reasons (without the "pass allowDestructive" hint).
    /// </summary>
    public static string? DestructiveRefusal(PolicySet set, Plan plan, IReadOnlyCollection<string>? touched = null)
    {
        var problems = new List<string>();
        foreach (var policy in set.Policies)
        {
            var limit = policy.Safety.MaxDeletesPerRun;
            var isDefault = false;
            if (limit is null)
            {
                if (touched is not null && !touched.Contains(policy.Name, StringComparer.Ordinal))
                {
                    continue;
                }

                limit = DefaultMaxDeletesPerRun;
                isDefault = true;
            }

            var owned = plan.Decisions.Count(d => d.Policy == policy.Name);
            var released = plan.Decisions.Count(d => d.Policy == policy.Name && d.Verdict != SnapshotVerdict.Kept);
            var allowed = isDefault ? Math.Max(1, limit.Resolve(owned)) : limit.Resolve(owned);
            if (released > allowed)
            {
                problems.Add(isDefault
                    ? $"{policy.Name} would delete {released} of its {owned} snapshot(s), more than the default cap of {limit} ({allowed}) for a policy without maxDeletesPerRun"
                    : $"{policy.Name} would delete {released} snapshot(s), more than maxDeletesPerRun {limit} ({allowed})");
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>
    /// Removing policies is destructive when the new set is empty (while policies are applied), when it removes more
    /// than half of the applied policies, or when a removed policy owns snapshots (their retention would stop for
    /// good). <paramref name="owned"/>: snapshots owned per removed policy. Null when not destructive.
    /// </summary>
    public static string? RemovalRefusal(int currentCount, int nextCount, IReadOnlyCollection<string> removed, IReadOnlyDictionary<string, int> owned)
    {
        if (removed.Count == 0)
        {
            return null;
        }

        if (nextCount == 0)
        {
            return $"the revision has no policies and would remove all {currentCount} applied ({string.Join(' ', removed)})";
        }

        var problems = new List<string>();
        if (removed.Count * 2 > currentCount)
        {
            problems.Add($"the revision removes {removed.Count} of {currentCount} applied policies ({string.Join(' ', removed)}), more than half");
        }

        foreach (var name in removed.Order(StringComparer.Ordinal))
        {
            if (owned.GetValueOrDefault(name) is > 0 and var count)
            {
                problems.Add($"removing {name} leaves its {count} snapshot(s) without retention");
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
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
