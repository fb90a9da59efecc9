using System.Buffers.Binary;
using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Encryption;
using Lifecycle.LocalEngine.Storage;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>The stored block encodings: LZ4 for new blocks (liblz4 or the managed codec), older encodings still read, damage caught.</summary>
public sealed class BlockEncodingTests
{
    private const int Block = LocalRegion.BlockSize;

    private static byte[] TextBlock(int seed)
    {
        var random = new Random(seed);
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 30000)
            .Select(i => $"2026-01-01T00:{i % 60:00}:00Z GET /api/v1/orders/{random.Next(100000)} took {random.Next(900)} ms\n")));
        return text.AsSpan(0, Block).ToArray();
    }

    private static byte[] RandomBlock(int seed)
    {
        var bytes = new byte[Block];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Every record of every standard pack: (pack path, offset of its payload, encoding, payload length).</summary>
    internal static List<(string Pack, long PayloadOffset, BlockEncoding Encoding, int Length)> Records(LocalRegion region)
    {
        var records = new List<(string, long, BlockEncoding, int)>();
        foreach (var pack in Directory.EnumerateFiles(Path.Combine(region.Directory, "packs"), "*.pack"))
        {
            var bytes = File.ReadAllBytes(pack);
            for (var at = 0; at < bytes.Length;)
            {
                Assert.Equal(PackFile.Magic, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)));
                var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 40));
                records.Add((pack, at + PackFile.HeaderSize, (BlockEncoding)bytes[at + 4], length));
                at += PackFile.HeaderSize + length;
            }
        }

        return records;
    }

    private static void FlipByte(string path, long offset)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = offset;
        var b = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(b ^ 0x5A));
    }

    /// <summary>"Lz4Managed" is LZ4 through the managed codec on this machine, which has liblz4.</summary>
    private static (BlockCompression Compression, bool Managed) Codec(string name) =>
        name == "Lz4Managed" ? (BlockCompression.Lz4, true) : (Enum.Parse<BlockCompression>(name), false);

    private static BlockEncoding EncodingOf(BlockCompression compression) => compression switch
    {
        BlockCompression.Lz4 => BlockEncoding.Lz4,
        BlockCompression.Zstd => BlockEncoding.Zstd,
        _ => BlockEncoding.Brotli,
    };

    [Fact]
    public void NewBlocksUseLz4_ThroughLiblz4_WhereItLoads_AndThroughTheManagedCodecOtherwise()
    {
        // liblz4-1 (systemd, apt) is on every Debian machine and compresses faster than the managed codec; a Debian
        // machine where it does not load would quietly run slower, so it fails here
        Assert.True(NativeLz4.IsAvailable, "liblz4.so.1 (Debian package liblz4-1) did not load");
        Assert.True(Lz4.UsesSystemLibrary);
        Assert.Equal(BlockCompression.Lz4, BlockCodec.Compression);
        using (Lz4.UseManagedCodec())
        {
            Assert.False(Lz4.UsesSystemLibrary);
            Assert.Equal(BlockCompression.Lz4, BlockCodec.Compression);
        }

        Assert.True(Lz4.UsesSystemLibrary);
    }

    [Theory]
    [InlineData("Lz4", false)]
    [InlineData("Lz4", true)]
    [InlineData("Lz4Managed", false)]
    [InlineData("Lz4Managed", true)]
    [InlineData("Zstd", false)]
    [InlineData("Zstd", true)]
    [InlineData("Brotli", false)]
    [InlineData("Brotli", true)]
    public void EveryEncoding_RoundTrips_TextRandomAndEncrypted(string codec, bool encrypted)
    {
        var (compression, managed) = Codec(codec);
        using var _ = BlockCodec.UseCompression(compression);
        using var __ = managed ? Lz4.UseManagedCodec() : null;
        var key = encrypted ? new BlockKey("k", RandomBlock(7).AsSpan(0, 32).ToArray()) : null;
        var destination = new byte[BlockCodec.MaxEncodedSize];
        var scratch = new byte[BlockCodec.MaxEncodedSize];
        foreach (var (block, compressible) in new[] { (TextBlock(1), true), (RandomBlock(2), false) })
        {
            var id = BlockCodec.ComputeId(block, key);
            var payload = BlockCodec.Encode(block, id, key, destination, scratch, out var encoding).ToArray();
            var expectedCompression = !compressible ? BlockEncoding.Raw : EncodingOf(compression);
            Assert.Equal(expectedCompression | (encrypted ? BlockEncoding.AesGcm : BlockEncoding.Raw), encoding);
            if (compressible)
            {
                Assert.True(payload.Length < Block / 2, $"{compression}: {payload.Length} bytes");
            }

            var back = new byte[Block];
            BlockCodec.Decode(payload, encoding, id, key, back, new byte[BlockCodec.MaxEncodedSize]);
            Assert.Equal(block, back);
        }
    }

    [Fact]
    public void Lz4Frames_CarryABlockChecksum_AndFramesWithAContentChecksum_AsWrittenBefore_StillDecode_AndCatchDamage()
    {
        var block = TextBlock(4);
        var id = BlockCodec.ComputeId(block, null);
        using var _ = BlockCodec.UseCompression(BlockCompression.Lz4);
        var current = BlockCodec.Encode(block, id, null, new byte[BlockCodec.MaxEncodedSize], new byte[BlockCodec.MaxEncodedSize], out var encoding).ToArray();
        Assert.Equal(BlockEncoding.Lz4, encoding);
        // the frame descriptor's FLG byte follows the 4-byte magic: bit 4 = block checksum, bit 2 = content checksum
        Assert.Equal(0x10, current[4] & 0x14);

        var older = new byte[BlockCodec.MaxEncodedSize];
        var length = NativeLz4.Compress(block, older, checksumContent: true);
        Assert.True(length > 0);
        older = older[..length];
        Assert.Equal(0x04, older[4] & 0x14);
        foreach (var (payload, managed) in new[] { (current, false), (older, false), (current, true), (older, true) })
        {
            using var __ = managed ? Lz4.UseManagedCodec() : null;
            var back = new byte[Block];
            BlockCodec.Decode(payload, BlockEncoding.Lz4, id, null, back, new byte[BlockCodec.MaxEncodedSize]);
            Assert.Equal(block, back);
            var damaged = payload.ToArray();
            damaged[damaged.Length / 2] ^= 0x08; // inside the compressed block, where the frame still parses
            Assert.Throws<InvalidDataException>(() => BlockCodec.Decode(damaged, BlockEncoding.Lz4, id, null, new byte[Block], new byte[BlockCodec.MaxEncodedSize]));
        }
    }

    [Theory]
    [InlineData("Lz4")]
    [InlineData("Lz4Managed")]
    [InlineData("Zstd")]
    public void DamagedSelfCheckingPayload_FailsToDecode_EvenWhenTheFrameStillParses(string codec)
    {
        var block = TextBlock(3);
        var id = BlockCodec.ComputeId(block, null);
        var (compression, managed) = Codec(codec);
        using var _ = BlockCodec.UseCompression(compression);
        using var __ = managed ? Lz4.UseManagedCodec() : null;
        var payload = BlockCodec.Encode(block, id, null, new byte[BlockCodec.MaxEncodedSize], new byte[BlockCodec.MaxEncodedSize], out var encoding).ToArray();
        Assert.Equal(EncodingOf(compression), encoding);
        Assert.True(BlockCodec.IsSelfChecking(encoding));
        var failures = 0;
        // damage at many places: the frame header, literals, sequences and the trailing checksum
        for (var at = 0; at < payload.Length; at += Math.Max(1, payload.Length / 97))
        {
            var damaged = payload.ToArray();
            damaged[at] ^= 0x21;
            var ex = Record.Exception(() => BlockCodec.Decode(damaged, encoding, id, null, new byte[Block], new byte[BlockCodec.MaxEncodedSize]));
            Assert.IsType<InvalidDataException>(ex);
            failures++;
        }

        Assert.True(failures > 90);
        var truncated = payload.AsSpan(0, payload.Length - 3).ToArray();
        Assert.Throws<InvalidDataException>(() => BlockCodec.Decode(truncated, encoding, id, null, new byte[Block], new byte[BlockCodec.MaxEncodedSize]));
    }

    [Fact]
    public async Task StoreWrittenWithBrotli_StillReadsAndVerifies_AfterLz4BecameTheDefault()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 6L * Block, LocalProviderFixture.NoTags);
        var content = new byte[6 * Block];
        TextBlock(10).CopyTo(content, 0);
        TextBlock(11).CopyTo(content, Block);
        RandomBlock(12).CopyTo(content, 2 * Block);
        await region.WriteAsync(volume.Id, 0, content);
        SnapshotInfo old;
        using (BlockCodec.UseCompression(BlockCompression.Brotli))
        {
            old = await SnapshotAsync(region, volume.Id); // as the engine wrote stores before zstd
        }

        Assert.Equal([BlockEncoding.Raw, BlockEncoding.Brotli, BlockEncoding.Brotli], Records(region).Select(r => r.Encoding).Order());
        var oldContent = content.ToArray();

        TextBlock(13).CopyTo(content, 3 * Block);
        await region.WriteAsync(volume.Id, 3L * Block, content.AsMemory(3 * Block, Block));
        SnapshotInfo zstd;
        using (BlockCodec.UseCompression(BlockCompression.Zstd))
        {
            zstd = await SnapshotAsync(region, volume.Id); // as the engine wrote stores before LZ4
        }

        Assert.Contains(Records(region), r => r.Encoding == BlockEncoding.Zstd);
        var zstdContent = content.ToArray();

        TextBlock(14).CopyTo(content, 4 * Block);
        await region.WriteAsync(volume.Id, 4L * Block, content.AsMemory(4 * Block, Block));
        f.Reopen();
        region = f.Local;
        var incremental = await SnapshotAsync(region, volume.Id);
        Assert.Contains(Records(region), r => r.Encoding == BlockEncoding.Lz4);

        foreach (var (snapshot, expected) in new[] { (old, oldContent), (zstd, zstdContent), (incremental, content) })
        {
            var target = Path.Combine(f.Root, snapshot.Id + ".raw");
            await region.RestoreSnapshotToFileAsync(snapshot.Id, target);
            Assert.Equal(expected, await File.ReadAllBytesAsync(target));
        }

        var report = await region.VerifyAsync(1.0);
        Assert.True(report.Ok, string.Join("; ", report.Errors));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public async Task DamagedRecord_FailsRestoreToFile_AndVerify(bool compressible, bool damageHeader)
    {
        var encoding = compressible ? BlockEncoding.Lz4 : BlockEncoding.Raw;
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 2L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, compressible ? TextBlock(20) : RandomBlock(20));
        var snapshot = await SnapshotAsync(region, volume.Id);
        var record = Assert.Single(Records(region));
        Assert.Equal(encoding, record.Encoding);
        // the header's block id, or a byte in the middle of the payload
        FlipByte(record.Pack, damageHeader ? record.PayloadOffset - PackFile.HeaderSize + 8 : record.PayloadOffset + record.Length / 2);

        var target = Path.Combine(f.Root, "restored.raw");
        await Assert.ThrowsAsync<InvalidDataException>(() => region.RestoreSnapshotToFileAsync(snapshot.Id, target));
        Assert.False(File.Exists(target));
        var report = await region.VerifyAsync(1.0);
        Assert.False(report.Ok);
        Assert.Contains(report.Errors, e => e.Contains(damageHeader ? "does not belong to it" : "block", StringComparison.Ordinal));
    }
}

