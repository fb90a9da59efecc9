using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

public sealed class EngineBehaviourTests
{
    private const int Block = LocalRegion.BlockSize;

    [Fact]
    public async Task ClosingTheEngine_LetsCopiesInBothDirectionsFinish_BeforeAnyRegionCloses()
    {
        // A copy runs in its target region and reads its source region. If each region waited only for its own work
        // before closing, the region closed first would cut off a slower copy out of it (it failed reading a closed
        // catalog). The engine closes its regions in an order of its own, so both ways round are run: in one of them
        // the slower copy reads the region that would close first.
        await CopiesBothWaysThenCloseAsync(slowTarget: "test-1");
        await CopiesBothWaysThenCloseAsync(slowTarget: "test-2");
    }

    private static async Task CopiesBothWaysThenCloseAsync(string slowTarget)
    {
        var copying = false;
        var slowCopies = new TaskCompletionSource<HashSet<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var f = new LocalProviderFixture(o => o.BeforeSnapshotBuild = async id =>
        {
            if (Volatile.Read(ref copying) && (await slowCopies.Task).Contains(id))
            {
                await Task.Delay(600);
            }
        });
        string[] regions = [f.Region, f.OtherRegion];
        Assert.Contains(slowTarget, regions);
        var sources = new List<(string Region, string Snapshot, byte[] Content)>();
        foreach (var name in regions)
        {
            var region = f.Engine.Region(name);
            var volume = await region.CreateVolumeAsync("a", 3L * Block, LocalProviderFixture.NoTags);
            var content = RandomBytes(3 * Block, name.Length + sources.Count);
            await region.WriteAsync(volume.Id, 0, content);
            sources.Add((name, (await SnapshotAsync(region, volume.Id)).Id, content));
        }

        Volatile.Write(ref copying, true);
        var copies = new List<(string Region, string Copy, byte[] Content)>();
        foreach (var (name, snapshot, content) in sources)
        {
            var target = regions.Single(r => r != name);
            var copy = await f.Engine.Region(target).CopySnapshotAsync(new CopySnapshotRequest(name, snapshot, LocalProviderFixture.NoTags));
            Assert.Equal(SnapshotState.Pending, copy.State);
            copies.Add((target, copy.Id, content));
        }

        slowCopies.SetResult(copies.Where(c => c.Region == slowTarget).Select(c => c.Copy).ToHashSet());
        f.Reopen();

        foreach (var (name, copy, content) in copies)
        {
            var region = f.Engine.Region(name);
            Assert.Equal(SnapshotState.Completed, region.Describe(copy).State);
            Assert.Equal(content, await ReadSnapshotAsync(region, copy, content.Length));
        }
    }

    [Fact]
    public async Task Gc_KeepsThePacksOfASnapshotThatCommitsWhileItLooksForOrphanFiles()
    {
        // GC reads the catalog's pack list, then looks at the pack files. A snapshot that commits and releases its pack
        // in between has a file the first list does not know and that is no longer in flight; deleting it lost the
        // snapshot's blocks (found by the property test as "pack ... is missing").
        LocalRegion? region = null;
        string? volumeId = null;
        SnapshotInfo? committed = null;
        var once = 0;
        await using var f = new LocalProviderFixture(o => o.BeforeOrphanSweep = () =>
        {
            if (Interlocked.Exchange(ref once, 1) == 0)
            {
                committed = SnapshotAsync(region!, volumeId!).GetAwaiter().GetResult();
            }
        });
        region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        volumeId = volume.Id;
        var content = RandomBytes(4 * Block, 5);
        await region.WriteAsync(volume.Id, 0, content);

        var report = await region.CollectGarbageAsync();

        Assert.Equal(SnapshotState.Completed, committed?.State);
        Assert.Equal(0, report.OrphanFilesDeleted);
        var verify = await region.VerifyAsync(1.0);
        Assert.True(verify.Ok, string.Join("; ", verify.Errors));
        Assert.Equal(content, await ReadSnapshotAsync(region, committed!.Id, content.Length));
    }

