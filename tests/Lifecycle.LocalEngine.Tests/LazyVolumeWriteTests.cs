using System.Collections.Immutable;
using Lifecycle.Core.Providers;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>Writes to a volume that still loads its blocks from its source snapshot, stopped as a crash would stop them.</summary>
public sealed class LazyVolumeWriteTests
{
    private const int Block = LocalRegion.BlockSize;

    [Theory]
    [InlineData("before-image-write")]
    [InlineData("after-image-write")]
    public async Task AWriteReplacingBlocksNotLoadedYet_StoppedByACrash_LeavesEachBlockWithItsOldOrItsNewContent(string step)
    {
        string? crashAt = null;
        await using var f = new LocalProviderFixture(o => o.VolumeWriteStep = s =>
        {
            if (s == Volatile.Read(ref crashAt))
            {
                throw new IOException("simulated crash");
            }
        });
        var source = await f.Local.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        var old = RandomBytes(4 * Block, 1);
        await f.Local.WriteAsync(source.Id, 0, old);
        var started = await f.Local.CreateSnapshotAsync(new CreateSnapshotRequest(source.Id, ImmutableSortedDictionary<string, string>.Empty));
        await f.Local.WaitForSnapshotAsync(started.Id);
        var lazy = await f.Local.CreateVolumeAsync(new CreateVolumeRequest(started.Id, "a", LocalProviderFixture.NoTags));

        // one write replacing blocks 1 (new data) and 2 (zeros, so a hole) whole; everything it did so far is on disk
        var write = new byte[2 * Block];
        RandomBytes(Block, 2).CopyTo(write, 0);
        Volatile.Write(ref crashAt, step);
        await Assert.ThrowsAsync<IOException>(() => f.Local.WriteAsync(lazy.Id, Block, write));
        Volatile.Write(ref crashAt, null);
        f.Reopen();

        var content = new byte[4 * Block];
        await f.Local.ReadAsync(lazy.Id, 0, content);
        for (var index = 0; index < 4; index++)
        {
            var now = content.AsSpan(index * Block, Block);
            var before = old.AsSpan(index * Block, Block);
            var written = index is 1 or 2 ? write.AsSpan((index - 1) * Block, Block) : before;
            Assert.True(now.SequenceEqual(before) || now.SequenceEqual(written),
                $"after a crash at {step}, block {index} holds neither its old nor its new content");
        }
    }
}
