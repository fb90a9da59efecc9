using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Encryption;
using Lifecycle.Provider.Conformance;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>A fresh local engine in a temporary directory, with a moveable clock, a key ring and a 7-day recycle-bin rule.</summary>
public sealed class LocalProviderFixture : IClockedProviderFixture
{
    private readonly Action<LocalEngineOptions>? _configure;

    public LocalProviderFixture(Action<LocalEngineOptions>? configure = null)
    {
        _configure = configure;
        Root = Path.Combine(Path.GetTempPath(), "lifecycle-tests", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(Root);
        KeyRingPath = Path.Combine(Root, "keyring.json");
        KeyRing.AddKey(KeyRingPath, "key-a");
        KeyRing.AddKey(KeyRingPath, "key-b", makeDefault: false);
        Clock = new ManualClock(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        Engine = LocalEngine.Open(NewOptions());
    }

    public string Root { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string KeyRingPath { get; }

    public ManualClock Clock { get; }

    public LocalEngine Engine { get; private set; }

    public IProviderRegistry Registry => Engine;

    public string Region => "test-1";

    public string OtherRegion => "test-2";

    public LocalRegion Local => Engine.Region(Region);

    public KeyValuePair<string, string> RecycleBinTag => new("recycle", "yes");

    public LocalEngineOptions NewOptions()
    {
        var options = new LocalEngineOptions
        {
            DataDirectory = DataDirectory,
            KeyRingPath = KeyRingPath,
            TimeProvider = Clock,
            RecycleBinRules = [new RecycleBinRule(7, "recycle", "yes")],
        };
        _configure?.Invoke(options);
        return options;
    }

    /// <summary>Closes the engine and opens it again (as a new process would).</summary>
    public void Reopen(Action? whileClosed = null)
    {
        Engine.Dispose();
        whileClosed?.Invoke();
        Engine = LocalEngine.Open(NewOptions());
    }

    public async Task<VolumeInfo> CreateVolumeAsync(string zone, IReadOnlyDictionary<string, string> tags, string? instanceId = null, bool isBoot = false,
        CancellationToken cancellationToken = default)
    {
        var volume = await Local.CreateVolumeAsync(zone, 4L * LocalRegion.BlockSize, tags, cancellationToken: cancellationToken);
        var data = new byte[LocalRegion.BlockSize];
        new Random(volume.Id.GetHashCode()).NextBytes(data);
        await Local.WriteAsync(volume.Id, 0, data, cancellationToken);
        await Local.WriteAsync(volume.Id, 2L * LocalRegion.BlockSize + 100, data.AsMemory(0, 5000), cancellationToken);
        if (instanceId is not null)
        {
            await Local.AttachVolumeAsync(volume.Id, instanceId, isBoot ? "/dev/xvda" : "/dev/xvdf", isBoot, cancellationToken);
        }

        return (await Local.DescribeVolumesAsync(cancellationToken: cancellationToken)).Single(v => v.Id == volume.Id);
    }

    public Task<SnapshotInfo> WaitForSnapshotAsync(string region, string snapshotId, CancellationToken cancellationToken = default) =>
        Engine.Region(region).WaitForSnapshotAsync(snapshotId, cancellationToken);

    public IDisposable HoldInUse(string region, string snapshotId) => Engine.Region(region).AcquireSnapshotLease(snapshotId);

    public void Advance(TimeSpan by) => Clock.Advance(by);

    public ValueTask DisposeAsync()
    {
        Engine.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a leftover temp directory does not fail a test
        }

        return ValueTask.CompletedTask;
    }

    public static ImmutableSortedDictionary<string, string> NoTags => ImmutableSortedDictionary<string, string>.Empty;
}

public sealed class LocalEngineConformanceTests : ProviderConformanceTests
{
    protected override Task<IProviderFixture> CreateFixtureAsync() => Task.FromResult<IProviderFixture>(new LocalProviderFixture());
}

public sealed class LocalEngineClockedConformanceTests : ClockedProviderConformanceTests
{
    protected override Task<IClockedProviderFixture> CreateFixtureAsync() => Task.FromResult<IClockedProviderFixture>(new LocalProviderFixture());
}

public sealed class LocalEngineOnlyConformanceRun : LocalEngineOnlyConformanceTests
{
    protected override Task<IProviderFixture> CreateFixtureAsync() => Task.FromResult<IProviderFixture>(new LocalProviderFixture());
}
