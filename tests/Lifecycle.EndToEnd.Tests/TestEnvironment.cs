using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.LocalEngine;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>A temporary data directory for one server (or cluster), with helpers to seed and inspect its engine.</summary>
public sealed class TestEnvironment : IDisposable
{
    public TestEnvironment(string name)
    {
        Root = Path.Combine(Path.GetTempPath(), $"lifecycle-e2e-{name}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(PoliciesDirectory);
        Directory.CreateDirectory(MarkerDirectory);
    }

    public string Root { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string EngineDirectory => Path.Combine(DataDirectory, "engine");

    public string ServerKeyRing => Path.Combine(DataDirectory, "keyring.json");

    public string PoliciesDirectory => Path.Combine(Root, "policies");

    /// <summary>Where hook commands write what they saw.</summary>
    public string MarkerDirectory => Path.Combine(Root, "markers");

    public void WritePolicy(string fileName, string yaml) =>
        File.WriteAllText(Path.Combine(PoliciesDirectory, fileName), yaml.Replace("MARK", MarkerDirectory, StringComparison.Ordinal));

    /// <summary>Opens the engine (only while no server runs: a region is locked by one process).</summary>
    public LocalEngine.LocalEngine OpenEngine(string? keyRing = null) =>
        LocalEngine.LocalEngine.Open(new LocalEngineOptions { DataDirectory = EngineDirectory, KeyRingPath = keyRing ?? ServerKeyRing });

    /// <summary>Creates volumes with a little data each; returns their ids.</summary>
    public static async Task<ImmutableArray<string>> SeedVolumesAsync(
        LocalEngine.LocalEngine engine, string region, string zone, int count, IReadOnlyDictionary<string, string> tags, long sizeBytes = 4L * 1024 * 1024,
        string? keyId = null)
    {
        var ids = ImmutableArray.CreateBuilder<string>();
        var data = new byte[LocalRegion.BlockSize];
        for (var i = 0; i < count; i++)
        {
            var volume = await engine.Region(region).CreateVolumeAsync(zone, sizeBytes, tags, encrypted: keyId is not null, keyId: keyId);
            Random.Shared.NextBytes(data);
            await engine.Region(region).WriteAsync(volume.Id, 0, data);
            ids.Add(volume.Id);
        }

        return ids.ToImmutable();
    }

    public static async Task<ImmutableArray<SnapshotInfo>> SnapshotsAsync(LocalEngine.LocalEngine engine, string region) =>
        await engine.Region(region).DescribeSnapshotsAsync();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a straggling process still writes; the OS cleans temp
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
