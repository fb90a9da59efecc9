using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Providers;

/// <summary>
/// One engine in one region (AWS EC2 or the local block engine). Operations are named after the EC2 verbs and hold
/// exactly what the executor needs. Contracts common to all members:
/// <list type="bullet">
/// <item>Errors are <see cref="ProviderException"/> with a <see cref="ProviderErrorKind"/>; the executor retries
/// <see cref="ProviderErrorKind.Throttled"/> and <see cref="ProviderErrorKind.Transient"/> at once (with backoff) and
/// <see cref="ProviderErrorKind.RetryLater"/> (a rate or concurrency limit of the account) later, before the next
/// fire of the schedule.</item>
/// <item>Snapshots are described with everything the planner needs, <see cref="SnapshotInfo.ArchivedAt"/> included
/// (EC2: from DescribeSnapshotTierStatus), so retention and the archive minimum are computed the same on every engine.</item>
/// <item>Describes filter at the engine (tags, ids, owner), never by reading a whole region.</item>
/// <item>Deleting something already gone is success (no exception).</item>
/// <item>Creates and copies set their tags atomically with the resource (TagSpecifications), so a snapshot is never
/// visible without its ownership tags. None of them is idempotent by itself: the executor looks up the
/// <c>lifecycle:token</c> tag before calling.</item>
/// </list>
/// </summary>
public interface ISnapshotProvider
{
    /// <summary>The region this provider acts in.</summary>
    string Region { get; }

    /// <summary>Volumes whose tags match every filter (a filter's values are OR-ed); null lists all.</summary>
    Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Snapshots (standard and archive tier, not those in the recycle bin) matching the query.</summary>
    Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until a snapshot is no longer pending and returns it (completed or error); null when it does not exist
    /// (after the engine's eventual-consistency window). The provider chooses how: the local engine knows when its
    /// background build ends; EC2 is asked with one DescribeSnapshots per region for all pending ids at an interval.
    /// Cancelling the token abandons the wait, not the snapshot.
    /// </summary>
    Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>Starts a point-in-time snapshot of one volume; returns it in state pending or completed.</summary>
    Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default);

    /// <summary>Crash-consistent snapshots of all (or all but the boot) volumes of an instance, at one instant.</summary>
    Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default);

    /// <summary>Called on the <em>target</em> region's provider: copies a completed snapshot from the source region.</summary>
    Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default);

    /// <summary>Deletes a snapshot (to the recycle bin where a rule matches). NotFound is success. Throws IncorrectState if in use.</summary>
    Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>ModifySnapshotTier to archive. Only completed standard-tier snapshots; IncorrectState otherwise.</summary>
    Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>RestoreSnapshotTier: temporary for <paramref name="days"/> days, or permanent when null.</summary>
    Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default);

    /// <summary>Enables fast snapshot restore in the zones; returns the resulting state per zone.</summary>
    Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default);

    Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default);

    /// <summary>Fast snapshot restore states, for one snapshot or (null) all.</summary>
    Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default);

    Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default);

    Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>Creates a volume from a snapshot in a zone. Archived or recycled snapshots: IncorrectState.</summary>
    Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default);

    /// <summary>Adds or overwrites tags on a volume or snapshot.</summary>
    Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default);
}

/// <summary>Tag filters: every key must match; a key's values are alternatives. An empty value list matches any value.</summary>
public sealed record TagFilter(ImmutableSortedDictionary<string, ImmutableArray<string>> Tags)
{
    public static TagFilter Key(string key, params string[] values) =>
        new(ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add(key, [.. values]));
}

public sealed record SnapshotQuery
{
    public ImmutableArray<string> SnapshotIds { get; init; } = [];

    public ImmutableArray<string> VolumeIds { get; init; } = [];

    public TagFilter? Tags { get; init; }
}

public sealed record CreateSnapshotRequest(string VolumeId, ImmutableSortedDictionary<string, string> Tags, string? Description = null);

/// <summary>
/// CreateSnapshots of an instance (EC2's InstanceSpecification): every volume attached to it at that instant, minus the
/// boot volume when <paramref name="ExcludeBootVolume"/> and minus <paramref name="ExcludeVolumeIds"/>.
/// </summary>
public sealed record CreateSnapshotsRequest(
    string InstanceId,
    ImmutableSortedDictionary<string, string> Tags,
    bool ExcludeBootVolume = false,
    ImmutableArray<string> ExcludeVolumeIds = default,
    string? Description = null)
{
    /// <summary>
    /// The request that carries out a planned instance-set create, with the exclusions the planner decided
    /// (<see cref="PlannedAction.ExcludeBootVolume"/>, <see cref="PlannedAction.ExcludeVolumeIds"/>).
    /// </summary>
    public static CreateSnapshotsRequest For(PlannedAction create, ImmutableSortedDictionary<string, string> tags)
    {
        ArgumentNullException.ThrowIfNull(create);
        if (create.Kind != ActionKind.Create || create.InstanceId is null)
        {
            throw new ArgumentException("only a create of an instance set becomes a CreateSnapshots request", nameof(create));
        }

        return new CreateSnapshotsRequest(create.InstanceId, tags, create.ExcludeBootVolume,
            create.ExcludeVolumeIds.IsDefault ? [] : create.ExcludeVolumeIds, create.Reason);
    }
}

