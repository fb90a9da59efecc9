using System.Collections.Concurrent;
using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;

namespace Lifecycle.Scheduling.Telemetry;

/// <summary>
/// The engines with every provider call counted (<see cref="LifecycleMetrics.ProviderCall"/>: calls, errors and
/// throttles by operation). Each attempt counts once: the executor's retry pipeline sits above this layer. Behaviour is
/// the inner provider's, unchanged.
/// </summary>
public sealed class InstrumentedEngineRegistry(IEngineRegistry inner) : IEngineRegistry
{
    private readonly ConcurrentDictionary<EngineKind, IProviderRegistry> registries = new();

    public ImmutableArray<EngineKind> Engines => inner.Engines;

    public EngineKind Default => inner.Default;

    public IProviderRegistry For(EngineKind engine) => registries.GetOrAdd(engine, e => new Registry(inner.For(e)));

    private sealed class Registry(IProviderRegistry inner) : IProviderRegistry
    {
        private readonly ConcurrentDictionary<string, ISnapshotProvider> providers = new(StringComparer.Ordinal);

        public ImmutableArray<string> Regions => inner.Regions;

        public ISnapshotProvider For(string region)
        {
            // An unknown region throws from the inner registry every time; only found providers are kept.
            if (providers.TryGetValue(region, out var known))
            {
                return known;
            }

            return providers.GetOrAdd(region, new InstrumentedProvider(inner.For(region)));
        }
    }
}

/// <summary>One region's provider with its calls counted by operation (the EC2 verb).</summary>
internal sealed class InstrumentedProvider(ISnapshotProvider inner) : ISnapshotProvider
{
    public string Region => inner.Region;

    public Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default) =>
        Count("DescribeVolumes", () => inner.DescribeVolumesAsync(filter, cancellationToken));

    public Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default) =>
        Count("DescribeSnapshots", () => inner.DescribeSnapshotsAsync(query, cancellationToken));

    public Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        Count("WaitForCompletion", () => inner.WaitForCompletionAsync(snapshotId, cancellationToken));

    public Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default) =>
        Count("CreateSnapshot", () => inner.CreateSnapshotAsync(request, cancellationToken));

    public Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default) =>
        Count("CreateSnapshots", () => inner.CreateSnapshotsAsync(request, cancellationToken));

    public Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default) =>
        Count("CopySnapshot", () => inner.CopySnapshotAsync(request, cancellationToken));

    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        Count("DeleteSnapshot", async () =>
        {
            await inner.DeleteSnapshotAsync(snapshotId, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        Count("ModifySnapshotTier", async () =>
        {
            await inner.ArchiveSnapshotAsync(snapshotId, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) =>
        Count("RestoreSnapshotTier", async () =>
        {
            await inner.RestoreSnapshotTierAsync(snapshotId, days, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
        Count("EnableFastSnapshotRestores", () => inner.EnableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken));

    public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
        Count("DisableFastSnapshotRestores", () => inner.DisableFastSnapshotRestoresAsync(snapshotId, zones, cancellationToken));

    public Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
        Count("DescribeFastSnapshotRestores", () => inner.DescribeFastSnapshotRestoresAsync(snapshotId, cancellationToken));

    public Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default) =>
        Count("ListSnapshotsInRecycleBin", () => inner.ListSnapshotsInRecycleBinAsync(cancellationToken));

    public Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        Count("RestoreSnapshotFromRecycleBin", () => inner.RestoreSnapshotFromRecycleBinAsync(snapshotId, cancellationToken));

    public Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default) =>
        Count("CreateVolume", () => inner.CreateVolumeAsync(request, cancellationToken));

    public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        Count("CreateTags", async () =>
        {
            await inner.CreateTagsAsync(resourceId, tags, cancellationToken).ConfigureAwait(false);
            return true;
        });

    private static async Task<T> Count<T>(string operation, Func<Task<T>> call)
    {
        try
        {
            var result = await call().ConfigureAwait(false);
            LifecycleMetrics.ProviderCall(operation, null);
            return result;
        }
        catch (Exception e)
        {
            LifecycleMetrics.ProviderCall(operation, e);
            throw;
        }
    }
}
