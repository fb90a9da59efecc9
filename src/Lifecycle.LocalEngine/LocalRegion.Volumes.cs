using System.Buffers;
using System.Collections.Immutable;
using Dapper;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;
using Microsoft.Win32.SafeHandles;

namespace Lifecycle.LocalEngine;

public sealed partial class LocalRegion
{
    /// <summary>The engine's block size (the EBS direct-API block size); volume sizes are multiples of it.</summary>
    public const int BlockSize = BlockCodec.BlockSize;

    private string ImagePath(string volumeId) => Path.Combine(VolumeDirectory, volumeId + ".img");

    private VolumeRuntime LoadVolume(VolumeRow row)
    {
        var volume = new VolumeRuntime(row.Id, row.SizeBytes, ImagePath(row.Id),
            Path.Combine(VolumeDirectory, row.Id + ".cbt"), Path.Combine(VolumeDirectory, row.Id + ".hyd"));
        var map = ChangedBlockFile.TryRead(volume.ChangedBlockPath, volume.BlockCount);
        var image = new FileInfo(volume.ImagePath);
        if (map is not null && map.Clean && image.Exists && image.Length == map.ImageLength && image.LastWriteTimeUtc.Ticks == map.ImageWriteTicks)
        {
            volume.Trusted = true;
            volume.ChangedSinceBase = map.Changed;
            volume.BaseSnapshotId = map.BaseSnapshotId;
        }

        if (volume.BaseSnapshotId is not null)
        {
            var baseRow = FindSnapshotRow(volume.BaseSnapshotId);
            volume.BaseSequence = baseRow?.Seq ?? -1;
        }

        if (row.Hydrating && row.SourceManifest is not null)
        {
            volume.SourceManifest = Manifest.FromBlob(row.SourceManifest);
            volume.SourceKeyId = row.KeyId;
            volume.Hydrated = File.Exists(volume.HydrationPath)
                ? BlockBitmap.FromBytes(volume.BlockCount, File.ReadAllBytes(volume.HydrationPath))
                : new BlockBitmap(volume.BlockCount);
        }

        return volume;
    }

    private void PersistCleanMap(VolumeRuntime volume)
    {
        if (!volume.DirtyMarkerWritten && volume.Trusted && File.Exists(volume.ChangedBlockPath))
        {
            var existing = ChangedBlockFile.TryRead(volume.ChangedBlockPath, volume.BlockCount);
            if (existing is not null && existing.Clean && existing.BaseSnapshotId == volume.BaseSnapshotId)
            {
                return; // nothing changed in this process
            }
        }

        if (!volume.Trusted)
        {
            return; // keep "not trusted" on disk: the next snapshot re-hashes
        }

        volume.CloseImage();
        var image = new FileInfo(volume.ImagePath);
        if (!image.Exists)
        {
            return;
        }

        new ChangedBlockFile(true, volume.BaseSnapshotId, image.Length, image.LastWriteTimeUtc.Ticks, volume.ChangedSinceBase).Write(volume.ChangedBlockPath);
    }

    /// <summary>True when the volume exists (from memory: no catalog read).</summary>
    public bool HasVolume(string volumeId) => _volumes.TryGetValue(volumeId, out var volume) && !volume.Deleted;

    private VolumeRuntime RequireVolume(string volumeId)
    {
        if (_volumes.TryGetValue(volumeId, out var volume) && !volume.Deleted)
        {
            return volume;
        }

        throw ProviderException.NotFound("InvalidVolume.NotFound", $"volume '{volumeId}' does not exist in region {Region}");
    }

    private VolumeRow RequireVolumeRow(string volumeId) =>
        _catalog.Read(c => c.QuerySingleOrDefault<VolumeRow>("SELECT * FROM volumes WHERE id=@volumeId", new { volumeId }))
        ?? throw ProviderException.NotFound("InvalidVolume.NotFound", $"volume '{volumeId}' does not exist in region {Region}");

    private VolumeInfo ToInfo(VolumeRow row, ImmutableSortedDictionary<string, string> tags) => new()
    {
        Id = row.Id,
        Region = Region,
        Zone = row.Zone,
        SizeGiB = GiB(row.SizeBytes),
        State = row.InstanceId is null ? VolumeState.Available : VolumeState.InUse,
        Tags = tags,
        InstanceId = row.InstanceId,
        Device = row.Device,
        IsBoot = row.IsBoot,
        Encrypted = row.Encrypted,
        KeyId = row.KeyId,
        SnapshotId = row.SourceSnapshot,
    };

    /// <summary>Size of a volume in bytes (VolumeInfo only carries GiB).</summary>
    public long VolumeSizeBytes(string volumeId) => RequireVolume(volumeId).SizeBytes;

