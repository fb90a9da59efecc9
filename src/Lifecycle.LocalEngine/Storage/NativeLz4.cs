using System.Runtime.InteropServices;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// LZ4 frames through the system's liblz4 (Debian's liblz4-1, which systemd and apt depend on). Each block is one frame
/// with its content size and an XXH32 checksum of its compressed bytes (a block checksum), which the decoder checks
/// before decoding, so a damaged payload fails to decode. Checksumming the compressed bytes instead of the content
/// (frames written before did that; both decode) hashes less than half as many bytes for the bench's text and proves
/// the same: the payload is the one stored, and decoding it is deterministic. <see cref="Lz4"/> uses this binding
/// where the library loads, because it compresses 10-30% faster than K4os's managed codec here, and
/// <see cref="ManagedLz4"/> elsewhere (the same frames).
/// </summary>
internal static unsafe class NativeLz4
{
    private const uint FrameVersion = 100; // LZ4F_VERSION
    private const int MaxBlockSize1MiB = 6; // LZ4F_max1MB: a whole 512 KiB block is one LZ4 block

    private static readonly Native? Functions = Native.TryLoad();

    [ThreadStatic]
    private static NativeContext? t_decompressor;

    public static bool IsAvailable => Functions is not null;

    /// <summary>LZ4F_preferences_t (lz4frame.h, stable since 1.8): frame info, then level, autoFlush, favorDecSpeed, reserved.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Preferences
    {
        public int BlockSizeId;
        public int BlockMode;
        public int ContentChecksumFlag;
        public int FrameType;
        public ulong ContentSize;
        public uint DictionaryId;
        public int BlockChecksumFlag;
        public int CompressionLevel;
        public uint AutoFlush;
        public uint FavorDecompressionSpeed;
        public uint Reserved0, Reserved1, Reserved2;
    }

    /// <summary>Compresses <paramref name="source"/> into one frame with a block checksum; returns its length, or 0 when it does not fit.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination) => Compress(source, destination, checksumContent: false);

    /// <summary>With <paramref name="checksumContent"/>, a frame as written before: a content checksum instead of a block checksum.</summary>
    internal static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, bool checksumContent)
    {
        var native = Functions ?? throw new InvalidOperationException("liblz4 is not loaded (check IsAvailable)");
        var preferences = new Preferences
        {
            BlockSizeId = MaxBlockSize1MiB,
            BlockChecksumFlag = checksumContent ? 0 : 1,
            ContentChecksumFlag = checksumContent ? 1 : 0,
            ContentSize = (ulong)source.Length,
        };
        fixed (byte* sourcePointer = source)
        fixed (byte* destinationPointer = destination)
        {
            var result = native.CompressFrame(destinationPointer, (nuint)destination.Length, sourcePointer, (nuint)source.Length, &preferences);
            return native.IsError(result) != 0 ? 0 : checked((int)result);
        }
    }

    /// <summary>Decodes one frame into exactly <paramref name="destination"/>; false when damaged (checksum, format or size).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var native = Functions ?? throw new InvalidOperationException("liblz4 is not loaded (check IsAvailable)");
        var context = t_decompressor ??= CreateDecompressionContext(native);
        native.Reset(context.Handle); // a frame that failed earlier may have left the context mid-frame
        fixed (byte* sourcePointer = source)
        fixed (byte* destinationPointer = destination)
        {
            nuint consumed = 0, produced = 0;
            while (true)
            {
                var sourceSize = (nuint)source.Length - consumed;
                var destinationSize = (nuint)destination.Length - produced;
                var hint = native.Decompress(context.Handle, destinationPointer + produced, &destinationSize, sourcePointer + consumed, &sourceSize, null);
                if (native.IsError(hint) != 0)
                {
                    return false;
                }

                consumed += sourceSize;
                produced += destinationSize;
                if (hint == 0)
                {
                    // frame complete and its checksum matched (LZ4F checks block and content checksums, whichever the
                    // frame has); it must fill the block exactly and be the whole payload
                    return produced == (nuint)destination.Length && consumed == (nuint)source.Length;
                }

                if (sourceSize == 0 && destinationSize == 0)
                {
                    return false; // truncated: the frame wants more input than the payload has
                }
            }
        }
    }

    /// <summary>A decompression context for the calling thread (contexts are per thread; freed with the thread's last reference).</summary>
    private static NativeContext CreateDecompressionContext(Native native)
    {
        nint context;
        if (native.IsError(native.CreateDecompressionContext(&context, FrameVersion)) != 0)
        {
            context = 0;
        }

        return new NativeContext(context, native.FreeDecompressionContext, "LZ4");
    }

    private sealed class Native
    {
        public delegate* unmanaged<byte*, nuint, byte*, nuint, Preferences*, nuint> CompressFrame;
        public delegate* unmanaged<nint*, uint, nuint> CreateDecompressionContext;
        public delegate* unmanaged<nint, nuint> FreeDecompressionContext;
        public delegate* unmanaged<nint, void> Reset;
        public delegate* unmanaged<nint, byte*, nuint*, byte*, nuint*, void*, nuint> Decompress;
        public delegate* unmanaged<nuint, uint> IsError;

        /// <summary>Null when the library is missing or older than 1.8 (no LZ4F_resetDecompressionContext).</summary>
        public static Native? TryLoad() => NativeBinding.TryLoad(["liblz4.so.1", "liblz4.so", "liblz4.1.dylib", "liblz4"], library =>
            new Native
            {
                CompressFrame = (delegate* unmanaged<byte*, nuint, byte*, nuint, Preferences*, nuint>)NativeLibrary.GetExport(library, "LZ4F_compressFrame"),
                CreateDecompressionContext = (delegate* unmanaged<nint*, uint, nuint>)NativeLibrary.GetExport(library, "LZ4F_createDecompressionContext"),
                FreeDecompressionContext = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "LZ4F_freeDecompressionContext"),
                Reset = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "LZ4F_resetDecompressionContext"),
                Decompress = (delegate* unmanaged<nint, byte*, nuint*, byte*, nuint*, void*, nuint>)NativeLibrary.GetExport(library, "LZ4F_decompress"),
                IsError = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(library, "LZ4F_isError"),
            });
    }
}
