using System.Collections.Immutable;

namespace Lifecycle.Core.Inventory;

/// <summary>
/// What a provider sees across its regions: volumes and snapshots. This is what <c>lifecycle plan</c> reads
/// offline (the inventory JSON of policies/inventory.md) and what the engines export.
/// </summary>
public sealed record Inventory
{
    public static Inventory Empty { get; } = new();

    public ImmutableArray<VolumeInfo> Volumes { get; init; } = [];

    public ImmutableArray<SnapshotInfo> Snapshots { get; init; } = [];
}

public enum VolumeState
{
    Creating,
    Available,
    InUse,
    Deleting,
    Deleted,
    Error,
}

/// <summary>A block volume as a provider describes it.</summary>
public sealed record VolumeInfo
{
    public required string Id { get; init; }

    public required string Region { get; init; }

    public required string Zone { get; init; }

    public int SizeGiB { get; init; }

    public VolumeState State { get; init; } = VolumeState.Available;

    public ImmutableSortedDictionary<string, string> Tags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>The instance it is attached to, if any.</summary>
    public string? InstanceId { get; init; }

    /// <summary>Device name on the instance (e.g. /dev/xvda).</summary>
    public string? Device { get; init; }

    /// <summary>True for the instance's root (boot) volume.</summary>
    public bool IsBoot { get; init; }

    /// <summary>
    /// The tags of the instance it is attached to, where the provider reports them (EC2's DescribeInstances); empty
    /// otherwise (the local engine has no instance objects). Instance targets match on these or on a volume's tags.
    /// </summary>
    public ImmutableSortedDictionary<string, string> InstanceTags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public bool Encrypted { get; init; }

    public string? KeyId { get; init; }

    /// <summary>The snapshot it was created from, if any.</summary>
    public string? SnapshotId { get; init; }
}

public enum SnapshotState
{
    Pending,
    Completed,
    Error,
    Recoverable,
    Recovering,
}

public enum StorageTier
{
    Standard,
    Archive,
}

/// <summary>Fast snapshot restore states per availability zone, as EC2 names them.</summary>
public enum FastRestoreState
{
    Enabling,
    Optimizing,
    Enabled,
    Disabling,
    Disabled,
}

/// <summary>A snapshot as a provider describes it.</summary>
public sealed record SnapshotInfo
{
    public required string Id { get; init; }

    /// <summary>
    /// The source volume id. For a copy this is whatever the engine reports (EC2 gives copies an arbitrary volume
    /// id): group copies by <see cref="SourceVolumeId"/>, which reads the <c>lifecycle:source-volume</c> tag.
    /// </summary>
    public required string VolumeId { get; init; }

    public required string Region { get; init; }

    public required DateTimeOffset StartTime { get; init; }

    public SnapshotState State { get; init; } = SnapshotState.Completed;

    /// <summary>Progress 0..100.</summary>
    public int Progress { get; init; } = 100;

    public StorageTier Tier { get; init; } = StorageTier.Standard;

    /// <summary>
    /// When the snapshot entered the archive tier (for the 90-day minimum and archive retention). Every provider fills
    /// it for archive-tier snapshots (EC2: DescribeSnapshotTierStatus's archival completion time).
    /// </summary>
    public DateTimeOffset? ArchivedAt { get; init; }

    /// <summary>End of a temporary restore from the archive tier.</summary>
    public DateTimeOffset? RestoreExpiryTime { get; init; }

    /// <summary>Size of the source volume in GiB.</summary>
    public int VolumeSizeGiB { get; init; }

    /// <summary>Bytes this snapshot stores that its predecessor did not (incremental size), when known.</summary>
    public long? StoredBytes { get; init; }

    /// <summary>Full size of the snapshot's data in bytes, when known.</summary>
    public long? FullSizeBytes { get; init; }

    public ImmutableSortedDictionary<string, string> Tags { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public bool Encrypted { get; init; }

    public string? KeyId { get; init; }

    public string? Description { get; init; }

    /// <summary>Fast snapshot restore state per availability zone; zones absent are disabled.</summary>
    public ImmutableSortedDictionary<string, FastRestoreState> FastRestore { get; init; } =
        ImmutableSortedDictionary<string, FastRestoreState>.Empty;

    /// <summary>For a cross-region copy: the snapshot it was copied from, and that snapshot's region.</summary>
    public string? SourceSnapshotId { get; init; }

    public string? SourceRegion { get; init; }
}
