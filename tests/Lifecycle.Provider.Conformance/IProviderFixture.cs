using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.Provider.Conformance;

/// <summary>
/// What the conformance suite needs from an engine beyond the provider seam: a fresh, isolated set of regions, a way
/// to make volumes (the seam has no "create empty volume"), and a way to hold a snapshot "in use".
/// </summary>
public interface IProviderFixture : IAsyncDisposable
{
    IProviderRegistry Registry { get; }

    /// <summary>The region most tests use.</summary>
    string Region { get; }

    /// <summary>A second region, the target of copies.</summary>
    string OtherRegion { get; }

    ISnapshotProvider Provider => Registry.For(Region);

    /// <summary>An availability zone of <see cref="Region"/> (volumes, fast snapshot restore).</summary>
    string Zone => "zone-a";

    /// <summary>A second zone of <see cref="Region"/>.</summary>
    string OtherZone => "zone-b";

    /// <summary>How long a move to or from the archive tier may take to show in describes (EC2: hours).</summary>
    TimeSpan TierChangeTimeout => TimeSpan.FromSeconds(10);

    /// <summary>Creates a small volume with some non-zero content, optionally attached to an instance.</summary>
    Task<VolumeInfo> CreateVolumeAsync(string zone, IReadOnlyDictionary<string, string> tags, string? instanceId = null, bool isBoot = false,
        CancellationToken cancellationToken = default);

    /// <summary>Waits until a snapshot in a region is completed or error, and returns it.</summary>
    Task<SnapshotInfo> WaitForSnapshotAsync(string region, string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>Keeps a snapshot in use (e.g. being read) until disposed, so deletion must refuse with IncorrectState.</summary>
    IDisposable HoldInUse(string region, string snapshotId);

    /// <summary>Tag that a recycle-bin rule of the fixture matches (7 days), so deleting such a snapshot recycles it.</summary>
    KeyValuePair<string, string> RecycleBinTag { get; }
}

/// <summary>A fixture whose clock the suite can move (the local engine; not real AWS).</summary>
public interface IClockedProviderFixture : IProviderFixture
{
    void Advance(TimeSpan by);
}

/// <summary>A clock tests move by hand (Microsoft.Extensions.TimeProvider.Testing is not available here).</summary>
public sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now;
    private readonly object _gate = new();

    public ManualClock(DateTimeOffset start) => _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_gate)
        {
            _now += by;
        }
    }
}

internal static class Tags
{
    public static ImmutableSortedDictionary<string, string> Of(params (string Key, string Value)[] tags) =>
        tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
}
