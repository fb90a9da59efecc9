using System.Collections.Concurrent;
using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.Provider.Conformance;

/// <summary>
/// Scopes a conformance run on an engine that others may share (an EC2 account, an endpoint): every resource the run
/// creates carries <c>conformance-run=RUN</c>, every describe filters by that tag at the engine, and listings without
/// tag filters (recycle bin, fast restores) keep only ids this run made. The scope tag is taken off the results again,
/// so the suite's assertions read the same as on an unshared engine. (Not a <c>lifecycle:policy</c> tag: the product
/// protects a policy's newest snapshot on every path, and the suite deletes newest snapshots.)
/// </summary>
public sealed class RunScopedRegistry(IProviderRegistry inner, string runId) : IProviderRegistry
{
    public const string ScopeKey = "conformance-run";

    private readonly ConcurrentDictionary<string, byte> ours = new(StringComparer.Ordinal);

    public string ScopeValue { get; } = runId;

    public ImmutableArray<string> Regions => inner.Regions;

    public ISnapshotProvider For(string region) => new ScopedProvider(inner.For(region), this);

    /// <summary>Ids of snapshots and volumes this run created.</summary>
    public bool IsOurs(string id) => ours.ContainsKey(id);

    internal void Own(string id) => ours[id] = 0;

    public ImmutableSortedDictionary<string, string> Scoped(ImmutableSortedDictionary<string, string> tags) => tags.SetItem(ScopeKey, ScopeValue);

    internal ImmutableSortedDictionary<string, string> Unscoped(ImmutableSortedDictionary<string, string> tags) =>
        tags.GetValueOrDefault(ScopeKey) == ScopeValue ? tags.Remove(ScopeKey) : tags;

    internal TagFilter Filter(TagFilter? filter) =>
        new((filter?.Tags ?? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty).SetItem(ScopeKey, [ScopeValue]));

    internal SnapshotInfo Unscoped(SnapshotInfo snapshot) => snapshot with { Tags = Unscoped(snapshot.Tags) };

    internal VolumeInfo Unscoped(VolumeInfo volume) => volume with { Tags = Unscoped(volume.Tags) };

    private sealed class ScopedProvider(ISnapshotProvider inner, RunScopedRegistry scope) : ISnapshotProvider
    {
        public string Region => inner.Region;

        public async Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default) =>
            [.. (await inner.DescribeVolumesAsync(scope.Filter(filter), cancellationToken)).Select(scope.Unscoped)];

        public async Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default) =>
            [.. (await inner.DescribeSnapshotsAsync((query ?? new SnapshotQuery()) with { Tags = scope.Filter(query?.Tags) }, cancellationToken)).Select(scope.Unscoped)];

        public async Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default) =>
            await inner.WaitForCompletionAsync(snapshotId, cancellationToken) is { } done ? scope.Unscoped(done) : null;

        public async Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default) =>
            Own(await inner.CreateSnapshotAsync(request with { Tags = scope.Scoped(request.Tags) }, cancellationToken));

        public async Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default) =>
            [.. (await inner.CreateSnapshotsAsync(request with { Tags = scope.Scoped(request.Tags) }, cancellationToken)).Select(Own)];

        public async Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default) =>
            Own(await inner.CopySnapshotAsync(request with { Tags = scope.Scoped(request.Tags) }, cancellationToken));

        public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) => inner.DeleteSnapshotAsync(snapshotId, cancellationToken);

        public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) => inner.ArchiveSnapshotAsync(snapshotId, cancellationToken);

        public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) =>
            inner.RestoreSnapshotTierAsync(snapshotId, days, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            inner.EnableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            inner.DisableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken);

        public async Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
            [.. (await inner.DescribeFastSnapshotRestoresAsync(snapshotId, cancellationToken)).Where(s => scope.IsOurs(s.SnapshotId))];

        public async Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default) =>
            [.. (await inner.ListSnapshotsInRecycleBinAsync(cancellationToken)).Where(e => scope.IsOurs(e.Snapshot.Id)).Select(e => e with { Snapshot = scope.Unscoped(e.Snapshot) })];

        public async Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default) =>
            scope.Unscoped(await inner.RestoreSnapshotFromRecycleBinAsync(snapshotId, cancellationToken));

        public async Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default)
        {
            var volume = await inner.CreateVolumeAsync(request with { Tags = scope.Scoped(request.Tags) }, cancellationToken);
            scope.Own(volume.Id);
            return scope.Unscoped(volume);
        }

        public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
            inner.CreateTagsAsync(resourceId, tags, cancellationToken);

        private SnapshotInfo Own(SnapshotInfo snapshot)
        {
            scope.Own(snapshot.Id);
            return scope.Unscoped(snapshot);
        }
    }
}
