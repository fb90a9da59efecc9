using Lifecycle.Core.Inventory;

namespace Lifecycle.Core.Planning;

/// <summary>A snapshot that carries a lifecycle:policy tag, with its ownership tags read once.</summary>
internal sealed class OwnedSnapshot
{
    public OwnedSnapshot(SnapshotInfo info, string policy)
    {
        Info = info;
        Policy = policy;
    }

    public SnapshotInfo Info { get; }

    public string Policy { get; }

    /// <summary>Schedules whose rules it carries (lifecycle:schedules, else lifecycle:schedule), sorted.</summary>
    public string[] Schedules { get; set; } = [];

    public string? FireTime { get; set; }

    public string? Token { get; set; }

    /// <summary>A cross-region copy (carries lifecycle:source-snapshot).</summary>
    public bool IsCopy { get; set; }

    /// <summary>
    /// The volume whose series this snapshot belongs to, for retention: a copy's <c>lifecycle:source-volume</c> tag
    /// (EC2 gives a copy an arbitrary volume id, so grouping copies by <see cref="SnapshotInfo.VolumeId"/> would mix
    /// volumes and delete one volume's copies for another's), else the volume id the engine reports.
    /// </summary>
    public string SeriesVolumeId =>
        IsCopy && Info.Tags.TryGetValue(OwnershipTags.SourceVolume, out var source) && source.Length > 0 ? source : Info.VolumeId;

    public bool IsCompleted => Info.State == SnapshotState.Completed;

    public bool IsStandard => Info.Tier == StorageTier.Standard;

    // The decision, filled in by the planner. Reasons are allocated only when there is one (most of a million
    // snapshots have one or two).
    // The first reason inline, more in a list: most kept snapshots have one or two.
    private string? firstReason;
    private List<string>? moreReasons;

    public bool IsKeptByAnyRule => firstReason is not null;

    public bool HasOneReason => firstReason is not null && moreReasons is null;

    public string? FirstReason => firstReason;

    public System.Collections.Immutable.ImmutableArray<string> KeepReasonArray()
    {
        if (firstReason is null)
        {
            return [];
        }

        if (moreReasons is null)
        {
            return [firstReason];
        }

        var builder = System.Collections.Immutable.ImmutableArray.CreateBuilder<string>(1 + moreReasons.Count);
        builder.Add(firstReason);
        builder.AddRange(moreReasons);
        return builder.MoveToImmutable();
    }

    public void AddKeepReason(string reason)
    {
        if (firstReason is null)
        {
            firstReason = reason;
        }
        else
        {
            (moreReasons ??= new List<string>(2)).Add(reason);
        }
    }

    public void AddKeepReasons(List<string>? reasons, string prefix)
    {
        if (reasons is null)
        {
            return;
        }

        foreach (var reason in reasons)
        {
            AddKeepReason(prefix.Length == 0 ? reason : prefix + reason);
        }
    }

    public Lifecycle.Core.Planning.SnapshotVerdict Verdict { get; set; }

    public System.Collections.Immutable.ImmutableArray<string> DecisionReasons { get; set; }

    public SnapshotOutcome Outcome { get; set; }

    public string? OutcomeReason { get; set; }

    /// <summary>Set when an archive-after rule wants it in the archive tier.</summary>
    public string? ArchiveBy { get; set; }

    public bool ProtectedAsLatest { get; set; }

    /// <summary>Adopted from this Amazon DLM policy (no lifecycle:policy tag); null for a snapshot the policy made.</summary>
    public string? AdoptedFrom { get; init; }

    /// <summary>Why it is adopted and under which schedule, for the plan.</summary>
    public string? Adoption { get; init; }

    public bool Carries(string schedule) => Array.IndexOf(Schedules, schedule) >= 0;
}

internal enum SnapshotOutcome
{
    Undecided,
    Kept,
    Released,
    Archive,
}