    public Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default)
    {
        // The filter's tags narrow the read in SQL (tags_by_key_value), so a policy's read of its 50 volumes does not
        // read a region's 1,000 volumes and their tags; TagsMatch below keeps the filter's exact semantics in one place.
        var rows = _catalog.Read(c =>
        {
            var (where, parameters) = VolumeWhere(c, filter);
            return c.Query<VolumeRow>($"SELECT * FROM volumes v WHERE {where} ORDER BY created_at, id", parameters).ToList();
        });
        // The volumes' tags only: the snapshots' tags (many times more rows in a region that keeps history) are not read.
        var tags = TagsOfIds(rows.Select(r => r.Id));
        return Task.FromResult(rows
            .Select(r => ToInfo(r, tags.GetValueOrDefault(r.Id) ?? ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal)))
            .Where(v => TagsMatch(v.Tags, filter))
            .ToImmutableArray());
    }

    /// <summary>
    /// The condition on <c>volumes v</c> that a tag filter selects (each key, with one of its values when it names any).
    /// The condition fewest tags match drives the read (a policy's targets <c>bench: "true", group: "3"</c> read the 50
    /// volumes of its group, not the 1,000 of the other tag: 8 ms per read in a fire of bench scheduler --retained 100,
    /// 0.49 -> 0.08 ms warm on a copy of its catalog); the others are one seek of the tag's primary key per volume.
    /// </summary>
    private (string Where, DynamicParameters Parameters) VolumeWhere(Microsoft.Data.Sqlite.SqliteConnection connection, TagFilter? filter)
    {
        var sql = new System.Text.StringBuilder("1=1");
        var parameters = new DynamicParameters();
        // More values than can be bound: the key in SQL, the values in memory (TagsMatch).
        var tags = (filter?.Tags ?? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty)
            .Select(t => new KeyValuePair<string, ImmutableArray<string>>(t.Key, t.Value.IsDefaultOrEmpty || t.Value.Length > MaxBoundIds ? [] : t.Value))
            .ToList();
        var driver = tags.Count <= 1 ? 0 : FewestMatches(connection, tags).Index;
        AppendTagConditions(sql, parameters, tags, driver, "v.id");
        return (sql.ToString(), parameters);
    }

    /// <summary>The condition a volume read by <paramref name="filter"/> uses (tests check which of its tags drives it).</summary>
    internal string VolumeQueryCondition(TagFilter filter) => _catalog.Read(c => VolumeWhere(c, filter).Where);

    /// <summary>One volume with its tags, or null when it does not exist (two indexed reads, whatever the region holds).</summary>
    public Task<VolumeInfo?> DescribeVolumeAsync(string volumeId, CancellationToken cancellationToken = default)
    {
        var row = _catalog.Read(c => c.QuerySingleOrDefault<VolumeRow>("SELECT * FROM volumes WHERE id=@volumeId", new { volumeId }));
        return Task.FromResult(row is null ? null : ToInfo(row, TagsOf(row.Id)));
    }

    /// <summary>Creates an empty (sparse, all-zero) volume. Size must be a positive multiple of 512 KiB.</summary>
    public Task<VolumeInfo> CreateVolumeAsync(string zone, long sizeBytes, IReadOnlyDictionary<string, string> tags, bool encrypted = false,
        string? keyId = null, CancellationToken cancellationToken = default)
    {
        if (sizeBytes <= 0 || sizeBytes % BlockSize != 0)
        {
            throw ProviderException.InvalidParameter($"volume size {sizeBytes} must be a positive multiple of {BlockSize} bytes");
        }

        if (string.IsNullOrWhiteSpace(zone))
        {
            throw ProviderException.InvalidParameter("a volume needs an availability zone");
        }

        var key = encrypted || keyId is not null ? Keys.Resolve(keyId) : null;
        var id = NewId("vol-");
        CreateImage(id, sizeBytes);
        var row = new VolumeRow { Id = id, Zone = zone, SizeBytes = sizeBytes, Encrypted = key is not null, KeyId = key?.Id, CreatedAt = NowMs };
        InsertVolume(row, tags);
        return Task.FromResult(ToInfo(row, TagsOf(id)));
    }

    private void CreateImage(string volumeId, long sizeBytes)
    {
        var path = ImagePath(volumeId);
        using (var handle = File.OpenHandle(path + DurableFile.TempSuffix, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            try
            {
                RandomAccess.SetLength(handle, sizeBytes);
            }
            catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
            {
                // Sizing a sparse file allocates nothing, so a refusal is the file system's cap on one file (EFBIG, which
                // .NET reports as ArgumentOutOfRangeException; ext4 with 4 KiB blocks holds just under 16 TiB): a limit
                // of the request, not a fault of the engine.
                handle.Dispose();
                File.Delete(path + DurableFile.TempSuffix);
                throw new ProviderException(ProviderErrorKind.LimitExceeded, "VolumeLimitExceeded",
                    $"a volume of {sizeBytes} bytes is larger than the engine's file system holds in one image file ({e.Message})", e);
            }

            RandomAccess.FlushToDisk(handle);
        }

        DurableFile.Publish(path + DurableFile.TempSuffix, path);
    }

    private void InsertVolume(VolumeRow row, IReadOnlyDictionary<string, string> tags)
    {
        _catalog.Write((c, tx) =>
        {
            c.Execute("""
                INSERT INTO volumes(id, zone, size_bytes, encrypted, key_id, instance_id, device, is_boot, source_snapshot, source_manifest, hydrating, created_at)
                VALUES (@Id, @Zone, @SizeBytes, @Encrypted, @KeyId, @InstanceId, @Device, @IsBoot, @SourceSnapshot, @SourceManifest, @Hydrating, @CreatedAt)
                """, row, tx);
            WriteTags(c, tx, row.Id, tags);
        });
        _volumes[row.Id] = LoadVolume(row);
    }

    /// <summary>Attaches a volume to an instance id (for instance-targeted policies); re-attaching moves it.</summary>
    public Task AttachVolumeAsync(string volumeId, string instanceId, string device, bool isBoot, CancellationToken cancellationToken = default)
    {
        RequireVolume(volumeId);
        _catalog.Write((c, tx) => c.Execute("UPDATE volumes SET instance_id=@instanceId, device=@device, is_boot=@isBoot WHERE id=@volumeId",
            new { volumeId, instanceId, device, isBoot }, tx));
        return Task.CompletedTask;
    }

    public Task DetachVolumeAsync(string volumeId, CancellationToken cancellationToken = default)
    {
        RequireVolume(volumeId);
        _catalog.Write((c, tx) => c.Execute("UPDATE volumes SET instance_id=NULL, device=NULL, is_boot=0 WHERE id=@volumeId", new { volumeId }, tx));
        return Task.CompletedTask;
    }

    /// <summary>Deletes a volume and its image. Missing is success; IncorrectState while one of its snapshots is pending.</summary>
    public async Task DeleteVolumeAsync(string volumeId, CancellationToken cancellationToken = default)
    {
        if (!_volumes.TryGetValue(volumeId, out var volume) || volume.Deleted)
        {
            return;
        }

        await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (volume.Sessions.Count > 0)
            {
                throw ProviderException.IncorrectState("IncorrectState", $"volume '{volumeId}' has a pending snapshot");
            }

            _catalog.Write((c, tx) =>
            {
                c.Execute("DELETE FROM volumes WHERE id=@volumeId", new { volumeId }, tx);
                c.Execute("DELETE FROM tags WHERE resource_id=@volumeId", new { volumeId }, tx);
            });
            volume.Deleted = true;
            volume.CloseImage();
            DurableFile.Delete(volume.ImagePath);
            DurableFile.Delete(volume.ChangedBlockPath);
            DurableFile.Delete(volume.HydrationPath);
        }
        finally
        {
            volume.Gate.Release();
        }

        _volumes.TryRemove(volumeId, out _);
    }

    /// <summary>
    /// Writes at any offset. Durable when it returns (the image is flushed). Blocks a pending snapshot has not read
    /// yet are copied first (copy-before-write); a block a snapshot is reading from the image at that moment is
    /// waited for (one block's hashing and encoding); the changed-block map records the blocks.
    /// </summary>
    public async Task WriteAsync(string volumeId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var volume = RequireVolume(volumeId);
        if (offset < 0 || offset + data.Length > volume.SizeBytes)
        {
            throw ProviderException.InvalidParameter($"write of {data.Length} bytes at {offset} is outside volume '{volumeId}' ({volume.SizeBytes} bytes)");
        }

        if (data.IsEmpty)
        {
            return;
        }

        var first = (int)(offset / BlockSize);
        var last = (int)((offset + data.Length - 1) / BlockSize);
        while (true)
        {
            await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (volume.ReadsInProgress(first, last) is not { } reading)
            {
                break; // holding the gate
            }

            volume.Gate.Release();
            await reading.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            MarkDirty(volume);
            List<int>? loading = null;
            for (var index = first; index <= last; index++)
            {
                CopyBeforeWrite(volume, index);
                if (volume.Hydrated is not null && !volume.Hydrated[index])
                {
                    var blockStart = (long)index * BlockSize;
                    if (offset > blockStart || offset + data.Length < blockStart + BlockSize)
                    {
                        HydrateBlock(volume, index); // the part this write leaves keeps the source snapshot's content
                    }

                    (loading ??= []).Add(index);
                }

                volume.ChangedSinceBase[index] = true;
                foreach (var pending in volume.ChangedSincePending.Values)
                {
                    pending[index] = true;
                }
            }

            // Blocks this write loads are marked loaded only once the write is on disk, with one update of the map:
            // marked first, a crash in between would leave a block loaded but holding neither its old content nor
            // the new (a hole where the write replaces it whole). Unmarked, it still reads its source's content.
            Options.VolumeWriteStep?.Invoke("before-image-write");
            WriteImage(volume.Image, data.Span, offset);
            RandomAccess.FlushToDisk(volume.Image);
            Options.VolumeWriteStep?.Invoke("after-image-write");
            if (loading is not null)
            {
                foreach (var index in loading)
                {
                    volume.Hydrated![index] = true;
                }

                PersistHydration(volume);
            }
        }
        finally
        {
            volume.Gate.Release();
        }
    }

    /// <summary>Before the first image write of this process the on-disk map is marked "not clean" (see ChangedBlockFile).</summary>
    private static void MarkDirty(VolumeRuntime volume)
    {
        if (volume.DirtyMarkerWritten)
        {
            return;
        }

        new ChangedBlockFile(false, volume.BaseSnapshotId, 0, 0, volume.ChangedSinceBase).Write(volume.ChangedBlockPath);
        volume.DirtyMarkerWritten = true;
    }

    private void CopyBeforeWrite(VolumeRuntime volume, int index)
    {
        byte[]? original = null;
        foreach (var session in volume.Sessions)
        {
            if (session.Unread[index] && !session.Captured.ContainsKey(index))
            {
                if (original is null)
                {
                    original = new byte[BlockSize];
                    ReadCurrentBlock(volume, index, original);
                }

                session.Captured[index] = original;
            }
        }
    }

    /// <summary>The block's current content: from the image, or from the source snapshot if not loaded yet.</summary>
    private void ReadCurrentBlock(VolumeRuntime volume, int index, Span<byte> block)
    {
        if (volume.Hydrated is not null && !volume.Hydrated[index])
        {
            var id = index < volume.SourceManifest!.Count ? volume.SourceManifest.Blocks[index] : BlockId.Zero;
            if (id.IsZero)
            {
                block.Clear();
            }
            else
            {
                _store.ReadBlock(id, volume.SourceKeyId is null ? null : Keys.Get(volume.SourceKeyId), block, verify: true);
            }

            return;
        }

        volume.ReadImageBlock(index, block);
    }

    /// <summary>
    /// Writes to an image, punching a hole instead for each whole block the write sets to zeros (images are sparse,
    /// <see cref="SparseImage"/>); other parts are written as they are. Durable once the caller flushes the image.
    /// </summary>
    private static void WriteImage(SafeFileHandle image, ReadOnlySpan<byte> data, long offset)
    {
        var runStart = 0;
        var runZero = false;
        for (var at = 0; at < data.Length;)
        {
            var length = Math.Min(data.Length - at, BlockSize - (int)((offset + at) % BlockSize));
            var zero = length == BlockSize && BlockCodec.IsZero(data.Slice(at, length));
            if (at > runStart && zero != runZero)
            {
                WriteRun(image, data[runStart..at], offset + runStart, runZero);
                runStart = at;
            }

            runZero = zero;
            at += length;
        }

        WriteRun(image, data[runStart..], offset + runStart, runZero);

        static void WriteRun(SafeFileHandle image, ReadOnlySpan<byte> run, long offset, bool zero)
        {
            if (!zero || !SparseImage.TryPunchHole(image, offset, run.Length))
            {
                RandomAccess.Write(image, run, offset);
            }
        }
    }

    private void HydrateBlock(VolumeRuntime volume, int index)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var block = buffer.AsSpan(0, BlockSize);
            ReadCurrentBlock(volume, index, block);
            if (!BlockCodec.IsZero(block))
            {
                RandomAccess.Write(volume.Image, block, (long)index * BlockSize);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void PersistHydration(VolumeRuntime volume)
    {
        if (volume.Hydrated!.IsFull)
        {
            var volumeId = volume.Id;
            _catalog.Write((c, tx) => c.Execute("UPDATE volumes SET hydrating=0, source_manifest=NULL WHERE id=@volumeId", new { volumeId }, tx));
            volume.Hydrated = null;
            volume.SourceManifest = null;
            DurableFile.Delete(volume.HydrationPath);
            return;
        }

        DurableFile.WriteAllBytes(volume.HydrationPath, volume.Hydrated.ToBytes());
    }

    /// <summary>Reads at any offset; returns the bytes read (short at the end of the volume). Loads lazy blocks on first read.</summary>
    public async Task<int> ReadAsync(string volumeId, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var volume = RequireVolume(volumeId);
        if (offset < 0)
        {
            throw ProviderException.InvalidParameter("offset must not be negative");
        }

        var length = (int)Math.Min(buffer.Length, Math.Max(0, volume.SizeBytes - offset));
        if (length == 0)
        {
            return 0;
        }

        await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (volume.Hydrated is not null)
            {
                var changed = false;
                for (var index = (int)(offset / BlockSize); index <= (int)((offset + length - 1) / BlockSize); index++)
                {
                    if (!volume.Hydrated[index])
                    {
                        HydrateBlock(volume, index);
                        volume.Hydrated[index] = true;
                        changed = true;
                    }
                }

                if (changed)
                {
                    RandomAccess.FlushToDisk(volume.Image);
                    PersistHydration(volume);
                }
            }

            var done = 0;
            while (done < length)
            {
                var n = RandomAccess.Read(volume.Image, buffer.Span[done..length], offset + done);
                if (n == 0)
                {
                    buffer.Span[done..length].Clear();
                    break;
                }

                done += n;
            }

            return length;
        }
        finally
        {
            volume.Gate.Release();
        }
    }

    /// <summary>True while a volume created from a snapshot still loads blocks on first read.</summary>
    public bool IsHydrating(string volumeId) => RequireVolume(volumeId).Hydrated is not null;

    /// <summary>
    /// Replaces a volume's content with a raw image file (shorter files leave the rest zero). This bypasses the
    /// changed-block map, so the next snapshot hashes every block (still storing only blocks the store lacks).
    /// </summary>
    public async Task ImportVolumeAsync(string volumeId, string sourcePath, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var volume = RequireVolume(volumeId);
        var length = new FileInfo(sourcePath).Length;
        if (length > volume.SizeBytes)
        {
            throw ProviderException.InvalidParameter($"{sourcePath} ({length} bytes) is larger than volume '{volumeId}' ({volume.SizeBytes} bytes)");
        }

        await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (volume.Sessions.Count > 0)
            {
                throw ProviderException.IncorrectState("IncorrectState", $"volume '{volumeId}' has a pending snapshot");
            }

            MarkDirty(volume);
            volume.Trusted = false;

            var buffer = new byte[BlockSize];
            using var source = File.OpenHandle(sourcePath, FileMode.Open, FileAccess.Read);
            for (var index = 0; index < volume.BlockCount; index++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long position = (long)index * BlockSize;
                var read = position < length ? RandomAccess.Read(source, buffer, position) : 0;
                while (read < BlockSize && position + read < length)
                {
                    var n = RandomAccess.Read(source, buffer.AsSpan(read), position + read);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                buffer.AsSpan(read).Clear();
                WriteImage(volume.Image, buffer, position);
                progress?.Report(position + BlockSize);
            }

            RandomAccess.FlushToDisk(volume.Image);

            // a volume still loading from its source is marked loaded only now that the whole image is on disk: a
            // crash during the import leaves it reading its old content, not holes taken for loaded blocks
            if (volume.Hydrated is not null)
            {
                for (var i = 0; i < volume.BlockCount; i++)
                {
                    volume.Hydrated[i] = true;
                }

                PersistHydration(volume);
            }
        }
        finally
        {
            volume.Gate.Release();
        }
    }

    /// <summary>Writes the volume's content to a raw (sparse) image file, atomically.</summary>
    public async Task ExportVolumeAsync(string volumeId, string targetPath, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var volume = RequireVolume(volumeId);
        var temp = targetPath + DurableFile.TempSuffix;
        using (var target = File.OpenHandle(temp, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.SetLength(target, volume.SizeBytes);
            var buffer = new byte[BlockSize];
            for (var index = 0; index < volume.BlockCount; index++)
            {
                await ReadAsync(volumeId, (long)index * BlockSize, buffer, cancellationToken).ConfigureAwait(false);
                if (!BlockCodec.IsZero(buffer))
                {
                    RandomAccess.Write(target, buffer, (long)index * BlockSize);
                }

                progress?.Report((long)(index + 1) * BlockSize);
            }

            RandomAccess.FlushToDisk(target);
        }

        DurableFile.Publish(temp, targetPath);
    }
}
