using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// Zstandard through ZstdSharp (a managed port of libzstd; the engine bound the system's libzstd before a package was
/// available, and frames of either read with the other). Frames carry their content size and an XXH64 checksum of
/// the content, which the decoder checks: a damaged payload fails to decode. New blocks are LZ4; zstd blocks are
/// those of stores written before LZ4 became the default (and of tests that write such stores).
/// </summary>
internal static class Zstd
{
    [ThreadStatic]
    private static Dictionary<int, Compressor>? t_compressors;

    [ThreadStatic]
    private static Decompressor? t_decompressor;

    /// <summary>Compresses <paramref name="source"/> into one frame with a content checksum; returns its length, or 0 when it does not fit.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        var compressors = t_compressors ??= [];
        if (!compressors.TryGetValue(level, out var compressor))
        {
            compressor = new Compressor(level);
            compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            compressors[level] = compressor;
        }

        try
        {
            return compressor.TryWrap(source, destination, out var written) ? written : 0;
        }
        catch (ZstdException)
        {
            return 0; // the destination is too small (reported as an error by some paths of the encoder)
        }
    }

    /// <summary>Decodes one frame into exactly <paramref name="destination"/>; false when damaged (checksum, format or size).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var decompressor = t_decompressor ??= new Decompressor();
        try
        {
            return decompressor.TryUnwrap(source, destination, out var written) && written == destination.Length;
        }
        catch (ZstdException)
        {
            return false; // a damaged frame: format, checksum or trailing bytes
        }
    }
}
