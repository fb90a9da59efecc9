using System.Runtime.InteropServices;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// Zstandard through the system's libzstd (Debian's libzstd1, which dpkg itself depends on, so every Debian and
/// Ubuntu machine has it; .NET has no built-in zstd and no zstd package is in this registry). Frames carry their
/// content size and an XXH64 checksum of the content, which the decoder checks: a damaged payload fails to decode.
/// When the library is missing, <see cref="IsAvailable"/> is false: new blocks are then compressed with Brotli, and
/// reading a zstd block fails with a clear error.
/// </summary>
internal static unsafe class Zstd
{
    private const int CompressionLevelParameter = 100; // ZSTD_c_compressionLevel
    private const int ChecksumFlagParameter = 201;     // ZSTD_c_checksumFlag

    private static readonly Native? Functions = Native.TryLoad();

    [ThreadStatic]
    private static Dictionary<int, NativeContext>? t_compressors;

    [ThreadStatic]
    private static NativeContext? t_decompressor;

    public static bool IsAvailable => Functions is not null;

    /// <summary>Why zstd cannot be used here (for error messages).</summary>
    public const string MissingLibraryMessage = "the zstd library (libzstd.so.1, Debian package libzstd1) is not installed on this machine";

    /// <summary>Compresses <paramref name="source"/> into one frame with a content checksum; returns its length, or 0 when it does not fit.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        var native = Functions ?? throw new InvalidOperationException(MissingLibraryMessage);
        var compressors = t_compressors ??= [];
        if (!compressors.TryGetValue(level, out var context))
        {
            context = new NativeContext(native.CreateCCtx(), native.FreeCCtx, "zstd");
            if (native.IsError(native.SetParameter(context.Handle, CompressionLevelParameter, level)) != 0
                || native.IsError(native.SetParameter(context.Handle, ChecksumFlagParameter, 1)) != 0)
            {
                throw new InvalidOperationException("zstd rejected the compression parameters");
            }

            compressors[level] = context;
        }

        fixed (byte* sourcePointer = source)
        fixed (byte* destinationPointer = destination)
        {
            var result = native.Compress2(context.Handle, destinationPointer, (nuint)destination.Length, sourcePointer, (nuint)source.Length);
            return native.IsError(result) != 0 ? 0 : checked((int)result);
        }
    }

    /// <summary>Decodes one frame into exactly <paramref name="destination"/>; false when damaged (checksum, format or size).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var native = Functions ?? throw new InvalidDataException(MissingLibraryMessage);
        var context = t_decompressor ??= new NativeContext(native.CreateDCtx(), native.FreeDCtx, "zstd");
        fixed (byte* sourcePointer = source)
        fixed (byte* destinationPointer = destination)
        {
            var result = native.DecompressDCtx(context.Handle, destinationPointer, (nuint)destination.Length, sourcePointer, (nuint)source.Length);
            return native.IsError(result) == 0 && result == (nuint)destination.Length;
        }
    }

    private sealed class Native
    {
        public delegate* unmanaged<nint> CreateCCtx;
        public delegate* unmanaged<nint, nuint> FreeCCtx;
        public delegate* unmanaged<nint> CreateDCtx;
        public delegate* unmanaged<nint, nuint> FreeDCtx;
        public delegate* unmanaged<nint, int, int, nuint> SetParameter;
        public delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> Compress2;
        public delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> DecompressDCtx;
        public delegate* unmanaged<nuint, uint> IsError;

        /// <summary>Null when the library is missing or older than 1.4.0 (no ZSTD_compress2).</summary>
        public static Native? TryLoad() => NativeBinding.TryLoad(["libzstd.so.1", "libzstd.so", "libzstd.1.dylib", "libzstd"], library =>
            new Native
            {
                CreateCCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createCCtx"),
                FreeCCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeCCtx"),
                CreateDCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createDCtx"),
                FreeDCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeDCtx"),
                SetParameter = (delegate* unmanaged<nint, int, int, nuint>)NativeLibrary.GetExport(library, "ZSTD_CCtx_setParameter"),
                Compress2 = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)NativeLibrary.GetExport(library, "ZSTD_compress2"),
                DecompressDCtx = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)NativeLibrary.GetExport(library, "ZSTD_decompressDCtx"),
                IsError = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(library, "ZSTD_isError"),
            });
    }
}
