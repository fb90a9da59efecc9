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

    public async Task<Inventory> ReadAsync(PolicySet policies, CancellationToken cancellationToken = default)
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

            volumes.AddRange(await provider.DescribeVolumesAsync(null, cancellationToken).ConfigureAwait(false));
            snapshots.AddRange(await provider.DescribeSnapshotsAsync(null, cancellationToken).ConfigureAwait(false));
        }

        return new Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
    }
}
