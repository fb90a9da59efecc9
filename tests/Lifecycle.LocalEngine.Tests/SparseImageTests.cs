using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Volumes;
using Microsoft.Win32.SafeHandles;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>Volume images are sparse: whole zero blocks are holes, and snapshots record holes as zero without reading them.</summary>
public sealed class SparseImageTests() : TempDirectoryTest("lifecycle-sparse-")
{
    private const int Block = LocalRegion.BlockSize;

    private static int[] DataBlocksOf(LocalRegion region, string volumeId, int blocks)
    {
        using SafeFileHandle image = File.OpenHandle(Path.Combine(region.Directory, "volumes", volumeId + ".img"));
        var data = SparseImage.DataBlocks(image, blocks);
        Assert.NotNull(data); // the test machine (Linux, ext4 or tmpfs) reports holes
        return [.. data.SetIndexes()];
    }

    [Fact]
    public void Holes_AreTheSameWhetherProbedBlockByBlockOrFoundByWalkingTheExtents()
    {
        // 12 blocks in the file (data in 0, 9, 3 and the last 4 KiB of 4), 16 asked about (12..15 past its end)
        var path = Path.Combine(TestDirectory, "image");
        using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, 12L * Block);
            foreach (var (offset, length) in new[] { (0L, Block), (9L * Block, Block), (3L * Block, 4096), (5L * Block - 4096, 4096) })
            {
                RandomAccess.Write(file, RandomBytes(length, (int)(offset / 4096)), offset);
            }
        }

        using var image = File.OpenHandle(path);
        int[] expected = [1, 2, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15];
        var many = BlockBitmap.All(16); // more than 1/16 of the blocks: one walk over the extents
        Assert.Equal(expected, SparseImage.Holes(image, many));
        var few = new BlockBitmap(1024); // 16 of 1024 blocks: each probed on its own
        foreach (var index in Enumerable.Range(0, 16))
        {
            few[index] = true;
        }

        Assert.Equal(expected, SparseImage.Holes(image, few));
    }

    [Fact]
    public async Task WholeBlocksWrittenAsZeros_BecomeHoles_WhileOtherWritesAreKept_AndEverythingReadsBack()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var expected = RandomBytes(8 * Block, 1);
        await region.WriteAsync(volume.Id, 0, expected);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], DataBlocksOf(region, volume.Id, 8));

        // one write: data in block 1's tail, blocks 2 and 3 whole zeros, then 100 bytes of data in block 4
        var write = new byte[Block / 2 + 2 * Block + 100];
        RandomBytes(Block / 2, 2).CopyTo(write, 0);
        RandomBytes(100, 3).CopyTo(write, Block / 2 + 2 * Block);
        await region.WriteAsync(volume.Id, Block + Block / 2, write);
        write.CopyTo(expected, Block + Block / 2);

        // zeros over part of block 6 only: written, not a hole (the rest of the block holds data)
        await region.WriteAsync(volume.Id, 6L * Block, new byte[Block - 4096]);
        Array.Clear(expected, 6 * Block, Block - 4096);

        Assert.Equal([0, 1, 4, 5, 6, 7], DataBlocksOf(region, volume.Id, 8));
        var content = new byte[8 * Block];
        await region.ReadAsync(volume.Id, 0, content);
        Assert.True(expected.AsSpan().SequenceEqual(content), "the volume does not read back what was written");
    }

    [Fact]
    public async Task FirstSnapshot_ReadsOnlyBlocksHoldingData_AndAnIncrementalRecordsABlockZeroedSinceItsBase()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        const int Blocks = 64;
        var volume = await region.CreateVolumeAsync("a", (long)Blocks * Block, LocalProviderFixture.NoTags);
        var expected = new byte[Blocks * Block];
        foreach (var (index, seed) in new[] { (3, 10), (40, 11), (41, 12) })
        {
            var data = RandomBytes(Block, seed);
            await region.WriteAsync(volume.Id, (long)index * Block, data);
            data.CopyTo(expected, index * Block);
        }

        var full = await SnapshotAsync(region, volume.Id);
        Assert.Equal(3, region.BlocksReadBy(full.Id));
        Assert.Equal(3L * Block, full.FullSizeBytes);
        var fullContent = await ReadSnapshotAsync(region, full.Id, Blocks * Block);
        Assert.True(expected.AsSpan().SequenceEqual(fullContent));

        // block 40 is zeroed (a hole now) and block 41 changes: the incremental reads only block 41, and records 40 as
        // zero although its base holds data there
        await region.WriteAsync(volume.Id, 40L * Block, new byte[Block]);
        Array.Clear(expected, 40 * Block, Block);
        var changed = RandomBytes(Block, 13);
        await region.WriteAsync(volume.Id, 41L * Block, changed);
        changed.CopyTo(expected, 41 * Block);

        var incremental = await SnapshotAsync(region, volume.Id);
        Assert.Equal(1, region.BlocksReadBy(incremental.Id));
        Assert.Equal(2L * Block, incremental.FullSizeBytes);
        var incrementalContent = await ReadSnapshotAsync(region, incremental.Id, Blocks * Block);
        Assert.True(expected.AsSpan().SequenceEqual(incrementalContent), "the incremental does not hold the volume's content at its start");
        var first = await ReadSnapshotAsync(region, full.Id, Blocks * Block);
        Assert.True(RandomBytes(Block, 11).AsSpan().SequenceEqual(first.AsSpan(40 * Block, Block)), "the base lost its block");
    }

    [Fact]
    public async Task ASnapshotOfAVolumeStillLoadingFromItsSource_ReadsTheBlocksNotLoadedYet_ThoughTheyAreHoles()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var source = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var content = RandomBytes(8 * Block, 20);
        Array.Clear(content, 5 * Block, Block); // one zero block
        await region.WriteAsync(source.Id, 0, content);
        var snapshot = await SnapshotAsync(region, source.Id);

        var lazy = await region.CreateVolumeAsync(new CreateVolumeRequest(snapshot.Id, "a", LocalProviderFixture.NoTags));
        var loaded = RandomBytes(Block, 21);
        await region.WriteAsync(lazy.Id, 2L * Block, loaded); // loads (replaces) block 2 only
        loaded.CopyTo(content, 2 * Block);
        Assert.Equal([2], DataBlocksOf(region, lazy.Id, 8)); // every other block is still a hole of the new image

        // the image's time changes while the engine is closed: the volume is no longer trusted, so the next snapshot
        // is a full one over every block, not an incremental of its source
        var image = Path.Combine(region.Directory, "volumes", lazy.Id + ".img");
        f.Reopen(() => File.SetLastWriteTimeUtc(image, DateTime.UnixEpoch.AddDays(20000)));
        region = f.Local;

        var copy = await SnapshotAsync(region, lazy.Id);
        Assert.Equal(8, region.BlocksReadBy(copy.Id)); // the holes not loaded yet are read (from the store), not taken for zeros
        var copyContent = await ReadSnapshotAsync(region, copy.Id, 8 * Block);
        Assert.True(content.AsSpan().SequenceEqual(copyContent), "a block not loaded yet was taken for zeros");
    }
}
