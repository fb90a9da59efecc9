using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// The 32-byte content address of a block: SHA-256 of the plaintext for unencrypted blocks, HMAC-SHA256 under the
/// key's id-key for encrypted ones (so ids never reveal plaintext hashes, and each key has its own namespace).
/// The all-zero id stands for a zero block, which is never stored.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct BlockId(ulong A, ulong B, ulong C, ulong D)
{
    public const int Size = 32;

    public static BlockId Zero => default;

    public bool IsZero => (A | B | C | D) == 0;

    public static BlockId Read(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt64BigEndian(bytes),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, A);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], D);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        Write(bytes);
        return bytes;
    }

    public override string ToString() => Convert.ToHexStringLower(ToArray());
}

/// <summary>A snapshot's manifest: block index to block id (zero id = zero block), stored as one blob.</summary>
internal sealed class Manifest
{
    public Manifest(BlockId[] blocks) => Blocks = blocks;

    public BlockId[] Blocks { get; }

    public int Count => Blocks.Length;

    public static Manifest Empty(int count) => new(new BlockId[count]);

    public static Manifest FromBlob(byte[] blob)
    {
        if (blob.Length % BlockId.Size != 0)
        {
            throw new InvalidDataException($"manifest blob of {blob.Length} bytes is not a multiple of {BlockId.Size}");
        }

        var blocks = new BlockId[blob.Length / BlockId.Size];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = BlockId.Read(blob.AsSpan(i * BlockId.Size));
        }

        return new Manifest(blocks);
    }

    public byte[] ToBlob()
    {
        var blob = new byte[Blocks.Length * BlockId.Size];
        for (var i = 0; i < Blocks.Length; i++)
        {
            Blocks[i].Write(blob.AsSpan(i * BlockId.Size));
        }

        return blob;
    }

    public IEnumerable<BlockId> NonZero => Blocks.Where(b => !b.IsZero);
}
