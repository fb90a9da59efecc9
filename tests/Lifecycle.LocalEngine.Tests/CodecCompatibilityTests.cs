using System.Runtime.InteropServices;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// The codec switch keeps stores readable both ways: what libzstd wrote reads through ZstdSharp, and what ZstdSharp
/// writes reads through libzstd (an older engine).
/// </summary>
public sealed class CodecCompatibilityTests
{
    private const int Block = LocalRegion.BlockSize;

    public static TheoryData<string> Kinds => ["text", "database pages", "mostly zero", "random"];

    /// <summary>Blocks like those a disk holds; random data makes LZ4 store its block uncompressed inside the frame.</summary>
    internal static byte[] BlockOf(string kind, int seed)
    {
        var random = new Random(seed);
        var block = new byte[Block];
        switch (kind)
        {
            case "text":
                System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 30000)
                    .Select(i => $"2026-01-01T00:{i % 60:00}:00Z GET /api/v1/orders/{random.Next(100000)} took {random.Next(900)} ms\n"))).AsSpan(0, Block).CopyTo(block);
                break;
            case "database pages":
                // 8 KiB pages: a header, rows of numbers, a uuid and a name from the page's end, free space as zeros
                for (var page = 0; page < Block / 8192; page++)
                {
                    var p = block.AsSpan(page * 8192, 8192);
                    random.NextBytes(p[..16]);
                    for (var end = 8192 - 48; end > 8192 * random.Next(2, 6) / 10; end -= 48)
                    {
                        BitConverter.TryWriteBytes(p[end..], page * 1000 + end);
                        BitConverter.TryWriteBytes(p[(end + 4)..], 1_700_000_000_000L + random.Next(100000));
                        random.NextBytes(p.Slice(end + 12, 16));
                        System.Text.Encoding.ASCII.GetBytes(random.Next(3) == 0 ? "pending  " : "completed").CopyTo(p[(end + 30)..]);
                    }
                }

                break;
            case "mostly zero":
                for (var i = 0; i < 24; i++)
                {
                    random.NextBytes(block.AsSpan(random.Next(Block - 256), random.Next(16, 256)));
                }

                break;
            default:
                random.NextBytes(block);
                break;
        }

        return block;
    }

    [Theory]
    [InlineData(CodecFixtures.Lz4BlockChecksum, "Lz4")]
    [InlineData(CodecFixtures.Lz4ContentChecksum, "Lz4")]
    [InlineData(CodecFixtures.ZstdLevel1, "Zstd")]
    public void PayloadsTheNativeCodecsWrote_StillDecode_AndDamageToThemIsCaught(string fixture, string codec)
    {
        var encoding = Enum.Parse<BlockEncoding>(codec);
        var expected = CodecFixtures.Block();
        var payload = File.ReadAllBytes(CodecFixtures.PathOf(fixture));
        var id = BlockCodec.ComputeId(expected, null);
        var back = new byte[Block];
        BlockCodec.Decode(payload, encoding, id, null, back, new byte[BlockCodec.MaxEncodedSize]);
        Assert.Equal(expected, back);

        // changed bytes all over the payload after the frame header (many land on literals, where the frame still
        // parses and only a checksum can tell; zstd ignores a flag bit of its header), the trailing bytes (checksums
        // and end mark) one by one, and a truncated payload
        var places = Enumerable.Range(0, 60).Select(i => 16 + i * (payload.Length - 24) / 60).Concat(Enumerable.Range(payload.Length - 8, 8));
        foreach (var at in places)
        {
            var damaged = payload.ToArray();
            damaged[at] ^= 0x10;
            var ex = Record.Exception(() => BlockCodec.Decode(damaged, encoding, id, null, new byte[Block], new byte[BlockCodec.MaxEncodedSize]));
            Assert.True(ex is InvalidDataException, $"{fixture}: a change at byte {at} of {payload.Length} decoded without an error");
        }

        Assert.Throws<InvalidDataException>(() => BlockCodec.Decode(payload[..^1], encoding, id, null, new byte[Block], new byte[BlockCodec.MaxEncodedSize]));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ZstdFramesOfTheManagedCodec_DecodeThroughLibzstd(string kind)
    {
        var block = BlockOf(kind, 2);
        var frame = new byte[BlockCodec.MaxEncodedSize];
        var length = Zstd.Compress(block, frame, 1);
        Assert.True(length > 0);
        Assert.Equal(0x04, frame[4] & 0x04); // the frame header's content-checksum flag, which restores rely on
        var back = new byte[Block];
        var result = SystemZstd.ZSTD_decompress(back, (nuint)back.Length, frame[..length], (nuint)length);
        Assert.Equal(0u, SystemZstd.ZSTD_isError(result));
        Assert.Equal((nuint)Block, result);
        Assert.Equal(block, back);
    }

    /// <summary>The system's libzstd (libzstd1, which dpkg depends on), as the engine used it before ZstdSharp.</summary>
    private static class SystemZstd
    {
        [DllImport("libzstd.so.1")]
        public static extern nuint ZSTD_decompress(byte[] destination, nuint destinationCapacity, byte[] source, nuint sourceSize);

        [DllImport("libzstd.so.1")]
        public static extern uint ZSTD_isError(nuint code);
    }
}
