using System.Buffers.Binary;
using System.IO.Hashing;
using K4os.Compression.LZ4;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// The engine's LZ4 frames around K4os's managed LZ4 block codec, for machines without liblz4: magic, descriptor with
/// content size, one block with an XXH32 block checksum, end mark, as <see cref="NativeLz4"/> writes them. Decodes
/// every frame liblz4 wrote for the engine (block or content checksum, compressed or stored blocks) and checks every
/// checksum the frame carries. K4os's own frame API (K4os.Compression.LZ4.Streams) is not used: it cannot write the
/// content size into a span, does not check content checksums (the older frames' only proof), and decoded 20-55%
/// slower than its block codec inside this code here.
/// </summary>
internal static class ManagedLz4
{
    private const uint Magic = 0x184D2204;
    private const byte VersionMask = 0xC0, Version1 = 0x40;
    private const byte IndependentBlocks = 0x20, BlockChecksum = 0x10, ContentSize = 0x08, ContentChecksum = 0x04, Reserved = 0x02, DictionaryId = 0x01;
    private const byte MaxBlock1MiB = 6 << 4;
    private const uint StoredBlock = 0x8000_0000;
    private const int HeaderSize = 4 + 2 + 8 + 1;

    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var overhead = HeaderSize + 4 + 4 + 4; // header, block size, block checksum, end mark
        if (destination.Length < overhead || source.Length > 1 << 20)
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = Version1 | IndependentBlocks | BlockChecksum | ContentSize;
        destination[5] = MaxBlock1MiB;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[6..], (ulong)source.Length);
        destination[14] = HeaderChecksum(destination[4..14]);
        var room = destination.Length - overhead;
        var body = destination.Slice(HeaderSize + 4, room);
        var length = source.Length == 0 ? 0 : LZ4Codec.Encode(source, body, LZ4Level.L00_FAST);
        uint word;
        if (length > 0 && length < source.Length)
        {
            word = (uint)length;
        }
        else if (source.Length <= room)
        {
            source.CopyTo(body); // as liblz4 does: a block that does not shrink is stored
            length = source.Length;
            word = (uint)length | StoredBlock;
        }
        else
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination[HeaderSize..], word);
        var at = HeaderSize + 4 + length;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[at..], XxHash32.HashToUInt32(destination.Slice(HeaderSize + 4, length)));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(at + 4)..], 0);
        return at + 8;
    }

    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.Length < 7 || BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic)
        {
            return false;
        }

        var flags = source[4];
        if ((flags & VersionMask) != Version1 || (flags & (Reserved | DictionaryId)) != 0 || (source[5] & 0x8F) != 0)
        {
            return false;
        }

        var maxBlock = 1 << (8 + 2 * ((source[5] >> 4) & 7));
        var descriptorLength = 2 + ((flags & ContentSize) != 0 ? 8 : 0);
        if ((source[5] >> 4) < 4 || source.Length < 4 + descriptorLength + 1 || HeaderChecksum(source.Slice(4, descriptorLength)) != source[4 + descriptorLength])
        {
            return false;
        }

        if ((flags & ContentSize) != 0 && BinaryPrimitives.ReadUInt64LittleEndian(source[6..]) != (ulong)destination.Length)
        {
            return false;
        }

        var at = 4 + descriptorLength + 1;
        var produced = 0;
        var blockChecksum = (flags & BlockChecksum) != 0 ? 4 : 0;
        while (true)
        {
            if (source.Length - at < 4)
            {
                return false;
            }

            var word = BinaryPrimitives.ReadUInt32LittleEndian(source[at..]);
            at += 4;
            if (word == 0)
            {
                break; // end mark
            }

            var length = (int)(word & ~StoredBlock);
            if (length > maxBlock || source.Length - at < length + blockChecksum)
            {
                return false;
            }

            var block = source.Slice(at, length);
            at += length;
            if (blockChecksum != 0 && XxHash32.HashToUInt32(block) != BinaryPrimitives.ReadUInt32LittleEndian(source[at..]))
            {
                return false;
            }

            at += blockChecksum;
            var target = destination[produced..];
            int written;
            if ((word & StoredBlock) != 0)
            {
                if (length > target.Length)
                {
                    return false;
                }

                block.CopyTo(target);
                written = length;
            }
            else if ((flags & IndependentBlocks) != 0 || produced == 0)
            {
                written = LZ4Codec.Decode(block, target[..Math.Min(target.Length, maxBlock)]);
            }
            else
            {
                // a linked block may refer to the last 64 KiB already decoded
                var dictionary = destination[Math.Max(0, produced - 65536)..produced];
                written = LZ4Codec.Decode(block, target[..Math.Min(target.Length, maxBlock)], dictionary);
            }

            if (written < 0)
            {
                return false;
            }

            produced += written;
        }

        if ((flags & ContentChecksum) != 0)
        {
            if (source.Length - at < 4 || XxHash32.HashToUInt32(destination[..produced]) != BinaryPrimitives.ReadUInt32LittleEndian(source[at..]))
            {
                return false;
            }

            at += 4;
        }

        return produced == destination.Length && at == source.Length;
    }

    /// <summary>The descriptor's check byte: the second byte of XXH32 over FLG, BD and the optional fields.</summary>
    private static byte HeaderChecksum(ReadOnlySpan<byte> descriptor) => (byte)(XxHash32.HashToUInt32(descriptor) >> 8);
}
