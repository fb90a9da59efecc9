using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Dapper;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine;

public sealed partial class LocalRegion
{
    /// <summary>Packs whose live bytes fall under this share are rewritten by GC.</summary>
    private const double RepackBelowLiveShare = 0.6;

    /// <summary>Packs smaller than this are merged by GC when there are several.</summary>
    private const long SmallPack = 8L * 1024 * 1024;

    /// <summary>Manifests that keep standard-tier blocks alive: every snapshot not only in the archive, and volumes still loading.</summary>
    private List<byte[]> LiveManifestBlobs() => _catalog.Read(c =>
        c.Query<byte[]>("SELECT m.blob FROM manifests m JOIN snapshots s ON s.id = m.snapshot_id WHERE s.tier IN ('standard', 'archiving', 'restored')")
            .Concat(c.Query<byte[]>("SELECT source_manifest FROM volumes WHERE hydrating = 1 AND source_manifest IS NOT NULL"))
            .ToList());

    /// <summary>
    /// Removes blocks no snapshot or loading volume references, rewrites sparse and small packs, deletes files the
    /// catalog does not know, purges expired recycle-bin entries and re-archives expired temporary restores. Safe
    /// while snapshots are being created: their pinned blocks and unpublished packs are left alone.
    /// </summary>
    public async Task<GcReport> CollectGarbageAsync(CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        await _gcGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var purged = await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
            int removed;
            long reclaimed = 0;
            lock (_store.Gate)
            {
                var live = new HashSet<BlockId>();
                foreach (var blob in LiveManifestBlobs())
                {
                    live.UnionWith(Manifest.FromBlob(blob).NonZero);
                }

                // Out of the index first (a create pinning one of these now finds it absent and reads the volume), then
                // out of the catalog; back into the index if that fails.
                var dead = _store.RemoveDeadUnderGate(live);
                try
                {
                    _catalog.Write((c, tx) =>
                    {
                        foreach (var (id, _) in dead)
                        {
                            c.Execute("DELETE FROM blocks WHERE id=@id", new { id = id.ToArray() }, tx);
                        }
                    });
                }
                catch
                {
                    _store.AddCommittedUnderGate(dead);
                    throw;
                }

                reclaimed = dead.Sum(d => (long)d.Location.Length + PackFile.HeaderSize);
                removed = dead.Count;
            }

            var (repacked, deleted) = Repack(cancellationToken);
            var orphans = RemoveOrphanPacks();
            return new GcReport(removed, reclaimed, repacked, deleted, orphans, purged, stopwatch.Elapsed);
        }
        finally
        {
            _gcGate.Release();
        }
    }

    private (int Repacked, int Deleted) Repack(CancellationToken cancellationToken)
    {
        // A pack is registered when a writer starts it but published (renamed from its temp name) only once sealed;
        // one still being written or sealed belongs to a running snapshot or copy, and GC leaves it alone.
        var packs = _catalog.Read(c => c.Query<(string Id, long Size)>("SELECT id, size FROM packs WHERE store='standard'").ToList())
            .Where(p => File.Exists(PackFile.PathOf(PackDirectory, p.Id)))
            .ToList();
        Dictionary<string, List<(BlockId Id, BlockLocation Location)>> byPack;
        lock (_store.Gate)
        {
            byPack = _store.IndexUnderGate.GroupBy(e => e.Value.PackId, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(e => (e.Key, e.Value)).ToList(), StringComparer.Ordinal);
        }

        var empty = packs.Where(p => !byPack.ContainsKey(p.Id)).Select(p => p.Id).ToList();
        var sparse = packs.Where(p => byPack.TryGetValue(p.Id, out var entries)
            && entries.Sum(e => (long)e.Location.Length + PackFile.HeaderSize) < p.Size * RepackBelowLiveShare).Select(p => p.Id).ToList();
        var small = packs.Where(p => byPack.ContainsKey(p.Id) && p.Size < SmallPack && !sparse.Contains(p.Id)).Select(p => p.Id).ToList();
        var rewrite = sparse.Concat(small.Count > 1 ? small : []).ToList();
        if (rewrite.Count == 1 && sparse.Count == 0)
        {
            rewrite.Clear();
        }

        var moved = new List<(BlockId Id, string OldPack, BlockLocation Location)>();
        IReadOnlyList<(string Id, long Size)> newPacks = [];
        if (rewrite.Count > 0)
        {
            var writer = new PackWriter(PackDirectory, _store.StartPack);
            var payload = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
            try
            {
                foreach (var packId in rewrite)
                {
                    foreach (var (id, location) in byPack[packId])
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        PackFile.ReadPayload(PackDirectory, location, payload);
                        moved.Add((id, packId, writer.Append(id, location.Encoding, location.KeyId, payload.AsSpan(0, location.Length))));
                    }
                }

                newPacks = writer.Finish();
            }
            catch
            {
                writer.Abandon();
                _store.EndPacks(writer.Finish().Select(p => p.Id));
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(payload);
                writer.Dispose();
            }
        }

        var retired = empty.Concat(rewrite).ToList();
        if (retired.Count == 0)
        {
            return (0, 0);
        }

        lock (_store.Gate)
        {
            _catalog.Write((c, tx) =>
            {
                foreach (var (packId, size) in newPacks)
                {
                    c.Execute("INSERT INTO packs(id, store, size) VALUES (@packId, 'standard', @size)", new { packId, size }, tx);
                }

                foreach (var (id, oldPack, location) in moved)
                {
                    c.Execute("UPDATE blocks SET pack_id=@pack, offset=@offset WHERE id=@id AND pack_id=@oldPack",
                        new { id = id.ToArray(), pack = location.PackId, offset = location.Offset, oldPack }, tx);
                }

                foreach (var packId in retired)
                {
                    c.Execute("DELETE FROM packs WHERE id=@packId", new { packId }, tx);
                }
            });
            foreach (var (id, oldPack, location) in moved)
            {
                _store.MoveUnderGate(id, oldPack, location);
            }

            _store.EndPacks(newPacks.Select(p => p.Id));
        }

        foreach (var packId in retired)
        {
            DurableFile.Delete(PackFile.PathOf(PackDirectory, packId));
        }

        return (rewrite.Count, retired.Count);
    }

    private int RemoveOrphanPacks()
    {
        var known = PackIds();
        Options.BeforeOrphanSweep?.Invoke();
        var candidates = new List<string>();
        foreach (var directory in new[] { PackDirectory, ArchiveDirectory })
        {
            candidates.AddRange(System.IO.Directory.EnumerateFiles(directory).Where(file => !IsKept(file, known)));
        }

        if (candidates.Count == 0)
        {
            return 0;
        }

        // Decided again under the store gate with a fresh pack list: a writer registers its pack (StartPack) before it
        // creates the file, records the pack in the catalog, and only then releases it (EndPacks), each under this gate.
        // So here a candidate is in flight, recorded since the first read (a snapshot that committed meanwhile: deleting
        // its pack lost it), or an orphan.
        var removed = 0;
        lock (_store.Gate)
        {
            var recorded = PackIds();
            foreach (var file in candidates.Where(file => !IsKept(file, recorded)))
            {
                File.Delete(file);
                removed++;
            }
        }

        return removed;

        HashSet<string> PackIds() => _catalog.Read(c => c.Query<string>("SELECT id FROM packs").ToHashSet(StringComparer.Ordinal));

        bool IsKept(string file, HashSet<string> packs)
        {
            var name = Path.GetFileName(file);
            var packId = name.Split('.')[0];
            return _store.IsInFlight(packId) || (name.EndsWith(PackFile.Extension, StringComparison.Ordinal) && packs.Contains(packId));
        }
    }

    /// <summary>
    /// Checks the region independently of the writer: every manifest's blocks exist (in the standard store, or in the
    /// snapshot's archive copy), every pack exists with its recorded size, and a share
    /// (<paramref name="readDataSubset"/>, 0..1) of stored blocks is read back, decrypted, decompressed and re-hashed.
    /// Unreferenced blocks and unknown files are counted (GC removes them), not errors.
    /// </summary>
    public async Task<VerifyReport> VerifyAsync(double readDataSubset = 1.0, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var errors = new ConcurrentBag<string>();
        await _gcGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<BlockId, BlockLocation> index;
            List<SnapshotRow> snapshots;
            Dictionary<string, byte[]> manifests;
            List<byte[]> liveBlobs;
            HashSet<BlockId> pinned;
            lock (_store.Gate)
            {
                index = new Dictionary<BlockId, BlockLocation>(_store.IndexUnderGate);
                pinned = _store.PinnedNow();
                snapshots = _catalog.Read(c => c.Query<SnapshotRow>("SELECT * FROM snapshots").ToList());
                manifests = _catalog.Read(c => c.Query<(string Id, byte[] Blob)>("SELECT snapshot_id, blob FROM manifests").ToDictionary(m => m.Id, m => m.Blob, StringComparer.Ordinal));
                liveBlobs = LiveManifestBlobs();
            }

            var archived = _catalog.Read(c => c.Query<(string SnapshotId, byte[] Id)>("SELECT snapshot_id, id FROM archive_blocks").ToList())
                .GroupBy(a => a.SnapshotId, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(a => BlockId.Read(a.Id)).ToHashSet(), StringComparer.Ordinal);
            long referenced = 0;
            foreach (var row in snapshots)
            {
                if (row.State != CatalogValues.Completed)
                {
                    if (manifests.ContainsKey(row.Id))
                    {
                        errors.Add($"snapshot {row.Id} is {row.State} but has a manifest");
                    }

                    continue;
                }

                if (!manifests.TryGetValue(row.Id, out var blob))
                {
                    errors.Add($"snapshot {row.Id} is completed but has no manifest");
                    continue;
                }

                var manifest = Manifest.FromBlob(blob);
                if ((long)manifest.Count * BlockSize != row.VolumeSizeBytes)
                {
                    errors.Add($"snapshot {row.Id}: manifest has {manifest.Count} blocks for a volume of {row.VolumeSizeBytes} bytes");
                }

                var inStandard = row.Tier is CatalogValues.Standard or CatalogValues.Archiving or CatalogValues.Restored;
                var inArchive = row.Tier is CatalogValues.Archived or CatalogValues.Restored;
                for (var i = 0; i < manifest.Count; i++)
                {
                    var id = manifest.Blocks[i];
                    if (id.IsZero)
                    {
                        continue;
                    }

                    referenced++;
                    if (inStandard && !index.ContainsKey(id))
                    {
                        errors.Add($"snapshot {row.Id}: block {i} ({id}) is missing from the store");
                    }

                    if (inArchive && !(archived.TryGetValue(row.Id, out var copy) && copy.Contains(id)))
                    {
                        errors.Add($"snapshot {row.Id}: block {i} ({id}) is missing from its archive copy");
                    }
                }
            }

            var live = new HashSet<BlockId>(pinned);
            foreach (var blob in liveBlobs)
            {
                live.UnionWith(Manifest.FromBlob(blob).NonZero);
            }

            foreach (var id in live.Where(id => !index.ContainsKey(id) && !pinned.Contains(id)))
            {
                errors.Add($"block {id} is referenced by a loading volume but missing from the store");
            }

            var unreferenced = index.Keys.Count(id => !live.Contains(id));
            var packs = _catalog.Read(c => c.Query<(string Id, string Store, long Size)>("SELECT id, store, size FROM packs").ToList());
            var packSizes = packs.ToDictionary(p => p.Id, StringComparer.Ordinal);
            foreach (var (packId, store, size) in packs)
            {
                var file = new FileInfo(PackFile.PathOf(store == CatalogValues.ArchiveStore ? ArchiveDirectory : PackDirectory, packId));
                if (!file.Exists)
                {
                    errors.Add($"pack {packId} ({store}) is missing");
                }
                else if (file.Length != size)
                {
                    errors.Add($"pack {packId} ({store}) has {file.Length} bytes, the catalog says {size}");
                }
            }

            foreach (var (id, location) in index)
            {
                if (!packSizes.TryGetValue(location.PackId, out var pack) || location.Offset + location.Length > pack.Size)
                {
                    errors.Add($"block {id} points outside the known packs ({location.PackId}@{location.Offset})");
                }
            }

            var orphans = new[] { PackDirectory, ArchiveDirectory }.SelectMany(System.IO.Directory.EnumerateFiles)
                .Count(f => !packSizes.ContainsKey(Path.GetFileName(f).Split('.')[0]) && !_store.IsInFlight(Path.GetFileName(f).Split('.')[0]));

            // data: re-hash a share of the standard blocks and of the archive copies
            var subset = Math.Clamp(readDataSubset, 0, 1);
            var toCheck = index.Where(e => Sample(e.Key, subset)).Select(e => (e.Key, e.Value, Archive: false))
                .Concat(_catalog.Read(c => c.Query<BlockRow>("SELECT id, pack_id, offset, length, encoding, key_id FROM archive_blocks").ToList())
                    .Select(r => (Key: BlockId.Read(r.Id), Value: new BlockLocation(r.PackId, r.Offset, r.Length, (BlockEncoding)r.Encoding, r.KeyId), Archive: true))
                    .Where(e => Sample(e.Key, subset)))
                .ToList();
            long checkedBlocks = 0, checkedBytes = 0;
            await Parallel.ForEachAsync(toCheck, new ParallelOptions { MaxDegreeOfParallelism = Options.Parallelism, CancellationToken = cancellationToken }, (entry, _) =>
            {
                var record = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize + PackFile.HeaderSize);
                var scratch = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
                var block = ArrayPool<byte>.Shared.Rent(BlockSize);
                try
                {
                    var key = entry.Value.KeyId is null ? null : Keys.Get(entry.Value.KeyId);
                    // the record header must name the block too, so a restore (which trusts it) would find the same
                    var payload = PackFile.ReadRecord(entry.Archive ? ArchiveDirectory : PackDirectory, entry.Key, entry.Value, record);
                    BlockCodec.Decode(payload, entry.Value.Encoding, entry.Key, key, block.AsSpan(0, BlockSize), scratch);
                    if (BlockCodec.ComputeId(block.AsSpan(0, BlockSize), key) != entry.Key)
                    {
                        errors.Add($"block {entry.Key} in {(entry.Archive ? "archive " : "")}pack {entry.Value.PackId} does not match its id");
                    }
                }
                catch (Exception e) when (e is InvalidDataException or IOException or Core.Providers.ProviderException)
                {
                    errors.Add($"block {entry.Key} in {(entry.Archive ? "archive " : "")}pack {entry.Value.PackId}: {e.Message}");
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(record);
                    ArrayPool<byte>.Shared.Return(scratch);
                    ArrayPool<byte>.Shared.Return(block);
                }

                Interlocked.Increment(ref checkedBlocks);
                var total = Interlocked.Add(ref checkedBytes, BlockSize);
                progress?.Report(total);
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);

            return new VerifyReport(Region, snapshots.Count, manifests.Count, referenced, checkedBlocks, checkedBytes, unreferenced, orphans,
                [.. errors.Order(StringComparer.Ordinal)], stopwatch.Elapsed);
        }
        finally
        {
            _gcGate.Release();
        }
    }

    /// <summary>Deterministic sample: a block is checked when its id's leading bits fall under the share.</summary>
    private static bool Sample(BlockId id, double share) => share >= 1 || (id.A / (double)ulong.MaxValue) < share;
}