/// <summary>A snapshot's ownership tags, parsed once (immutable: it may be cached per <see cref="SnapshotInfo"/> instance).</summary>
internal readonly record struct OwnershipInfo(string? Policy, string[] Schedules, string? FireTime, string? Token, bool IsCopy)
{
    /// <summary>Parses the tags; <paramref name="parsedLists"/> shares the parsed lifecycle:schedules arrays (never modified).</summary>
    public static OwnershipInfo Read(SnapshotInfo snapshot, Dictionary<string, string[]>? parsedLists)
    {
        string? policy = null, schedule = null, schedules = null, fireTime = null, token = null;
        var isCopy = snapshot.SourceSnapshotId is not null;
        foreach (var (key, value) in snapshot.Tags)
        {
            if (!key.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            switch (key)
            {
                case OwnershipTags.Policy: policy = value; break;
                case OwnershipTags.Schedule: schedule = value; break;
                case OwnershipTags.Schedules: schedules = value; break;
                case OwnershipTags.FireTime: fireTime = value; break;
                case OwnershipTags.Token: token = value; break;
                case OwnershipTags.SourceSnapshot: isCopy = true; break;
            }
        }

        if (policy is null && !isCopy)
        {
            return default;
        }

        var list = schedules ?? schedule;
        string[] names;
        if (list is null)
        {
            names = [];
        }
        else if (parsedLists is null || !parsedLists.TryGetValue(list, out names!))
        {
            names = schedules is null ? [list] : list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Array.Sort(names, StringComparer.Ordinal);
            parsedLists?.Add(list, names);
        }

        return new OwnershipInfo(policy, names, fireTime, token, isCopy);
    }
}

/// <summary>The cached form of <see cref="OwnershipInfo"/> (a class, for ConditionalWeakTable).</summary>
internal sealed class OwnershipBox(OwnershipInfo value)
{
    public OwnershipInfo Value { get; } = value;
}

/// <summary>
/// The inventory indexed once per plan: owned snapshots by policy, copy tokens by region, volumes by id. Every
/// snapshot's tags are read in one pass, so planning stays linear in the inventory size.
/// </summary>
internal sealed class PlanIndex
{
    private readonly Dictionary<string, List<OwnedSnapshot>> ownedByPolicy = new(StringComparer.Ordinal);
    private readonly HashSet<(string Region, string Token)> liveCopyTokens = [];
    private readonly Dictionary<string, List<SnapshotInfo>> byDlmPolicy = new(StringComparer.Ordinal);

    public PlanIndex(Inventory.Inventory inventory, System.Runtime.CompilerServices.ConditionalWeakTable<SnapshotInfo, OwnershipBox>? cache = null)
    {
        foreach (var volume in inventory.Volumes)
        {
            VolumesById.TryAdd(volume.Id, volume);
        }

        Volumes = inventory.Volumes;

        // Reading a million snapshots' tags is the planner's largest single cost: chunks are read in parallel, then
        // joined in inventory order, so the index is the same as a sequential pass.
        var snapshots = inventory.Snapshots;
        var chunkCount = snapshots.Length < 50_000 ? 1 : Math.Min(Environment.ProcessorCount, 8);
        var chunks = new IndexChunk[chunkCount];
        Parallel.For(0, chunkCount, c =>
        {
            var chunk = new IndexChunk();
            var from = (int)((long)snapshots.Length * c / chunkCount);
            var to = (int)((long)snapshots.Length * (c + 1) / chunkCount);
            for (var i = from; i < to; i++)
            {
                chunk.Read(snapshots[i], cache);
            }

            chunks[c] = chunk;
        });

        foreach (var chunk in chunks)
        {
            liveCopyTokens.UnionWith(chunk.LiveCopyTokens);
            foreach (var (dlmPolicy, made) in chunk.ByDlmPolicy)
            {
                if (byDlmPolicy.TryGetValue(dlmPolicy, out var list))
                {
                    list.AddRange(made);
                }
                else
                {
                    byDlmPolicy[dlmPolicy] = made;
                }
            }

            foreach (var (policy, owned) in chunk.OwnedByPolicy)
            {
                if (ownedByPolicy.TryGetValue(policy, out var list))
                {
                    list.AddRange(owned);
                }
                else
                {
                    ownedByPolicy[policy] = owned;
                }
            }
        }
    }

    /// <summary>The index of one slice of the inventory's snapshots.</summary>
    private sealed class IndexChunk
    {
        // Parsed lifecycle:schedules values, shared: a million snapshots carry a handful of distinct values.
        private readonly Dictionary<string, string[]> scheduleLists = new(StringComparer.Ordinal);

        public Dictionary<string, List<OwnedSnapshot>> OwnedByPolicy { get; } = new(StringComparer.Ordinal);

        public HashSet<(string Region, string Token)> LiveCopyTokens { get; } = [];

        public Dictionary<string, List<SnapshotInfo>> ByDlmPolicy { get; } = new(StringComparer.Ordinal);

        public void Read(SnapshotInfo snapshot, System.Runtime.CompilerServices.ConditionalWeakTable<SnapshotInfo, OwnershipBox>? cache)
        {
            if (snapshot.State is SnapshotState.Recoverable or SnapshotState.Recovering)
            {
                return; // in the recycle bin: not a live snapshot
            }

            var ownership = cache is null
                ? OwnershipInfo.Read(snapshot, scheduleLists)
                : cache.GetValue(snapshot, s => new OwnershipBox(OwnershipInfo.Read(s, null))).Value;

            if (ownership.IsCopy && ownership.Token is not null && snapshot.State != SnapshotState.Error)
            {
                LiveCopyTokens.Add((snapshot.Region, ownership.Token));
            }

            if (ownership.Policy is not { } policy || ownership.Schedules is null)
            {
                // Made by an Amazon DLM policy (and not ours): a policy that adopts that DLM policy may take it over.
                if (ownership.Policy is null && snapshot.Tags.TryGetValue(DlmTags.PolicyId, out var dlmPolicy))
                {
                    if (!ByDlmPolicy.TryGetValue(dlmPolicy, out var made))
                    {
                        ByDlmPolicy[dlmPolicy] = made = [];
                    }

                    made.Add(snapshot);
                }

                return;
            }

            if (!OwnedByPolicy.TryGetValue(policy, out var list))
            {
                OwnedByPolicy[policy] = list = [];
            }

            list.Add(new OwnedSnapshot(snapshot, policy) { Schedules = ownership.Schedules, FireTime = ownership.FireTime, Token = ownership.Token, IsCopy = ownership.IsCopy });
        }
    }

    public System.Collections.Immutable.ImmutableArray<VolumeInfo> Volumes { get; }

    public Dictionary<string, VolumeInfo> VolumesById { get; } = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> OwningPolicies => ownedByPolicy.Keys;

    public List<OwnedSnapshot> OwnedBy(string policy) => ownedByPolicy.TryGetValue(policy, out var list) ? list : [];

    /// <summary>Live snapshots tagged aws:dlm:lifecycle-policy-id = the DLM policy and no lifecycle:policy, in inventory order.</summary>
    public List<SnapshotInfo> MadeByDlmPolicy(string dlmPolicyId) => byDlmPolicy.TryGetValue(dlmPolicyId, out var list) ? list : [];

    /// <summary>True when the region already holds a copy (not failed) with this token.</summary>
    public bool HasCopy(string region, string token) => liveCopyTokens.Contains((region, token));
}
