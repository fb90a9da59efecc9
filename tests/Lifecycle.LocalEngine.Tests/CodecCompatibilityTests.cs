using System.Runtime.InteropServices;
using Lifecycle.Core.Inventory;
using Lifecycle.LocalEngine.Storage;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// The codec switch keeps stores readable both ways: what liblz4 and libzstd wrote reads through the managed codecs
/// (K4os, ZstdSharp), and what those write reads through the libraries (an older engine, or liblz4 where it loads).
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
    [MemberData(nameof(Kinds))]
    public void FramesWrittenByLiblz4_DecodeThroughTheManagedCodec_AndItsFrames_DecodeThroughLiblz4(string kind)
    {
        Assert.True(NativeLz4.IsAvailable);
        var block = BlockOf(kind, 1);
        var native = new byte[BlockCodec.MaxEncodedSize];
        foreach (var checksumContent in new[] { false, true }) // the frames written now and those written before
        {
            var length = NativeLz4.Compress(block, native, checksumContent);
            Assert.True(length > 0);
            var back = new byte[Block];
            Assert.True(ManagedLz4.TryDecompress(native.AsSpan(0, length), back), $"{kind}, content checksum {checksumContent}");
            Assert.Equal(block, back);
        }

        var nativeLength = NativeLz4.Compress(block, native);
        var managed = new byte[BlockCodec.MaxEncodedSize];
        var managedLength = ManagedLz4.Compress(block, managed);
        Assert.True(managedLength > 0);
        var fromManaged = new byte[Block];
        Assert.True(NativeLz4.TryDecompress(managed.AsSpan(0, managedLength), fromManaged), kind);
        Assert.Equal(block, fromManaged);
        // the same header as liblz4's (magic, flags, 1 MiB blocks, content size, header checksum) and a size within
        // a few percent of it
        Assert.Equal(native.AsSpan(0, 15).ToArray(), managed.AsSpan(0, 15).ToArray());
        Assert.InRange(managedLength, nativeLength * 0.9, nativeLength * 1.1);
    }

    [Theory]
    [InlineData(CodecFixtures.Lz4BlockChecksum, "Lz4", false)]
    [InlineData(CodecFixtures.Lz4BlockChecksum, "Lz4", true)]
    [InlineData(CodecFixtures.Lz4ContentChecksum, "Lz4", false)]
    [InlineData(CodecFixtures.Lz4ContentChecksum, "Lz4", true)]
    [InlineData(CodecFixtures.ZstdLevel1, "Zstd", false)]
    public void PayloadsTheNativeCodecsWrote_StillDecode_AndDamageToThemIsCaught(string fixture, string codec, bool managedLz4)
    {
        var encoding = Enum.Parse<BlockEncoding>(codec);
        var expected = CodecFixtures.Block();
        var payload = File.ReadAllBytes(CodecFixtures.PathOf(fixture));
        var id = BlockCodec.ComputeId(expected, null);
        using var _ = managedLz4 ? Lz4.UseManagedCodec() : null;
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

    [Fact]
    public async Task AStoreWrittenThroughLiblz4_RestoresAndVerifies_ThroughTheManagedCodec_AndTheOtherWay()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        var content = new byte[4 * Block];
        BlockOf("text", 30).CopyTo(content, 0);
        BlockOf("database pages", 31).CopyTo(content, Block);
        await region.WriteAsync(volume.Id, 0, content);
        var first = await SnapshotAsync(region, volume.Id); // through liblz4
        var firstContent = content.ToArray();

        BlockOf("text", 32).CopyTo(content, 2 * Block);
        BlockOf("mostly zero", 33).CopyTo(content, 3 * Block);
        await region.WriteAsync(volume.Id, 2L * Block, content.AsMemory(2 * Block, 2 * Block));
        f.Reopen();
        region = f.Local;
        SnapshotInfo second;
        using (Lz4.UseManagedCodec()) // as on a machine without liblz4
        {
            second = await SnapshotAsync(region, volume.Id);
            await AssertRestoresAsync(f, region, first, firstContent);
            var report = await region.VerifyAsync(1.0);
            Assert.True(report.Ok, string.Join("; ", report.Errors));
        }

        // each snapshot's new blocks are the frames of the codec it ran with (the seam flows into the engine's
        // workers as BlockCodec.UseCompression does, whose tests see its encodings in the packs; for these blocks
        // K4os even writes the same bytes as liblz4 1.9.4)
        var payloads = BlockEncodingTests.Records(region).Select(r => ReadPayload(r.Pack, r.PayloadOffset, r.Length)).ToList();
        Assert.All(BlockEncodingTests.Records(region), r => Assert.Equal(BlockEncoding.Lz4, r.Encoding));
        foreach (var (at, managed) in new[] { (0, false), (1, false), (2, true), (3, true) })
        {
            var frame = Frame(content.AsSpan(at * Block, Block), managed ? ManagedLz4.Compress : NativeLz4.Compress);
            Assert.Contains(payloads, p => p.AsSpan().SequenceEqual(frame));
        }

        f.Reopen();
        region = f.Local;
        Assert.True(Lz4.UsesSystemLibrary);
        await AssertRestoresAsync(f, region, second, content);
        await AssertRestoresAsync(f, region, first, firstContent);
        var after = await region.VerifyAsync(1.0);
        Assert.True(after.Ok, string.Join("; ", after.Errors));
    }

    private delegate int Compressor(ReadOnlySpan<byte> source, Span<byte> destination);

    private static byte[] Frame(ReadOnlySpan<byte> block, Compressor compress)
    {
        var frame = new byte[BlockCodec.MaxEncodedSize];
        return frame[..compress(block, frame)];
    }

    private static byte[] ReadPayload(string pack, long offset, int length)
    {
        using var stream = File.OpenRead(pack);
        stream.Position = offset;
        var payload = new byte[length];
        stream.ReadExactly(payload);
        return payload;
    }

    private static async Task AssertRestoresAsync(LocalProviderFixture f, LocalRegion region, SnapshotInfo snapshot, byte[] expected)
    {
        var target = Path.Combine(f.Root, $"{snapshot.Id}-{Guid.NewGuid():N}.raw");
        await region.RestoreSnapshotToFileAsync(snapshot.Id, target);
        Assert.Equal(expected, await File.ReadAllBytesAsync(target));
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
