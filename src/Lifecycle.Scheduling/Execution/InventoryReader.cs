using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;

namespace Lifecycle.Scheduling.Execution;

/// <summary>Reads what the planner needs from the providers: volumes and snapshots of the regions a policy set touches.</summary>
public sealed class InventoryReader
{
    private readonly IProviderRegistry registry;

    public InventoryReader(IProviderRegistry registry)
    {
        this.registry = registry;
    }

    /// <summary>Source regions and copy-target regions of the policies.</summary>
    public static ImmutableSortedSet<string> RegionsOf(PolicySet policies) =>
        policies.Policies
            .SelectMany(p => p.Regions.Concat(p.Schedules.SelectMany(s => s.Copies.Select(c => c.Region))))
            .ToImmutableSortedSet(StringComparer.Ordinal);

    /// <param name="shareRecent">Join a read of the same region started a moment ago (scheduled fires of many policies at once).</param>
    public async Task<Inventory> ReadAsync(PolicySet policies, CancellationToken cancellationToken = default, bool shareRecent = false)
    {
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>();
        var snapshots = ImmutableArray.CreateBuilder<SnapshotInfo>();
        foreach (var region in RegionsOf(policies))
        {
            ISnapshotProvider provider;
            try
            {
                provider = registry.For(region);
            }
            catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
            {
                continue; // a region this engine does not have: the planner reports its volumes as missing
            }

            var (regionVolumes, regionSnapshots) = await ReadRegionAsync(region, provider, shareRecent, cancellationToken).ConfigureAwait(false);
            volumes.AddRange(regionVolumes);
            snapshots.AddRange(regionSnapshots);
        }

        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
    }

    /// <summary>
    /// Policies firing at the same moment share one read of a region (single flight): a caller joins a read that
    /// started at most <see cref="ShareWindow"/> ago. That read is slightly in the past, which is safe: the executor
    /// looks every token up before creating, and a snapshot missing from a read only makes retention keep more.
    /// </summary>
    private Task<(ImmutableArray<VolumeInfo> Volumes, ImmutableArray<SnapshotInfo> Snapshots)> ReadRegionAsync(
        string region, ISnapshotProvider provider, bool shareRecent, CancellationToken cancellationToken)
    {
        lock (inFlight)
        {
            if (shareRecent && inFlight.TryGetValue(region, out var shared) && TimeProvider.System.GetElapsedTime(shared.Started) < ShareWindow && !shared.Read.IsFaulted)
            {
                return shared.Read.WaitAsync(cancellationToken);
            }

            var read = ReadAsync(provider);
            inFlight[region] = (TimeProvider.System.GetTimestamp(), read);
            return read.WaitAsync(cancellationToken);
        }

        static async Task<(ImmutableArray<VolumeInfo>, ImmutableArray<SnapshotInfo>)> ReadAsync(ISnapshotProvider provider)
        {
            // Not cancelled by one caller: others may be waiting on the same read.
            var volumes = await provider.DescribeVolumesAsync(null, CancellationToken.None).ConfigureAwait(false);
            var snapshots = await provider.DescribeSnapshotsAsync(null, CancellationToken.None).ConfigureAwait(false);
            return (volumes, snapshots);
        }
    }

    private static readonly TimeSpan ShareWindow = TimeSpan.FromMilliseconds(500);
    private readonly Dictionary<string, (long Started, Task<(ImmutableArray<VolumeInfo> Volumes, ImmutableArray<SnapshotInfo> Snapshots)> Read)> inFlight = new(StringComparer.Ordinal);
}
