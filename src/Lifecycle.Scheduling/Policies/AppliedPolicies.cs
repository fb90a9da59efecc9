using Lifecycle.Core.Concurrency;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Policies;

/// <summary>
/// The policy set this node runs: the newest applied revision in the store, parsed once per revision. Every job asks
/// for it, so a revision applied on another node takes effect here at the next job. The jobs that ask at once share
/// one read of the newest revision number (a fire's 1,000 creates asked 1,000 times), each answered by a read that
/// started after it asked.
/// </summary>
public sealed class AppliedPolicies
{
    private readonly RunStore store;
    private readonly IPolicySetParser parser;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly SharedRead<long> newestSeq;
    private AppliedPolicySet current = AppliedPolicySet.None;

    public AppliedPolicies(RunStore store, IPolicySetParser parser)
    {
        this.store = store;
        this.parser = parser;
        newestSeq = new SharedRead<long>(store.CurrentRevisionSeqAsync);
    }

    public async Task<AppliedPolicySet> GetAsync(CancellationToken cancellationToken = default)
    {
        var seq = await newestSeq.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (seq == current.Seq)
        {
            return current;
        }

        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (seq != current.Seq)
            {
                var revision = await store.CurrentRevisionAsync(cancellationToken).ConfigureAwait(false);
                if (revision is null)
                {
                    current = AppliedPolicySet.None;
                }
                else
                {
                    var parsed = parser.Parse(revision.Sources);
                    // A stored revision was valid when applied; a parser change that rejects it must not stop the
                    // server, so the valid part runs and the diagnostics are reported by /healthz and the API.
                    current = new AppliedPolicySet(revision.Seq, revision, parsed.Policies, parsed.Diagnostics.Select(d => d.ToString()).ToList());
                }
            }

            return current;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The definition of a policy that is no longer applied, from the newest earlier revision that had it (null when no
    /// stored revision has it). An interrupted create of a removed policy uses it to run the post hooks it owes.
    /// </summary>
    public async Task<SnapshotPolicy?> FindRetiredAsync(string name, CancellationToken cancellationToken = default)
    {
        foreach (var revision in await store.ListRevisionsAsync(100, cancellationToken).ConfigureAwait(false))
        {
            if (revision.PolicyNames.Contains(name, StringComparer.Ordinal) && parser.Parse(revision.Sources).Policies.Find(name) is { } policy)
            {
                return policy;
            }
        }

        return null;
    }
}

/// <summary>A parsed revision. <see cref="Seq"/> 0 means nothing was applied yet.</summary>
public sealed record AppliedPolicySet(long Seq, PolicyRevisionRecord? Revision, PolicySet Policies, IReadOnlyList<string> Diagnostics)
{
    public static AppliedPolicySet None { get; } = new(0, null, PolicySet.Empty, []);
}
