using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Encryption;

namespace Lifecycle.LocalEngine;

/// <summary>Settings of the local block engine.</summary>
public sealed class LocalEngineOptions
{
    /// <summary>Root of the engine's data: <c>&lt;DataDirectory&gt;/regions/&lt;name&gt;/</c>.</summary>
    public required string DataDirectory { get; set; }

    /// <summary>Key ring JSON file (kept outside the data directory); null means no encryption is available.</summary>
    public string? KeyRingPath { get; set; }

    /// <summary>The only clock the engine reads (archive minimum, recycle bin, temporary restores, fast restore).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Recycle-bin retention rules applied in every region (in addition to rules stored in a region).</summary>
    public IReadOnlyList<RecycleBinRule> RecycleBinRules { get; set; } = [];

    /// <summary>Minimum time in the archive tier before a snapshot may be deleted without force (EBS: 90 days).</summary>
    public TimeSpan ArchiveMinimumRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>Fast snapshot restore: time in <c>enabling</c>, then in <c>optimizing</c>, then enabled.</summary>
    public TimeSpan FastRestoreEnablingTime { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan FastRestoreOptimizingTime { get; set; } = TimeSpan.FromMinutes(2);

    public TimeSpan FastRestoreDisablingTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Workers hashing, compressing and encrypting blocks (default: one per core).</summary>
    public int Parallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>Test seam: awaited by a snapshot's background build or a copy before it reads any block (snapshot id).</summary>
    internal Func<string, Task>? BeforeSnapshotBuild { get; set; }

    /// <summary>Test seam: awaited by a snapshot's build after marking a block for its image read, before that read (snapshot id, block index).</summary>
    internal Func<string, int, Task>? BeforeImageRead { get; set; }

    /// <summary>
    /// Test seam: called by a volume write just before its image write (<c>"before-image-write"</c>) and after the
    /// image is flushed (<c>"after-image-write"</c>); a test throws there to stop the write as a crash would.
    /// </summary>
    internal Action<string>? VolumeWriteStep { get; set; }

    /// <summary>Test seam: called by GC after it read the catalog's pack list, before it looks at the pack files.</summary>
    internal Action? BeforeOrphanSweep { get; set; }
}

/// <summary>
/// A recycle-bin retention rule: deleted snapshots whose tags match (or every snapshot when <see cref="TagKey"/> is
/// null) stay restorable for <see cref="RetentionDays"/> (1–365) days, then are purged.
/// </summary>
public sealed record RecycleBinRule(int RetentionDays, string? TagKey = null, string? TagValue = null)
{
    public bool Matches(IReadOnlyDictionary<string, string> tags) =>
        TagKey is null || (tags.TryGetValue(TagKey, out var value) && (TagValue is null || value == TagValue));
}

/// <summary>
/// The bundled local block engine: one directory of regions, each a <see cref="LocalRegion"/> (an
/// <see cref="ISnapshotProvider"/>). <see cref="Open"/> recovers every region after a crash; one process at a time
/// may open a region (a lock file enforces it).
/// </summary>
public sealed partial class LocalEngine : IProviderRegistry, IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<LocalRegion>> _regions = new(StringComparer.Ordinal);
    private bool _disposed;

    private LocalEngine(LocalEngineOptions options, KeyRing keyRing)
    {
        Options = options;
        KeyRing = keyRing;
    }

    public LocalEngineOptions Options { get; }

    public KeyRing KeyRing { get; }

    public string RegionsDirectory => Path.Combine(Options.DataDirectory, "regions");

    /// <summary>Opens the engine's data directory (creating it if needed) and loads the key ring.</summary>
    public static LocalEngine Open(LocalEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var keyRing = options.KeyRingPath is not null && File.Exists(options.KeyRingPath)
            ? KeyRing.Load(options.KeyRingPath)
            : KeyRing.Empty;
        Directory.CreateDirectory(Path.Combine(options.DataDirectory, "regions"));
        var engine = new LocalEngine(options, keyRing);
        foreach (var name in engine.Regions)
        {
            _ = engine.Region(name); // recover every region now, not at first use
        }

        return engine;
    }

    /// <summary>Region names present on disk (and opened in this process).</summary>
    public ImmutableArray<string> Regions =>
    [
        .. Directory.EnumerateDirectories(RegionsDirectory).Select(Path.GetFileName).OfType<string>()
            .Union(_regions.Keys).Where(n => RegionName().IsMatch(n)).Order(StringComparer.Ordinal),
    ];

    /// <summary>
    /// True when the region is open in this process or present on disk: <see cref="Regions"/> for one name, without
    /// listing the directory (the EC2 endpoint asks on every call).
    /// </summary>
    public bool HasRegion(string name) =>
        RegionName().IsMatch(name) && (_regions.ContainsKey(name) || Directory.Exists(Path.Combine(RegionsDirectory, name)));

    /// <summary>Opens or creates the region <c>&lt;data&gt;/regions/&lt;name&gt;/</c>.</summary>
    public LocalRegion Region(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!RegionName().IsMatch(name))
        {
            throw ProviderException.InvalidParameter($"region name '{name}' must be lowercase letters, digits and dashes");
        }

        return _regions.GetOrAdd(name, n => new Lazy<LocalRegion>(() => LocalRegion.Open(this, n))).Value;
    }

    public ISnapshotProvider For(string region) => Region(region);

    /// <summary>Waits for background snapshot work, then closes every region cleanly.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var regions = _regions.Values.Where(r => r.IsValueCreated).Select(r => r.Value).ToList();
        // a copy runs in its target region and reads its source region: all work ends before any region closes
        foreach (var region in regions)
        {
            region.DrainBackgroundWork();
        }

        foreach (var region in regions)
        {
            region.Dispose();
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex RegionName();
}

/// <summary>What garbage collection did.</summary>
public sealed record GcReport(
    int BlocksRemoved,
    long BytesReclaimed,
    int PacksRepacked,
    int PacksDeleted,
    int OrphanFilesDeleted,
    int SnapshotsPurged,
    TimeSpan Duration);

/// <summary>What verification found; <see cref="Ok"/> when there are no errors.</summary>
public sealed record VerifyReport(
    string Region,
    int Snapshots,
    int Manifests,
    long BlocksReferenced,
    long BlocksChecked,
    long BytesChecked,
    int UnreferencedBlocks,
    int OrphanFiles,
    ImmutableArray<string> Errors,
    TimeSpan Duration)
{
    public bool Ok => Errors.IsEmpty;
}
