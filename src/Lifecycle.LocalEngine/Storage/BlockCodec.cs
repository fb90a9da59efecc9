using System.IO.Compression;
using System.Security.Cryptography;
using Lifecycle.LocalEngine.Encryption;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>How a stored block payload is encoded (flags).</summary>
[Flags]
internal enum BlockEncoding : byte
{
    Raw = 0,
    Brotli = 1,
    AesGcm = 2,
    /// <summary>A zstd frame with content size and XXH64 content checksum (checked while decoding).</summary>
    Zstd = 4,
    /// <summary>An LZ4 frame with content size and an XXH32 checksum of its compressed block (older frames: of the content), checked while decoding.</summary>
    Lz4 = 8,
}

/// <summary>Which compressor new blocks use (stores keep reading every encoding ever written).</summary>
internal enum BlockCompression
{
    /// <summary>LZ4 (through liblz4 where the system has it, else K4os's managed codec: the same frames).</summary>
    Default,
    Lz4,
    Zstd,
    Brotli,
}

/// <summary>
/// Names, compresses and encrypts 512 KiB blocks. Compression is tried on a sample first and kept only when it
/// saves at least 3%, so incompressible data costs one small probe instead of a full compression pass.
/// New blocks are LZ4 frames (see <see cref="Lz4"/>): the fastest codec here, and their checksum lets a restore skip
/// re-hashing the block. zstd (level 1, content checksum) and Brotli blocks of older stores are still read; every
/// codec is available on every machine (ZstdSharp and K4os are managed; liblz4 is only used where it loads, for speed).
/// </summary>
internal static class BlockCodec
{
    public const int BlockSize = 512 * 1024;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int MaxEncodedSize = BlockSize + 4096;

    // 8 KiB is enough to tell random bytes (measured entropy ~7.98 bits per byte) from anything compressible, for a
    // quarter of the histogram work of 32 KiB (which was ~0.09 CPU-s of a 2 GiB full snapshot)
    private const int SampleSize = 8 * 1024;
    // quality 0 compresses ~1.5x faster than 1 here for ~15% more bytes on text; still below restic's zstd in the bench.
    // (A hand-written LZ77 codec in C# was tried: ~25% faster both ways but 34% more bytes on text; not worth it.)
    private const int BrotliQuality = 0;
    // 2^19 covers a whole block; larger windows only make the native encoder and decoder allocate more per block
    private const int BrotliWindow = 19;
    private const int ZstdLevel = 1;

    // a test seam: flows into the tasks an operation starts, so a test can write a store the way older versions did
    private static readonly AsyncLocal<BlockCompression> CompressionOverride = new();

    /// <summary>The compressor new blocks get in this async flow.</summary>
    public static BlockCompression Compression
    {
        get
        {
            var chosen = CompressionOverride.Value;
            return chosen != BlockCompression.Default ? chosen : BlockCompression.Lz4;
        }
    }

