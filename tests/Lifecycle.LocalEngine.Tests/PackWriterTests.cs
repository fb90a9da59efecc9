using System.Buffers.Binary;
using System.Security.Cryptography;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>Pack files as written by <see cref="PackWriter"/> (O_DIRECT chunks on Linux): exact sizes, contiguous records, nothing left behind.</summary>
public sealed class PackWriterTests() : TempDirectoryTest("lifecycle-packs-")
{
    /// <summary>Records of odd sizes (many straddle the 4 MiB chunk boundaries), appended from several threads, enough to roll over into a second pack.</summary>
    private List<(BlockId Id, BlockLocation Location, byte[] Payload)> AppendRecords(PackWriter writer)
    {
        var random = new Random(5);
        var payloads = Enumerable.Range(0, 320).Select(i =>
        {
            var payload = new byte[random.Next(1, BlockCodec.BlockSize + 1)];
            random.NextBytes(payload);
            return payload;
        }).ToList();
        var written = new (BlockId, BlockLocation, byte[])[payloads.Count];
        Parallel.For(0, payloads.Count, new ParallelOptions { MaxDegreeOfParallelism = 3 }, i =>
        {
            var id = BlockId.Read(SHA256.HashData(payloads[i]));
            written[i] = (id, writer.Append(id, BlockEncoding.Raw, null, payloads[i]), payloads[i]);
        });
        return [.. written];
    }

    [Fact]
    public void Finish_PublishesPacksOfExactlyTheirRecords_AndEveryRecordReadsBack()
    {
        using var writer = new PackWriter(TestDirectory);
        var records = AppendRecords(writer);

        var packs = writer.Finish();

        Assert.True(packs.Count >= 2, "the records should fill more than one pack");
        Assert.Empty(Directory.EnumerateFiles(TestDirectory, "*" + DurableFile.TempSuffix));
        foreach (var (packId, size) in packs)
        {
            var bytes = File.ReadAllBytes(PackFile.PathOf(TestDirectory, packId));
            Assert.Equal(size, bytes.Length); // no padding of the last direct chunk survives
            var at = 0;
            while (at < bytes.Length)
            {
                Assert.Equal(PackFile.Magic, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)));
                at += PackFile.HeaderSize + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 40));
            }

            Assert.Equal(bytes.Length, at); // records follow each other without gaps
        }

        var buffer = new byte[BlockCodec.MaxEncodedSize + PackFile.HeaderSize];
        foreach (var (id, location, payload) in records)
        {
            Assert.Contains(packs, p => p.Id == location.PackId);
            Assert.True(payload.AsSpan().SequenceEqual(PackFile.ReadRecord(TestDirectory, id, location, buffer)), $"record {id} differs");
            var direct = new byte[payload.Length];
            PackFile.ReadPayload(TestDirectory, location, direct);
            Assert.True(payload.AsSpan().SequenceEqual(direct), $"payload {id} differs");
        }
    }

    [Fact]
    public void Abandon_RemovesEveryPackItWrote_PublishedOrNot()
    {
        using var writer = new PackWriter(TestDirectory);
        AppendRecords(writer);

        writer.Abandon();

        Assert.Empty(Directory.EnumerateFileSystemEntries(TestDirectory));
    }
}
