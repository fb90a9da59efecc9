using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// Model-based property test: seeded random sequences of writes (random, zero and duplicated blocks), snapshots
/// (often left pending while the volume keeps changing), deletes, copies (with and without re-encryption), archives,
/// tier restores, volumes created from snapshots, clock moves, reopens and GCs. A model keeps every volume's
/// expected content; every remaining snapshot must read back exactly the content its volume had at its start.
/// </summary>
public sealed class SnapshotPropertyTests
{
    private const int Block = LocalRegion.BlockSize;

    private sealed class Model
    {
        public Dictionary<(string Region, string Volume), byte[]> Volumes { get; } = [];

        public Dictionary<(string Region, string Snapshot), byte[]> Snapshots { get; } = [];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task EverySnapshot_ReadsBackTheVolumeContentAtItsStart(int seed)
    {
        // builds start a little late, so the writes that follow a snapshot often hit blocks it has not read yet
        await using var f = new LocalProviderFixture(o => o.BeforeSnapshotBuild = _ => Task.Delay(Random.Shared.Next(0, 40)));
        var random = new Random(seed);
        var model = new Model();
        string[] regions = [f.Region, f.OtherRegion];
        var tags = ImmutableSortedDictionary<string, string>.Empty;
        var sharedBlock = RandomBlock(random);

        async Task NewVolumeAsync()
        {
            var region = regions[random.Next(2)];
            var blocks = random.Next(8, 17);
            var volume = await f.Engine.Region(region).CreateVolumeAsync("z", (long)blocks * Block, tags, encrypted: random.Next(4) == 0);
            model.Volumes[(region, volume.Id)] = new byte[blocks * Block];
        }

        await NewVolumeAsync();
        await NewVolumeAsync();
        for (var step = 0; step < 70; step++)
        {
            var op = random.Next(100);
            if (op < 35)
            {
                var ((region, volumeId), content) = Pick(random, model.Volumes);
                var offset = random.Next(content.Length - 1);
                var length = Math.Min(content.Length - offset, random.Next(1, 2 * Block));
                var data = (random.Next(4)) switch
                {
                    0 => new byte[length],
                    1 => sharedBlock.AsSpan(0, Math.Min(length, Block)).ToArray(),
                    _ => RandomBytes(random, length),
                };
                await f.Engine.Region(region).WriteAsync(volumeId, offset, data);
                data.CopyTo(content, offset);
            }
            else if (op < 55)
            {
                var ((region, volumeId), content) = Pick(random, model.Volumes);
                var snapshot = await f.Engine.Region(region).CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, tags));
                model.Snapshots[(region, snapshot.Id)] = (byte[])content.Clone();
                if (random.Next(2) == 0)
                {
                    await f.Engine.Region(region).WaitForSnapshotAsync(snapshot.Id);
                }
            }
            else if (op < 62 && model.Snapshots.Count > 0)
            {
                var ((region, snapshotId), _) = Pick(random, model.Snapshots);
                try
                {
                    await f.Engine.Region(region).DeleteSnapshotAsync(snapshotId, force: random.Next(2) == 0);
                    model.Snapshots.Remove((region, snapshotId));
                }
                catch (ProviderException e) when (e.Kind == ProviderErrorKind.IncorrectState)
                {
                    // pending, in use, or archived less than 90 days ago without force
                }
            }
            else if (op < 70 && TryPickCompleted(f, random, model, out var source))
            {
                var target = regions[random.Next(2)];
                var reEncrypt = random.Next(3) == 0;
                try
                {
                    var copy = await f.Engine.Region(target).CopySnapshotAsync(new CopySnapshotRequest(source.Region, source.Snapshot, tags,
                        Encrypted: reEncrypt, KeyId: reEncrypt ? "key-b" : null));
                    model.Snapshots[(target, copy.Id)] = model.Snapshots[source];
                }
                catch (ProviderException e) when (e.Kind == ProviderErrorKind.IncorrectState)
                {
                    // archived meanwhile
                }
            }
            else if (op < 76 && TryPickCompleted(f, random, model, out var toArchive))
            {
                try
                {
                    await f.Engine.Region(toArchive.Region).ArchiveSnapshotAsync(toArchive.Snapshot);
                }
                catch (ProviderException e) when (e.Kind == ProviderErrorKind.IncorrectState)
                {
                    // in use by a running copy
                }
            }
            else if (op < 81 && model.Snapshots.Count > 0)
            {
                var ((region, snapshotId), _) = Pick(random, model.Snapshots);
                var info = (await f.Engine.Region(region).DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] })).Single();
                if (info.Tier == StorageTier.Archive)
                {
                    await f.Engine.Region(region).RestoreSnapshotTierAsync(snapshotId, random.Next(2) == 0 ? null : random.Next(1, 3));
                }
            }
            else if (op < 86 && TryPickCompleted(f, random, model, out var from))
            {
                var volume = await f.Engine.Region(from.Region).CreateVolumeAsync(new CreateVolumeRequest(from.Snapshot, "z", tags));
                model.Volumes[(from.Region, volume.Id)] = (byte[])model.Snapshots[from].Clone();
            }
            else if (op < 91)
            {
                await f.Engine.Region(regions[random.Next(2)]).CollectGarbageAsync();
            }
            else if (op < 95)
            {
                f.Advance(TimeSpan.FromHours(random.Next(1, 72)));
            }
            else if (op < 97)
            {
                f.Reopen();
            }
            else
            {
                await NewVolumeAsync();
            }
        }

        foreach (var region in regions)
        {
            await f.Engine.Region(region).WaitForBackgroundWorkAsync();
        }

        foreach (var ((region, volumeId), content) in model.Volumes)
        {
            var actual = new byte[content.Length];
            await f.Engine.Region(region).ReadAsync(volumeId, 0, actual);
            Assert.True(content.AsSpan().SequenceEqual(actual), $"seed {seed}: volume {volumeId} differs from the model");
        }

        foreach (var region in regions)
        {
            await f.Engine.Region(region).CollectGarbageAsync();
            var report = await f.Engine.Region(region).VerifyAsync();
            Assert.True(report.Ok, $"seed {seed}, {region}: {string.Join("\n", report.Errors)}");
            Assert.Equal(0, report.UnreferencedBlocks);
        }

        foreach (var ((region, snapshotId), expected) in model.Snapshots)
        {
            var provider = f.Engine.Region(region);
            var info = (await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] })).Single();
            Assert.Equal(SnapshotState.Completed, info.State);
            if (info.Tier == StorageTier.Archive)
            {
                await provider.RestoreSnapshotTierAsync(snapshotId, null);
            }

            var actual = new byte[expected.Length];
            await provider.ReadSnapshotAsync(snapshotId, 0, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"seed {seed}: snapshot {snapshotId} in {region} differs from its volume at its start");
        }
    }

    private static bool TryPickCompleted(LocalProviderFixture f, Random random, Model model, out (string Region, string Snapshot) picked)
    {
        picked = default;
        if (model.Snapshots.Count == 0)
        {
            return false;
        }

        var ((region, snapshotId), _) = Pick(random, model.Snapshots);
        var info = f.Engine.Region(region).DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }).GetAwaiter().GetResult().Single();
        if (info.State != SnapshotState.Completed || info.Tier != StorageTier.Standard)
        {
            return false;
        }

        picked = (region, snapshotId);
        return true;
    }

    private static KeyValuePair<TKey, TValue> Pick<TKey, TValue>(Random random, Dictionary<TKey, TValue> items) where TKey : notnull =>
        items.OrderBy(i => i.Key.ToString(), StringComparer.Ordinal).ElementAt(random.Next(items.Count));

    private static byte[] RandomBlock(Random random) => RandomBytes(random, Block);

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
