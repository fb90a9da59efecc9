using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>Data and steps the engine's tests share: seeded random content, a snapshot taken to its end, a snapshot read back.</summary>
internal static class EngineTestData
{
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Creates a snapshot of the volume with these tags and waits until it leaves <c>pending</c>.</summary>
    public static async Task<SnapshotInfo> SnapshotAsync(LocalRegion region, string volumeId, params (string Key, string Value)[] tags)
    {
        var started = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value)));
        return await region.WaitForSnapshotAsync(started.Id);
    }

    /// <summary>The snapshot's whole content (<paramref name="size"/> bytes: its volume's size).</summary>
    public static async Task<byte[]> ReadSnapshotAsync(LocalRegion region, string snapshotId, long size)
    {
        var buffer = new byte[size];
        Assert.Equal((int)size, await region.ReadSnapshotAsync(snapshotId, 0, buffer));
        return buffer;
    }
}