    /// <summary>EC2's CreateSnapshots takes the set at one instant: one start time, however the clock moves meanwhile.</summary>
    [Fact]
    public async Task CreateSnapshots_GivesEveryVolumeOfTheSetOneStartTime_WhileTheClockMoves()
    {
        var ticking = new TickingClock(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        await using var f = new LocalProviderFixture(o => o.TimeProvider = ticking);
        var region = f.Local;
        foreach (var device in new[] { "/dev/xvda", "/dev/xvdf", "/dev/xvdg" })
        {
            var volume = await region.CreateVolumeAsync("a", Block, LocalProviderFixture.NoTags);
            await region.AttachVolumeAsync(volume.Id, "i-set", device, isBoot: device == "/dev/xvda");
        }

        var set = await region.CreateSnapshotsAsync(new CreateSnapshotsRequest("i-set", ImmutableSortedDictionary<string, string>.Empty));

        Assert.Equal(3, set.Length);
        Assert.Single(set.Select(s => s.StartTime).Distinct());
    }

    /// <summary>A clock a millisecond later at every read.</summary>
    private sealed class TickingClock(DateTimeOffset start) : TimeProvider
    {
        private long reads;

        public override DateTimeOffset GetUtcNow() => start.AddMilliseconds(Interlocked.Increment(ref reads));
    }

    [Fact]
    public async Task CreateSnapshot_ManyAtOnce_CommitsEachWithItsTags_AndEveryOneHoldsItsVolume()
    {
        // Concurrent creates share commits (group commit) and builds take turns: each must still be its own snapshot.
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volumes = new List<(string Id, byte[] Content)>();
        for (var i = 0; i < 40; i++)
        {
            var volume = await region.CreateVolumeAsync("a", 2L * Block, LocalProviderFixture.NoTags);
            var content = RandomBytes(2 * Block, 100 + i);
            await region.WriteAsync(volume.Id, 0, content);
            volumes.Add((volume.Id, content));
        }

        var started = await Task.WhenAll(volumes.Select((v, i) => Task.Run(() => region.CreateSnapshotAsync(new CreateSnapshotRequest(
            v.Id, ImmutableSortedDictionary<string, string>.Empty.Add("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture)))))));

        var listed = await region.DescribeSnapshotsAsync();
        Assert.Equal(started.Select(s => s.Id).Order(), listed.Select(s => s.Id).Order());
        foreach (var (snapshot, i) in started.Select((s, i) => (s, i)))
        {
            Assert.Equal(SnapshotState.Completed, (await region.WaitForSnapshotAsync(snapshot.Id)).State);
            var described = Assert.Single(await region.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshot.Id] }));
            Assert.Equal((volumes[i].Id, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), (described.VolumeId, described.Tags["n"]));
            Assert.Equal(volumes[i].Content, await ReadSnapshotAsync(region, snapshot.Id, 2L * Block));
        }
    }

    [Fact]
    public async Task Snapshot_HoldsTheContentAtItsStart_WhenTheVolumeIsOverwrittenWhilePending()
    {
        var release = new TaskCompletionSource();
        await using var f = new LocalProviderFixture(o => o.BeforeSnapshotBuild = _ => release.Task);
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var before = RandomBytes(8 * Block, 1);
        await region.WriteAsync(volume.Id, 0, before);

        var pending = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, LocalProviderFixture.NoTags));
        var after = RandomBytes(8 * Block, 2);
        try
        {
            Assert.Equal(SnapshotState.Pending, pending.State);
            await region.WriteAsync(volume.Id, 3, after.AsMemory(0, 5 * Block));
            await Assert.ThrowsAsync<ProviderException>(() => region.DeleteSnapshotAsync(pending.Id));
        }
        finally
        {
            release.SetResult(); // a failed assertion must not leave the build waiting (Dispose waits for it)
        }

        Assert.Equal(SnapshotState.Completed, (await region.WaitForSnapshotAsync(pending.Id)).State);
        Assert.Equal(before, await ReadSnapshotAsync(region, pending.Id, 8L * Block));
        var now = new byte[8 * Block];
        await region.ReadAsync(volume.Id, 0, now);
        Assert.Equal(after.AsSpan(0, 5 * Block).ToArray(), now.AsSpan(3, 5 * Block).ToArray());
    }

    [Fact]
    public async Task AWriteToTheBlockASnapshotIsReading_WaitsUntilTheBlockIsStored_AndTheSnapshotHoldsTheContentAtItsStart()
    {
        // Deterministic form of the race below: the write to block 5 starts while the build reads that block from the
        // mapped image; it must wait (else the bytes hashed could differ from the bytes stored), and land afterwards.
        LocalRegion? region = null;
        string? volumeId = null;
        Task? write = null;
        var writeWaited = false;
        var overwritten = RandomBytes(Block, 22);
        await using var f = new LocalProviderFixture(o => o.BeforeImageRead = async (_, index) =>
        {
            if (index == 5)
            {
                write = region!.WriteAsync(volumeId!, 5L * Block + 100, overwritten.AsMemory(0, 4096));
                await Task.Delay(200);
                writeWaited = !write.IsCompleted;
            }
        });
        region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        volumeId = volume.Id;
        var before = RandomBytes(8 * Block, 21);
        await region.WriteAsync(volume.Id, 0, before);

        var snapshot = await SnapshotAsync(region, volume.Id);
        await write!;

        Assert.True(writeWaited, "the write to the block being read went ahead of the read");
        Assert.Equal(SnapshotState.Completed, snapshot.State);
        var content = await ReadSnapshotAsync(region, snapshot.Id, 8L * Block);
        Assert.True(before.AsSpan().SequenceEqual(content), "the snapshot holds a write made after its start");
        var now = new byte[4096];
        await region.ReadAsync(volume.Id, 5L * Block + 100, now);
        Assert.Equal(overwritten.AsSpan(0, 4096).ToArray(), now);
    }

    [Fact]
    public async Task Snapshot_HoldsTheContentAtItsStart_WhileAWriterHammersTheBlocksItIsReading()
    {
        // The build reads the image outside the volume gate; writes racing those reads (torn reads) must be
        // replaced by the writer's capture. Many rounds of a writer overwriting random ranges during the build.
        const int Blocks = 256;
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", (long)Blocks * Block, LocalProviderFixture.NoTags);
        var shadow = RandomBytes(Blocks * Block, 7);
        await region.WriteAsync(volume.Id, 0, shadow);
        var random = new Random(11);
        for (var round = 0; round < 6; round++)
        {
            var expected = shadow.ToArray();
            var started = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, LocalProviderFixture.NoTags));
            var writes = 0;
            while (writes < 40 || region.Describe(started.Id).State == SnapshotState.Pending)
            {
                var length = random.Next(1, 64 * 1024);
                var offset = random.Next(0, Blocks * Block - length);
                var data = RandomBytes(length, random.Next());
                await region.WriteAsync(volume.Id, offset, data);
                data.CopyTo(shadow, offset);
                writes++;
            }

            Assert.Equal(SnapshotState.Completed, (await region.WaitForSnapshotAsync(started.Id)).State);
            var content = await ReadSnapshotAsync(region, started.Id, (long)Blocks * Block);
            Assert.True(expected.AsSpan().SequenceEqual(content), $"round {round}: the snapshot differs from the content at its start");
        }

        var now = new byte[Blocks * Block];
        await region.ReadAsync(volume.Id, 0, now);
        Assert.True(shadow.AsSpan().SequenceEqual(now), "the volume lost a write");
    }