/// <summary>Restore to a file: chunked in file order, repeated blocks decoded once, zeros left as holes.</summary>
public sealed class RestoreToFileTests
{
    private const int Block = LocalRegion.BlockSize;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RestoreToFile_WritesEveryBlockInPlace_AcrossChunks_WithRepeatsAndHoles(bool encrypted)
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        const int blocks = 41; // not a multiple of the 16-block chunk
        var volume = await region.CreateVolumeAsync("a", (long)blocks * Block, LocalProviderFixture.NoTags, encrypted);
        var random = new Random(77);
        var content = new byte[blocks * Block];
        var kinds = new List<string>();
        for (var i = 0; i < blocks; i++)
        {
            var block = content.AsSpan(i * Block, Block);
            switch (i % 5)
            {
                case 0:
                    random.NextBytes(block);
                    kinds.Add("random");
                    break;
                case 1:
                    kinds.Add("zero");
                    break;
                case 2:
                    content.AsSpan(0, Block).CopyTo(block); // a repeat of block 0, in other chunks too
                    kinds.Add("repeat");
                    break;
                default:
                    System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 60000).Select(n => $"{i} line {n} ok\n"))).AsSpan(0, Block).CopyTo(block);
                    kinds.Add("text");
                    break;
            }
        }

        await region.WriteAsync(volume.Id, 0, content);
        var started = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, LocalProviderFixture.NoTags));
        var snapshot = await region.WaitForSnapshotAsync(started.Id);
        var target = Path.Combine(f.Root, "restored.raw");
        long reported = 0;
        await region.RestoreSnapshotToFileAsync(snapshot.Id, target, new SyncProgress(v => reported = Math.Max(reported, v)));

        Assert.Equal(content, await File.ReadAllBytesAsync(target));
        Assert.Equal((long)kinds.Count(k => k != "zero") * Block, reported);
        Assert.False(File.Exists(target + ".tmp"));
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
