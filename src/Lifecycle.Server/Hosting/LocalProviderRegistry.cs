using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.Scheduling.Execution;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The local engine's providers for the scheduler, adding the completion wait the engine offers
/// (<see cref="LocalRegion.WaitForSnapshotAsync"/>) so the executor does not poll DescribeSnapshots.
/// </summary>
internal sealed class LocalProviderRegistry(LocalEngine.LocalEngine engine) : IProviderRegistry
{
    public ImmutableArray<string> Regions => engine.Regions;

    public ISnapshotProvider For(string region) => new LocalProvider(engine.Region(region));

    private sealed class LocalProvider(LocalRegion region) : ISnapshotProvider, ISnapshotCompletion
    {
        public string Region => region.Region;

        public async Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default) =>
            await region.WaitForSnapshotAsync(snapshotId, cancellationToken).ConfigureAwait(false);

        public Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default) => region.DescribeVolumesAsync(filter, cancellationToken);

        public Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default) => region.DescribeSnapshotsAsync(query, cancellationToken);

        public Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default) => region.CreateSnapshotAsync(request, cancellationToken);

        public Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default) => region.CreateSnapshotsAsync(request, cancellationToken);

        public Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default) => region.CopySnapshotAsync(request, cancellationToken);

        public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) => region.DeleteSnapshotAsync(snapshotId, cancellationToken);

        public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) => region.ArchiveSnapshotAsync(snapshotId, cancellationToken);

        public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) => region.RestoreSnapshotTierAsync(snapshotId, days, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            region.EnableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            region.DisableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
            region.DescribeFastSnapshotRestoresAsync(snapshotId, cancellationToken);

        public Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default) => region.ListSnapshotsInRecycleBinAsync(cancellationToken);

        public Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default) => region.RestoreSnapshotFromRecycleBinAsync(snapshotId, cancellationToken);

        public Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default) => region.CreateVolumeAsync(request, cancellationToken);

        public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) => region.CreateTagsAsync(resourceId, tags, cancellationToken);
    }
}
