namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// The engine's LZ4 frames (one per block: content size, XXH32 block checksum), through the system's liblz4 where it
/// loads (<see cref="NativeLz4"/>, the faster here) and through K4os's managed codec everywhere else
/// (<see cref="ManagedLz4"/>). Both write frames the other reads and check every checksum a frame carries, so a store
/// reads on any machine and the library only changes the speed.
/// </summary>
internal static class Lz4
{
    // a test seam: makes this async flow (and the tasks it starts) use the managed codec although liblz4 is loaded
    private static readonly AsyncLocal<bool> ManagedOverride = new();

    /// <summary>True when this flow uses liblz4.</summary>
    public static bool UsesSystemLibrary => NativeLz4.IsAvailable && !ManagedOverride.Value;

    /// <summary>Compresses <paramref name="source"/> into one frame with a block checksum; returns its length, or 0 when it does not fit.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        UsesSystemLibrary ? NativeLz4.Compress(source, destination) : ManagedLz4.Compress(source, destination);

    /// <summary>Decodes one frame into exactly <paramref name="destination"/>; false when damaged (checksum, format or size).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        UsesSystemLibrary ? NativeLz4.TryDecompress(source, destination) : ManagedLz4.TryDecompress(source, destination);

    /// <summary>Makes LZ4 in this async flow (and the tasks it starts) use the managed codec, as on a machine without liblz4.</summary>
    internal static IDisposable UseManagedCodec()
    {
        var previous = ManagedOverride.Value;
        ManagedOverride.Value = true;
        return new Restore(() => ManagedOverride.Value = previous);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