    [Fact]
    public async Task IncrementalSnapshot_ReadsAndStoresOnlyTheChangedBlocks()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 32L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(32 * Block, 3));
        var full = await SnapshotAsync(region, volume.Id);
        Assert.Equal(32, region.BlocksReadBy(full.Id));
        Assert.True(full.StoredBytes >= 32L * Block);

        await region.WriteAsync(volume.Id, 5L * Block + 10, RandomBytes(100, 4));
        await region.WriteAsync(volume.Id, 20L * Block, RandomBytes(Block, 5));
        var incremental = await SnapshotAsync(region, volume.Id);

        Assert.Equal(2, region.BlocksReadBy(incremental.Id));
        Assert.InRange(incremental.StoredBytes!.Value, 2L * Block, 2L * Block + 4096);
        Assert.Equal(32L * Block, incremental.FullSizeBytes);
        var content = new byte[32 * Block];
        await region.ReadAsync(volume.Id, 0, content);
        Assert.Equal(content, await ReadSnapshotAsync(region, incremental.Id, 32L * Block));
    }

    [Fact]
    public async Task ChangedBlockMap_SurvivesACleanReopen_SoTheNextSnapshotIsStillIncremental()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.Local.CreateVolumeAsync("a", 16L * Block, LocalProviderFixture.NoTags);
        await f.Local.WriteAsync(volume.Id, 0, RandomBytes(16 * Block, 6));
        await SnapshotAsync(f.Local, volume.Id);
        await f.Local.WriteAsync(volume.Id, 7L * Block, RandomBytes(10, 7));
        f.Reopen();

        var next = await SnapshotAsync(f.Local, volume.Id);
        Assert.Equal(1, f.Local.BlocksReadBy(next.Id));
    }

    [Fact]
    public async Task ImageChangedBehindTheEnginesBack_IsDetected_AndTheNextSnapshotHashesEveryBlock()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.Local.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var content = RandomBytes(8 * Block, 42);
        await f.Local.WriteAsync(volume.Id, 0, content);
        await SnapshotAsync(f.Local, volume.Id);
        var image = Path.Combine(f.Local.Directory, "volumes", volume.Id + ".img");

        f.Reopen(() =>
        {
            using var stream = new FileStream(image, FileMode.Open, FileAccess.Write);
            stream.Position = 6L * Block + 7;
            stream.Write([1, 2, 3]);
            File.SetLastWriteTimeUtc(image, DateTime.UnixEpoch.AddDays(20000));
        });
        content[6 * Block + 7] = 1;
        content[6 * Block + 8] = 2;
        content[6 * Block + 9] = 3;
        var next = await SnapshotAsync(f.Local, volume.Id);

        Assert.Equal(8, f.Local.BlocksReadBy(next.Id));
        Assert.InRange(next.StoredBytes!.Value, Block, Block + 4096);
        Assert.Equal(content, await ReadSnapshotAsync(f.Local, next.Id, 8L * Block));
    }

    [Fact]
    public async Task ImportedVolume_IsHashedInFull_ButStoresOnlyNewBlocks()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 16L * Block, LocalProviderFixture.NoTags);
        var image = RandomBytes(16 * Block, 8);
        await region.WriteAsync(volume.Id, 0, image);
        await SnapshotAsync(region, volume.Id);

        image[3 * Block] ^= 0xff;
        var file = Path.Combine(f.Root, "image.raw");
        await File.WriteAllBytesAsync(file, image);
        await region.ImportVolumeAsync(volume.Id, file);
        var after = await SnapshotAsync(region, volume.Id);

        Assert.Equal(16, region.BlocksReadBy(after.Id));
        Assert.InRange(after.StoredBytes!.Value, Block, Block + 4096);
        Assert.Equal(image, await ReadSnapshotAsync(region, after.Id, 16L * Block));
    }

    [Fact]
    public async Task ZeroAndDuplicateBlocks_AreNotStoredTwice()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var a = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var b = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var block = RandomBytes(Block, 9);
        await region.WriteAsync(a.Id, 0, block);
        await region.WriteAsync(a.Id, 4L * Block, block);
        await region.WriteAsync(b.Id, 2L * Block, block);

        var first = await SnapshotAsync(region, a.Id);
        var second = await SnapshotAsync(region, b.Id);
        Assert.InRange(first.StoredBytes!.Value, Block, Block + 4096);
        Assert.Equal(0, second.StoredBytes);
        Assert.Equal(2L * Block, first.FullSizeBytes);
    }

    [Fact]
    public async Task CompressibleBlocks_AreStoredCompressed()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 40000).Select(i => $"line {i % 977} status=ok\n")));
        await region.WriteAsync(volume.Id, 0, text.AsMemory(0, Block));
        var snapshot = await SnapshotAsync(region, volume.Id);
        Assert.True(snapshot.StoredBytes < Block / 4, $"stored {snapshot.StoredBytes}");
        Assert.Equal(text.AsSpan(0, Block).ToArray(), (await ReadSnapshotAsync(region, snapshot.Id, 4L * Block)).AsSpan(0, Block).ToArray());
    }

    [Fact]
    public async Task EncryptedSnapshots_KeepNoPlaintext_UseKeyScopedIds_AndReEncryptOnCopy()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var marker = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("SECRET-PAYLOAD-", 40000)));
        var plain = await region.CreateVolumeAsync("a", 2L * Block, LocalProviderFixture.NoTags);
        var secret = await region.CreateVolumeAsync("a", 2L * Block, LocalProviderFixture.NoTags, encrypted: true);
        await region.WriteAsync(plain.Id, 0, marker.AsMemory(0, Block));
        await region.WriteAsync(secret.Id, 0, marker.AsMemory(0, Block));

        var plainSnapshot = await SnapshotAsync(region, plain.Id);
        var secretSnapshot = await SnapshotAsync(region, secret.Id);
        Assert.True(secretSnapshot.Encrypted);
        Assert.Equal("key-a", secretSnapshot.KeyId);
        Assert.True(secretSnapshot.StoredBytes > 0, "the same plaintext under a key is a different block");

        var copy = await f.Engine.Region(f.OtherRegion).CopySnapshotAsync(new CopySnapshotRequest(f.Region, secretSnapshot.Id, LocalProviderFixture.NoTags, KeyId: "key-b"));
        var copied = await f.Engine.Region(f.OtherRegion).WaitForSnapshotAsync(copy.Id);
        Assert.Equal("key-b", copied.KeyId);
        var encryptedCopy = await f.Engine.Region(f.OtherRegion).CopySnapshotAsync(new CopySnapshotRequest(f.Region, plainSnapshot.Id, LocalProviderFixture.NoTags, Encrypted: true));
        Assert.True((await f.Engine.Region(f.OtherRegion).WaitForSnapshotAsync(encryptedCopy.Id)).Encrypted);
        Assert.Equal(marker.AsSpan(0, Block).ToArray(), (await ReadSnapshotAsync(f.Engine.Region(f.OtherRegion), copy.Id, 2L * Block)).AsSpan(0, Block).ToArray());

        var encryptedPacks = Directory.EnumerateFiles(Path.Combine(f.Engine.Region(f.OtherRegion).Directory, "packs")).Select(File.ReadAllBytes).ToList();
        Assert.All(encryptedPacks, pack => Assert.Equal(-1, pack.AsSpan().IndexOf("SECRET-PAYLOAD"u8)));
        Assert.True((await f.Engine.Region(f.OtherRegion).VerifyAsync()).Ok);
    }

    [Fact]
    public async Task CopyToAnotherRegion_SendsOnlyBlocksTheTargetLacks()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var target = f.Engine.Region(f.OtherRegion);
        var volume = await region.CreateVolumeAsync("a", 16L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(16 * Block, 10));
        var first = await SnapshotAsync(region, volume.Id);
        var firstCopy = await target.WaitForSnapshotAsync((await target.CopySnapshotAsync(new CopySnapshotRequest(f.Region, first.Id, LocalProviderFixture.NoTags))).Id);
        await region.WriteAsync(volume.Id, 9L * Block, RandomBytes(Block, 11));
        var second = await SnapshotAsync(region, volume.Id);

        var secondCopy = await target.WaitForSnapshotAsync((await target.CopySnapshotAsync(new CopySnapshotRequest(f.Region, second.Id, LocalProviderFixture.NoTags))).Id);
        Assert.True(firstCopy.StoredBytes >= 16L * Block);
        Assert.InRange(secondCopy.StoredBytes!.Value, 1, Block + 4096);
        var volumeNow = new byte[16 * Block];
        await region.ReadAsync(volume.Id, 0, volumeNow);
        Assert.Equal(volumeNow, await ReadSnapshotAsync(target, secondCopy.Id, 16L * Block));
    }

    [Fact]
    public async Task DeletingASnapshot_KeepsBlocksSharedWithOthers_AndGcRemovesTheRest()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 16L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(16 * Block, 12));
        var first = await SnapshotAsync(region, volume.Id);
        var firstContent = await ReadSnapshotAsync(region, first.Id, 16L * Block);
        await region.WriteAsync(volume.Id, 0, RandomBytes(4 * Block, 13));
        var second = await SnapshotAsync(region, volume.Id);
        var secondContent = await ReadSnapshotAsync(region, second.Id, 16L * Block);

        await region.DeleteSnapshotAsync(first.Id);
        var gc = await region.CollectGarbageAsync();
        Assert.Equal(4, gc.BlocksRemoved);
        Assert.Equal(secondContent, await ReadSnapshotAsync(region, second.Id, 16L * Block));
        var report = await region.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Errors));
        Assert.Equal(0, report.UnreferencedBlocks);
        Assert.NotEqual(firstContent, secondContent);

        await region.DeleteSnapshotAsync(second.Id);
        var last = await region.CollectGarbageAsync();
        Assert.Equal(16, last.BlocksRemoved);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(region.Directory, "packs")));
    }

    [Fact]
    public async Task Gc_MergesSmallPacks_AndEverythingStillReadsBack()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var snapshots = new List<(string Id, byte[] Content)>();
        for (var i = 0; i < 5; i++)
        {
            await region.WriteAsync(volume.Id, (long)i * Block, RandomBytes(Block, 20 + i));
            var s = await SnapshotAsync(region, volume.Id);
            snapshots.Add((s.Id, await ReadSnapshotAsync(region, s.Id, 8L * Block)));
        }

        var gc = await region.CollectGarbageAsync();
        Assert.Equal(5, gc.PacksRepacked);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(region.Directory, "packs")));
        foreach (var (id, content) in snapshots)
        {
            Assert.Equal(content, await ReadSnapshotAsync(region, id, 8L * Block));
        }

        Assert.True((await region.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task Verify_ReportsADamagedBlock()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(4 * Block, 30));
        await SnapshotAsync(region, volume.Id);
        var pack = Directory.EnumerateFiles(Path.Combine(region.Directory, "packs")).Single();
        using (var stream = new FileStream(pack, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 1000;
            var b = stream.ReadByte();
            stream.Position = 1000;
            stream.WriteByte((byte)(b ^ 0x55));
        }

        var report = await region.VerifyAsync();
        Assert.False(report.Ok);
        Assert.Contains(report.Errors, e => e.Contains("does not match its id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task VolumeFromSnapshot_LoadsBlocksOnFirstRead_OrUpFrontWithFastRestore()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        var content = RandomBytes(8 * Block, 31);
        await region.WriteAsync(volume.Id, 0, content);
        var snapshot = await SnapshotAsync(region, volume.Id);

        var lazy = await region.CreateVolumeAsync(new CreateVolumeRequest(snapshot.Id, "a", LocalProviderFixture.NoTags));
        Assert.True(region.IsHydrating(lazy.Id));
        await region.DeleteSnapshotAsync(snapshot.Id);
        await region.CollectGarbageAsync();
        await region.WriteAsync(lazy.Id, 100, new byte[] { 1, 2, 3 });
        content[100] = 1;
        content[101] = 2;
        content[102] = 3;
        var read = new byte[8 * Block];
        await region.ReadAsync(lazy.Id, 0, read);
        Assert.Equal(content, read);
        Assert.False(region.IsHydrating(lazy.Id));
        var ofLazy = await SnapshotAsync(region, lazy.Id);
        Assert.Equal(8, region.BlocksReadBy(ofLazy.Id)); // its base snapshot was deleted: full hashing

        await region.EnableFastSnapshotRestoresAsync(ofLazy.Id, ["b"]);
        f.Advance(TimeSpan.FromHours(1));
        var hydrated = await region.CreateVolumeAsync(new CreateVolumeRequest(ofLazy.Id, "b", LocalProviderFixture.NoTags));
        Assert.False(region.IsHydrating(hydrated.Id));
        await region.ReadAsync(hydrated.Id, 0, read);
        Assert.Equal(content, read);
        await region.WriteAsync(hydrated.Id, 5L * Block, new byte[] { 9 });
        var ofHydrated = await SnapshotAsync(region, hydrated.Id);
        Assert.Equal(1, region.BlocksReadBy(ofHydrated.Id)); // incremental against the snapshot it was created from
        Assert.True((await region.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task ArchivedSnapshot_IsSelfContained_AndRestoresExactly()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(8 * Block, 32));
        var snapshot = await SnapshotAsync(region, volume.Id);
        var content = await ReadSnapshotAsync(region, snapshot.Id, 8L * Block);
        await region.ArchiveSnapshotAsync(snapshot.Id);
        await region.WriteAsync(volume.Id, 0, RandomBytes(8 * Block, 33));
        var other = await SnapshotAsync(region, volume.Id);
        await region.DeleteSnapshotAsync(other.Id);

        var gc = await region.CollectGarbageAsync();
        Assert.Equal(16, gc.BlocksRemoved); // the other snapshot's 8, and the archived one's 8 standard-tier blocks
        await Assert.ThrowsAsync<ProviderException>(() => region.ReadSnapshotAsync(snapshot.Id, 0, new byte[10]));
        await region.RestoreSnapshotTierAsync(snapshot.Id, null);
        Assert.Equal(content, await ReadSnapshotAsync(region, snapshot.Id, 8L * Block));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(region.Directory, "archive")));
        Assert.True((await region.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task EncryptedSnapshot_RestoredFromTheArchive_StaysEncryptedAndVerifies()
    {
        await using var f = new LocalProviderFixture();
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags, encrypted: true);
        await region.WriteAsync(volume.Id, 0, RandomBytes(4 * Block, 34));
        var snapshot = await SnapshotAsync(region, volume.Id);
        var content = await ReadSnapshotAsync(region, snapshot.Id, 4L * Block);
        await region.ArchiveSnapshotAsync(snapshot.Id);
        await region.CollectGarbageAsync();

        await region.RestoreSnapshotTierAsync(snapshot.Id, 1);
        var report = await region.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Errors));
        Assert.Equal(content, await ReadSnapshotAsync(region, snapshot.Id, 4L * Block));
    }

    [Fact]
    public async Task Gc_WhileAnIncrementalIsPending_KeepsTheBlocksItTakesFromItsDeletedBase()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateArmed = false;
        await using var f = new LocalProviderFixture(o => o.BeforeSnapshotBuild = _ => gateArmed ? release.Task : Task.CompletedTask);
        var region = f.Local;
        var volume = await region.CreateVolumeAsync("a", 8L * Block, LocalProviderFixture.NoTags);
        await region.WriteAsync(volume.Id, 0, RandomBytes(8 * Block, 40));
        var baseSnapshot = await SnapshotAsync(region, volume.Id);
        await region.WriteAsync(volume.Id, 0, RandomBytes(10, 41));
        var expected = new byte[8 * Block];
        await region.ReadAsync(volume.Id, 0, expected);

        gateArmed = true;
        var pending = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, LocalProviderFixture.NoTags));
        GcReport whilePending;
        try
        {
            await region.DeleteSnapshotAsync(baseSnapshot.Id);
            whilePending = await region.CollectGarbageAsync();
        }
        finally
        {
            release.SetResult();
        }

        Assert.Equal(0, whilePending.BlocksRemoved); // the pending incremental pins its whole base manifest
        Assert.Equal(SnapshotState.Completed, (await region.WaitForSnapshotAsync(pending.Id)).State);
        Assert.Equal(1, region.BlocksReadBy(pending.Id));
        Assert.Equal(expected, await ReadSnapshotAsync(region, pending.Id, 8L * Block));
        Assert.Equal(1, (await region.CollectGarbageAsync()).BlocksRemoved); // the base's old block 0
        Assert.True((await region.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task DescribeSnapshots_AfterReopen_ShowsTheSameSnapshots()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.Local.CreateVolumeAsync("a", 4L * Block, LocalProviderFixture.NoTags);
        var s = await SnapshotAsync(f.Local, volume.Id, ("k", "v"));
        f.Reopen();
        var again = Assert.Single(await f.Local.DescribeSnapshotsAsync());
        Assert.Equal((s.Id, "v", SnapshotState.Completed), (again.Id, again.Tags["k"], again.State));
    }
}
