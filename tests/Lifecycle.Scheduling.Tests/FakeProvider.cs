using System.Collections.Concurrent;
using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// An in-memory provider for executor unit tests, with scripted failures. The real engine is exercised by the
/// end-to-end tests; this double only lets a test make the provider throttle, fail or half-succeed on demand.
/// </summary>
internal sealed class FakeProvider(string region) : ISnapshotProvider, IProviderRegistry, IEngineRegistry
{
    /// <summary>Serves policies of either engine kind (the executor picks the engine per action).</summary>
    public ImmutableArray<EngineKind> Engines => [EngineKind.Aws, EngineKind.Local];

    public EngineKind Default => EngineKind.Aws;

    public IProviderRegistry For(EngineKind engine) => this;

    private readonly ConcurrentDictionary<string, SnapshotInfo> snapshots = new();
    private int next;

    public string Region => region;

    public ImmutableArray<string> Regions => [region];

    public int CreateCalls;

    /// <summary>Errors thrown by the next create calls, in order.</summary>
    public ConcurrentQueue<ProviderException> CreateFailures { get; } = new();

    /// <summary>Create the snapshot, then throw this (a response lost after the engine acted).</summary>
    public ProviderException? FailAfterCreate { get; set; }

    public IReadOnlyCollection<SnapshotInfo> Snapshots => snapshots.Values.ToList();

    /// <summary>New snapshots start pending (a test completes them with <see cref="SetState"/>); otherwise completed.</summary>
    public bool CreatePending { get; set; }

    /// <summary>Called at each create call, before the snapshot exists (a test records the order of hooks and creates).</summary>
    public Action? OnCreate { get; set; }

    /// <summary>Moves a snapshot to another state (completes a pending one, or breaks it).</summary>
    public void SetState(string snapshotId, SnapshotState state) => snapshots[snapshotId] = snapshots[snapshotId] with { State = state };

    public ISnapshotProvider For(string name) => name == region ? this : throw ProviderException.NotFound("InvalidRegion", name);

    public void Add(SnapshotInfo snapshot) => snapshots[snapshot.Id] = snapshot;

    private readonly ConcurrentDictionary<string, VolumeInfo> volumes = new(StringComparer.Ordinal);

    /// <summary>A volume the volume reads answer with (when its tags match their filter).</summary>
    public void AddVolume(VolumeInfo volume) => volumes[volume.Id] = volume;

    /// <summary>How many snapshots the snapshot reads have answered with, in all.</summary>
    public int SnapshotsDescribed => Volatile.Read(ref snapshotsDescribed);

    private int snapshotsDescribed;

    /// <summary>Awaited at each volume read, before it answers (a test holds a policy run in its inventory read).</summary>
    public Func<CancellationToken, Task>? BeforeDescribeVolumes { get; set; }

    public async Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default)
    {
        if (BeforeDescribeVolumes is { } before)
        {
            await before(cancellationToken).ConfigureAwait(false);
        }

        return [.. volumes.Values.Where(v => filter is null || Matches(v.Tags, filter)).OrderBy(v => v.Id, StringComparer.Ordinal)];
    }

    public Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default)
    {
        IEnumerable<SnapshotInfo> result = snapshots.Values;
        if (query is not null)
        {
            if (!query.SnapshotIds.IsDefaultOrEmpty)
            {
                result = result.Where(s => query.SnapshotIds.Contains(s.Id));
            }

            if (query.Tags is not null)
            {
                result = result.Where(s => Matches(s.Tags, query.Tags));
            }
        }

        var found = result.OrderBy(s => s.Id).ToImmutableArray();
        Interlocked.Add(ref snapshotsDescribed, found.Length);
        return Task.FromResult(found);
    }

    /// <summary>Every key of the filter, and one of its values (any value when it lists none).</summary>
    private static bool Matches(ImmutableSortedDictionary<string, string> tags, TagFilter filter) =>
        filter.Tags.All(f => tags.TryGetValue(f.Key, out var v) && (f.Value.IsDefaultOrEmpty || f.Value.Contains(v)));

    /// <summary>Snapshots of this fake complete at once; a test may set one's state to pending and back.</summary>
    public async Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        while (snapshots.TryGetValue(snapshotId, out var snapshot))
        {
            if (snapshot.State != SnapshotState.Pending)
            {
                return snapshot;
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    public Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref CreateCalls);
        OnCreate?.Invoke();
        if (CreateFailures.TryDequeue(out var failure))
        {
            throw failure;
        }

        var snapshot = new SnapshotInfo
        {
            Id = $"snap-{Interlocked.Increment(ref next):D4}",
            VolumeId = request.VolumeId,
            Region = region,
            StartTime = DateTimeOffset.UnixEpoch,
            Tags = request.Tags,
            State = CreatePending ? SnapshotState.Pending : SnapshotState.Completed,
        };
        snapshots[snapshot.Id] = snapshot;
        if (FailAfterCreate is { } after)
        {
            FailAfterCreate = null;
            throw after;
        }

        return Task.FromResult(snapshot);
    }

    public Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        snapshots.TryRemove(snapshotId, out _);
        return Task.CompletedTask;
    }

    public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) => throw new NotSupportedException();
}