public sealed record CopySnapshotRequest(
    string SourceRegion,
    string SourceSnapshotId,
    ImmutableSortedDictionary<string, string> Tags,
    bool Encrypted = false,
    string? KeyId = null,
    string? Description = null);

public sealed record CreateVolumeRequest(
    string SnapshotId,
    string Zone,
    ImmutableSortedDictionary<string, string> Tags,
    int? SizeGiB = null);

public sealed record FastRestoreZoneState(string SnapshotId, string Zone, FastRestoreState State, DateTimeOffset Since);

public sealed record RecycleBinEntry(SnapshotInfo Snapshot, DateTimeOffset RecycleBinEnterTime, DateTimeOffset RecycleBinExitTime);

/// <summary>Why a provider call failed; decides retries.</summary>
public enum ProviderErrorKind
{
    NotFound,
    IncorrectState,
    InvalidParameter,
    LimitExceeded,

    /// <summary>The request rate of the API: retried at once with backoff.</summary>
    Throttled,

    /// <summary>
    /// A rate or concurrency limit that clears within minutes (EC2: SnapshotCreationPerVolumeRateExceeded,
    /// ConcurrentSnapshotLimitExceeded, copy limits): retried later, before the schedule's next fire.
    /// </summary>
    RetryLater,
    Transient,
    Unauthorized,
    Unknown,
}

/// <summary>A typed provider failure. <see cref="Code"/> is the EC2 error code where there is one.</summary>
public sealed class ProviderException : Exception
{
    public ProviderException(ProviderErrorKind kind, string code, string message, Exception? inner = null, TimeSpan? retryAfter = null)
        : base(message, inner)
    {
        Kind = kind;
        Code = code;
        RetryAfter = retryAfter;
    }

    /// <summary>For <see cref="ProviderErrorKind.RetryLater"/>: when the engine says the limit clears, if it says.</summary>
    public TimeSpan? RetryAfter { get; }

    public ProviderErrorKind Kind { get; }

    public string Code { get; }

    /// <summary>Throttling and transient faults are worth retrying at once; everything else is not.</summary>
    public bool IsRetryable => Kind is ProviderErrorKind.Throttled or ProviderErrorKind.Transient;

    /// <summary>A limit that clears by itself: worth retrying after a while (see <see cref="ProviderErrorKind.RetryLater"/>).</summary>
    public bool IsRetryLater => Kind == ProviderErrorKind.RetryLater;

    public static ProviderException NotFound(string code, string message) => new(ProviderErrorKind.NotFound, code, message);

    public static ProviderException IncorrectState(string code, string message) => new(ProviderErrorKind.IncorrectState, code, message);

    public static ProviderException InvalidParameter(string message) => new(ProviderErrorKind.InvalidParameter, "InvalidParameterValue", message);
}

/// <summary>Providers for every region of one engine.</summary>
public interface IProviderRegistry
{
    ImmutableArray<string> Regions { get; }

    /// <summary>The provider of a region; throws ProviderException NotFound for an unknown region.</summary>
    ISnapshotProvider For(string region);
}

/// <summary>
/// The engines a server runs policies against. A policy's <c>engine:</c> field picks one, so local and AWS policies
/// run side by side, each against its own providers and its own inventory.
/// </summary>
public interface IEngineRegistry
{
    /// <summary>The engines this server has; a policy naming another one is refused at apply with its name.</summary>
    ImmutableArray<EngineKind> Engines { get; }

    /// <summary>The engine of actions stored before actions named their engine.</summary>
    EngineKind Default { get; }

    /// <summary>The providers of an engine; throws ProviderException NotFound when this server does not have it.</summary>
    IProviderRegistry For(EngineKind engine);
}

/// <summary>An engine registry from a fixed map of engines.</summary>
public sealed class EngineRegistry : IEngineRegistry
{
    private readonly ImmutableSortedDictionary<EngineKind, IProviderRegistry> engines;

    public EngineRegistry(EngineKind defaultEngine, IReadOnlyDictionary<EngineKind, IProviderRegistry> engines)
    {
        ArgumentNullException.ThrowIfNull(engines);
        if (!engines.ContainsKey(defaultEngine))
        {
            throw new ArgumentException($"the default engine {defaultEngine} is not among the engines", nameof(engines));
        }

        this.engines = engines.ToImmutableSortedDictionary();
        Default = defaultEngine;
    }

    /// <summary>One engine, which is also the default.</summary>
    public static EngineRegistry Single(EngineKind engine, IProviderRegistry registry) =>
        new(engine, new Dictionary<EngineKind, IProviderRegistry> { [engine] = registry });

    public ImmutableArray<EngineKind> Engines => [.. engines.Keys];

    public EngineKind Default { get; }

    public IProviderRegistry For(EngineKind engine) =>
        engines.TryGetValue(engine, out var registry)
            ? registry
            : throw new ProviderException(ProviderErrorKind.NotFound, "EngineNotConfigured",
                $"this server has no {Name(engine)} engine (it runs {string.Join(", ", engines.Keys.Select(Name))})");

    public static string Name(EngineKind engine) => engine.ToString().ToLowerInvariant();
}
