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

    public bool IsCompleted => Info.State == SnapshotState.Completed;

    public bool IsStandard => Info.Tier == StorageTier.Standard;

    // The decision, filled in by the planner.
    public List<string> KeepReasons { get; } = [];

    public SnapshotOutcome Outcome { get; set; }

    public string? OutcomeReason { get; set; }

    /// <summary>Set when an archive-after rule wants it in the archive tier.</summary>
    public string? ArchiveBy { get; set; }

    public bool ProtectedAsLatest { get; set; }

    public bool Carries(string schedule) => Array.IndexOf(Schedules, schedule) >= 0;
}

internal enum SnapshotOutcome
{
    Undecided,
    Kept,
    Released,
    Archive,
}

/// <summary>
/// The inventory indexed once per plan: owned snapshots by policy, copy tokens by region, volumes by id. Every
/// snapshot's tags are read in one pass, so planning stays linear in the inventory size.
/// </summary>
internal sealed class PlanIndex
{
    private readonly Dictionary<string, List<OwnedSnapshot>> ownedByPolicy = new(StringComparer.Ordinal);
    private readonly HashSet<(string Region, string Token)> liveCopyTokens = [];

    public PlanIndex(Inventory.Inventory inventory)
    {
        foreach (var volume in inventory.Volumes)
        {
            VolumesById.TryAdd(volume.Id, volume);
        }

        Volumes = inventory.Volumes;
        foreach (var snapshot in inventory.Snapshots)
        {
            if (snapshot.State is SnapshotState.Recoverable or SnapshotState.Recovering)
            {
                continue; // in the recycle bin: not a live snapshot
            }

            string? policy = null, schedule = null, schedules = null, fireTime = null, token = null;
            var isCopy = false;
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

            isCopy |= snapshot.SourceSnapshotId is not null;
            if (isCopy && token is not null && snapshot.State != SnapshotState.Error)
            {
                liveCopyTokens.Add((snapshot.Region, token));
            }

            if (policy is null)
            {
                continue;
            }

            string[] scheduleNames = schedules is not null
                ? schedules.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : schedule is not null ? [schedule] : [];
            Array.Sort(scheduleNames, StringComparer.Ordinal);
            if (!ownedByPolicy.TryGetValue(policy, out var list))
            {
                ownedByPolicy[policy] = list = [];
            }

            list.Add(new OwnedSnapshot(snapshot, policy) { Schedules = scheduleNames, FireTime = fireTime, Token = token, IsCopy = isCopy });
        }
    }

    public System.Collections.Immutable.ImmutableArray<VolumeInfo> Volumes { get; }

    public Dictionary<string, VolumeInfo> VolumesById { get; } = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> OwningPolicies => ownedByPolicy.Keys;

    public List<OwnedSnapshot> OwnedBy(string policy) => ownedByPolicy.TryGetValue(policy, out var list) ? list : [];

    /// <summary>True when the region already holds a copy (not failed) with this token.</summary>
    public bool HasCopy(string region, string token) => liveCopyTokens.Contains((region, token));
}