    /// <summary>Makes blocks encoded in this async flow (and the tasks it starts) use <paramref name="compression"/>.</summary>
    internal static IDisposable UseCompression(BlockCompression compression)
    {
        var previous = CompressionOverride.Value;
        CompressionOverride.Value = compression;
        return new Restore(() => CompressionOverride.Value = previous);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>
    /// True when decoding already proves the payload is the one stored (an AES-GCM tag bound to the id, a zstd
    /// content checksum, an LZ4 block or content checksum), so a reader that also checked the record header (which
    /// names the id) need not re-hash the block; <c>verify</c> still re-hashes every block.
    /// </summary>
    public static bool IsSelfChecking(BlockEncoding encoding) => (encoding & (BlockEncoding.AesGcm | BlockEncoding.Zstd | BlockEncoding.Lz4)) != 0;

    public static bool IsZero(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    public static BlockId ComputeId(ReadOnlySpan<byte> plaintext, BlockKey? key)
    {
        Span<byte> digest = stackalloc byte[32];
        if (key is null)
        {
            SHA256.HashData(plaintext, digest);
        }
        else
        {
            HMACSHA256.HashData(key.IdKey, plaintext, digest);
        }

        return BlockId.Read(digest);
    }

    /// <summary>
    /// Encodes a plaintext block and returns the payload to store: the plaintext itself (raw), a slice of
    /// <paramref name="scratch"/> (compressed) or of <paramref name="destination"/> (encrypted); both ≥ MaxEncodedSize.
    /// Returning a view instead of copying saves a 512 KiB copy per stored block.
    /// </summary>
    public static ReadOnlySpan<byte> Encode(ReadOnlySpan<byte> plaintext, BlockId id, BlockKey? key, Span<byte> destination, Span<byte> scratch, out BlockEncoding encoding)
    {
        encoding = BlockEncoding.Raw;
        ReadOnlySpan<byte> body = plaintext;
        var compression = Compression;
        var compressedLength = TryCompress(plaintext, scratch, compression);
        if (compressedLength > 0)
        {
            encoding = compression switch
            {
                BlockCompression.Lz4 => BlockEncoding.Lz4,
                BlockCompression.Zstd => BlockEncoding.Zstd,
                _ => BlockEncoding.Brotli,
            };
            body = scratch[..compressedLength];
        }

        if (key is null)
        {
            return body;
        }

        encoding |= BlockEncoding.AesGcm;
        var nonce = destination[..NonceSize];
        RandomNumberGenerator.Fill(nonce);
        var cipher = destination.Slice(NonceSize, body.Length);
        var tag = destination.Slice(NonceSize + body.Length, TagSize);
        Span<byte> aad = stackalloc byte[BlockId.Size];
        id.Write(aad);
        using var aes = new AesGcm(key.EncryptionKey, TagSize);
        aes.Encrypt(nonce, body, cipher, tag, aad);
        return destination[..(NonceSize + body.Length + TagSize)];
    }

    /// <summary>Decodes a stored payload into a full block; throws <see cref="InvalidDataException"/> when damaged.</summary>
    public static void Decode(ReadOnlySpan<byte> payload, BlockEncoding encoding, BlockId id, BlockKey? key, Span<byte> block, Span<byte> scratch)
    {
        var body = payload;
        if ((encoding & BlockEncoding.AesGcm) != 0)
        {
            if (key is null)
            {
                throw new InvalidDataException($"block {id} is encrypted but no key was given");
            }

            if (payload.Length < NonceSize + TagSize)
            {
                throw new InvalidDataException($"block {id}: encrypted payload too short");
            }

            var bodyLength = payload.Length - NonceSize - TagSize;
            var plain = scratch[..bodyLength];
            Span<byte> aad = stackalloc byte[BlockId.Size];
            id.Write(aad);
            try
            {
                using var aes = new AesGcm(key.EncryptionKey, TagSize);
                aes.Decrypt(payload[..NonceSize], payload.Slice(NonceSize, bodyLength), payload[^TagSize..], plain, aad);
            }
            catch (AuthenticationTagMismatchException e)
            {
                throw new InvalidDataException($"block {id}: authentication failed (damaged or wrong key)", e);
            }

            body = plain;
        }

        if ((encoding & BlockEncoding.Lz4) != 0)
        {
            if (!Lz4.TryDecompress(body, block))
            {
                throw new InvalidDataException($"block {id}: cannot decompress (damaged: LZ4 frame or checksum)");
            }
        }
        else if ((encoding & BlockEncoding.Zstd) != 0)
        {
            if (!Zstd.TryDecompress(body, block))
            {
                throw new InvalidDataException($"block {id}: cannot decompress (damaged: zstd frame or content checksum)");
            }
        }
        else if ((encoding & BlockEncoding.Brotli) != 0)
        {
            if (!BrotliDecoder.TryDecompress(body, block, out var written) || written != block.Length)
            {
                throw new InvalidDataException($"block {id}: cannot decompress");
            }
        }
        else
        {
            if (body.Length != block.Length)
            {
                throw new InvalidDataException($"block {id}: stored {body.Length} bytes, expected {block.Length}");
            }

            body.CopyTo(block);
        }
    }

    /// <summary>Compresses when a sample shows it pays; returns the compressed length or 0 to store raw.</summary>
    private static int TryCompress(ReadOnlySpan<byte> plaintext, Span<byte> destination, BlockCompression compression)
    {
        var sample = plaintext[..Math.Min(SampleSize, plaintext.Length)];
        // a byte histogram of the sample costs far less than compressing it: near 8 bits per byte (random,
        // already compressed or encrypted data) is stored raw at once; clearly text-like data skips the probe
        var entropy = BitsPerByte(sample);
        if (entropy > 7.95)
        {
            return 0;
        }

        if (entropy > 6.0 && Compress(sample, destination, compression) is var sampleLength && (sampleLength == 0 || sampleLength > sample.Length * 0.9))
        {
            return 0;
        }

        var length = Compress(plaintext, destination, compression);
        return length == 0 || length > plaintext.Length * 0.97 ? 0 : length;
    }

    private static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, BlockCompression compression)
    {
        if (compression == BlockCompression.Lz4)
        {
            return Lz4.Compress(source, destination);
        }

        if (compression == BlockCompression.Zstd)
        {
            return Zstd.Compress(source, destination, ZstdLevel);
        }

        return BrotliEncoder.TryCompress(source, destination, out var length, BrotliQuality, BrotliWindow) ? length : 0;
    }

    /// <summary>Order-0 entropy of the bytes (0..8 bits per byte).</summary>
    internal static double BitsPerByte(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return 0;
        }

        Span<int> counts = stackalloc int[256];
        foreach (var b in data)
        {
            counts[b]++;
        }

        double bits = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                var p = (double)count / data.Length;
                bits -= p * Math.Log2(p);
            }
        }

        return bits;
    }
}
