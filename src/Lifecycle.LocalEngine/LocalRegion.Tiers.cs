using System.Buffers;
using System.Collections.Immutable;
using Dapper;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;

namespace Lifecycle.LocalEngine;

public sealed partial class LocalRegion
{
    // ---- archive tier ----

    /// <summary>
    /// Moves a completed standard-tier snapshot to the archive: a full, self-contained copy of its blocks is written to
    /// the archive store (state archiving), then its standard-tier references are released (archived). Returns when
    /// archived. IncorrectState for pending, failed, in-use, already archived or fast-restore-enabled snapshots.
    /// </summary>
    public async Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var row = RequireSnapshot(snapshotId);
        if (row.State != CatalogValues.Completed || row.Tier != CatalogValues.Standard)
        {
            throw ProviderException.IncorrectState("IncorrectState", $"snapshot '{snapshotId}' is {row.State}/{row.Tier}; only completed standard-tier snapshots can be archived");
        }

        if (IsLeased(snapshotId))
        {
            throw ProviderException.IncorrectState("InvalidSnapshot.InUse", $"snapshot '{snapshotId}' is in use");
        }

        if (FastRestoreOf(snapshotId).Values.Any(s => s != FastRestoreState.Disabled))
        {
            throw ProviderException.IncorrectState("IncorrectState", $"snapshot '{snapshotId}' has fast snapshot restore enabled; disable it first");
        }

        using var lease = AcquireSnapshotLease(snapshotId);
        _catalog.Write((c, tx) => c.Execute("UPDATE snapshots SET tier='archiving' WHERE id=@snapshotId", new { snapshotId }, tx));
        var writer = new PackWriter(ArchiveDirectory, _store.StartPack);
        try
        {
            var entries = new List<(BlockId Id, BlockLocation Location)>();
            var payload = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
            try
            {
                foreach (var id in LoadManifest(snapshotId).NonZero.Distinct())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var (location, length) = _store.ReadPayload(id, payload);
                    entries.Add((id, writer.Append(id, location.Encoding, location.KeyId, payload.AsSpan(0, length))));
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(payload);
            }

            var packs = writer.Finish();
            var now = NowMs;
            _catalog.Write((c, tx) =>
            {
                foreach (var (packId, size) in packs)
                {
                    c.Execute("INSERT INTO packs(id, store, size, snapshot_id) VALUES (@packId, 'archive', @size, @snapshotId)", new { packId, size, snapshotId }, tx);
                }

                foreach (var (id, location) in entries)
                {
                    c.Execute("INSERT INTO archive_blocks(snapshot_id, id, pack_id, offset, length, encoding, key_id) VALUES (@snapshotId, @id, @pack, @offset, @length, @encoding, @key)",
                        new { snapshotId, id = id.ToArray(), pack = location.PackId, offset = location.Offset, length = location.Length, encoding = (int)location.Encoding, key = location.KeyId }, tx);
                }

                c.Execute("UPDATE snapshots SET tier='archived', archived_at=@now, restore_expiry=NULL WHERE id=@snapshotId", new { now, snapshotId }, tx);
            });
            _store.EndPacks(packs.Select(p => p.Id));
        }
        catch
        {
            writer.Abandon();
            _catalog.Write((c, tx) => c.Execute("UPDATE snapshots SET tier='standard' WHERE id=@snapshotId AND tier='archiving'", new { snapshotId }, tx));
            throw;
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>
    /// Brings an archived snapshot back to the standard tier: for <paramref name="days"/> days (then it is archived
    /// again automatically; calling again changes the period), or permanently when null (the archive copy is removed).
    /// </summary>
    public async Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        if (days is < 1 or > 180)
        {
            throw ProviderException.InvalidParameter($"temporary restore days must be 1..180, not {days}");
        }

        var row = RequireSnapshot(snapshotId);
        if (row.Tier is not (CatalogValues.Archived or CatalogValues.Restored))
        {
            throw ProviderException.IncorrectState("IncorrectState", $"snapshot '{snapshotId}' is not in the archive tier");
        }

        using var lease = AcquireSnapshotLease(snapshotId);
        var archived = _catalog.Read(c => c.Query<BlockRow>("SELECT id, pack_id, offset, length, encoding, key_id FROM archive_blocks WHERE snapshot_id=@snapshotId", new { snapshotId }).ToList());
        using var ingest = new BlockIngest(_store, null);
        var payload = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
        try
        {
            foreach (var block in archived)
            {
                var id = BlockId.Read(block.Id);
                if (ingest.Claim(id))
                {
                    var location = new BlockLocation(block.PackId, block.Offset, block.Length, (BlockEncoding)block.Encoding, block.KeyId);
                    PackFile.ReadPayload(ArchiveDirectory, location, payload);
                    ingest.AddClaimedEncoded(id, location.Encoding, location.KeyId, payload.AsSpan(0, location.Length));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }

        var archivePacks = _catalog.Read(c => c.Query<string>("SELECT id FROM packs WHERE store='archive' AND snapshot_id=@snapshotId", new { snapshotId }).ToList());
        long? expiry = days is { } d ? NowMs + (long)TimeSpan.FromDays(d).TotalMilliseconds : null;
        ingest.Commit(_catalog, (c, tx) =>
        {
            if (expiry is null)
            {
                c.Execute("UPDATE snapshots SET tier='standard', archived_at=NULL, restore_expiry=NULL WHERE id=@snapshotId", new { snapshotId }, tx);
                c.Execute("DELETE FROM archive_blocks WHERE snapshot_id=@snapshotId", new { snapshotId }, tx);
                c.Execute("DELETE FROM packs WHERE store='archive' AND snapshot_id=@snapshotId", new { snapshotId }, tx);
            }
            else
            {
                c.Execute("UPDATE snapshots SET tier='restored', restore_expiry=@expiry WHERE id=@snapshotId", new { snapshotId, expiry }, tx);
            }
        });
        if (expiry is not null)
        {
            ClockInstantWritten();
        }

        if (expiry is null)
        {
            foreach (var pack in archivePacks)
            {
                DurableFile.Delete(PackFile.PathOf(ArchiveDirectory, pack));
            }
        }
    }

    /// <summary>Is anything due? Walks the partial deadline indexes (catalog schema 3), never the snapshots.</summary>
    private const string ClockDueSql =
        "SELECT (SELECT count(*) FROM snapshots WHERE restore_expiry IS NOT NULL AND restore_expiry <= @now AND tier='restored')"
        + " + (SELECT count(*) FROM snapshots WHERE recycle_exit IS NOT NULL AND recycle_exit <= @now)"
        + " + (SELECT count(*) FROM fast_restore WHERE disabled_at IS NOT NULL AND disabled_at <= @disabledBefore)";

    /// <summary>SQLite's plan for the clock's due check (a test checks it scans no table).</summary>
    internal IReadOnlyList<string> ExplainClockCheck() =>
        _catalog.Read(c => c.Query<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + ClockDueSql, new { now = 0L, disabledBefore = 0L })
            .Select(r => r.Detail).ToList());

    /// <summary>
    /// Applies what elapsed time decides (time from the engine's TimeProvider only): temporary restores past their
    /// expiry go back to the archive, recycle-bin entries past their period are purged, finished fast-restore
    /// disables are forgotten.
    /// </summary>
    public Task<int> ApplyClockAsync(CancellationToken cancellationToken = default)
    {
        var now = NowMs;
        // Nothing is due before the earliest instant the catalog holds (kept in memory; every write that sets one
        // forgets it): a describe then costs no catalog read at all, and 1,000 creates' token lookups at one fire
        // do not each read it.
        if (now < Volatile.Read(ref _clockNextDue))
        {
            return Task.FromResult(0);
        }

        long version;
        lock (_clockLock)
        {
            version = _clockVersion;
        }

        var disabledBefore = now - (long)Options.FastRestoreDisablingTime.TotalMilliseconds;
        // a read first: describing snapshots must not cost a durable write when nothing is due
        var due = _catalog.Read(c => c.ExecuteScalar<long>(ClockDueSql, new { now, disabledBefore }));
        if (due == 0)
        {
            RememberClockNextDue(version);
            return Task.FromResult(0);
        }

        var rearchived = _catalog.Write((c, tx) =>
            c.Execute("UPDATE snapshots SET tier='archived', restore_expiry=NULL WHERE tier='restored' AND restore_expiry <= @now", new { now }, tx));
        var expired = _catalog.Read(c => c.Query<string>("SELECT id FROM snapshots WHERE recycle_exit IS NOT NULL AND recycle_exit <= @now", new { now }).ToList());
        foreach (var id in expired)
        {
            PurgeSnapshot(id);
        }

        _catalog.Write((c, tx) => c.Execute("DELETE FROM fast_restore WHERE disabled_at IS NOT NULL AND disabled_at <= @disabledBefore", new { disabledBefore }, tx));
        RememberClockNextDue(version);
        return Task.FromResult(rearchived + expired.Count);
    }

    /// <summary>The earliest catalog instant (ms) at which <see cref="ApplyClockAsync"/> has work; <see cref="long.MinValue"/>: unknown.</summary>
    private long _clockNextDue = long.MinValue;

    /// <summary>Counts the writes that set a clock instant, so a next-due read that raced one is not kept.</summary>
    private long _clockVersion;

    private readonly Lock _clockLock = new();

    private const string ClockNextDueSql =
        "SELECT min(t) FROM (SELECT min(restore_expiry) AS t FROM snapshots WHERE restore_expiry IS NOT NULL AND tier='restored'"
        + " UNION ALL SELECT min(recycle_exit) FROM snapshots WHERE recycle_exit IS NOT NULL"
        + " UNION ALL SELECT min(disabled_at) + @disabling FROM fast_restore WHERE disabled_at IS NOT NULL)";

    /// <summary>Reads and keeps the next due instant, unless a clock write happened since <paramref name="version"/>.</summary>
    private void RememberClockNextDue(long version)
    {
        var disabling = (long)Options.FastRestoreDisablingTime.TotalMilliseconds;
        var next = _catalog.Read(c => c.ExecuteScalar<long?>(ClockNextDueSql, new { disabling })) ?? long.MaxValue;
        lock (_clockLock)
        {
            if (_clockVersion == version)
            {
                Volatile.Write(ref _clockNextDue, next);
            }
        }
    }

    /// <summary>Call after a write that sets a restore expiry, a recycle-bin exit or a fast-restore disable: the next due instant is read again.</summary>
    private void ClockInstantWritten()
    {
        lock (_clockLock)
        {
            _clockVersion++;
            Volatile.Write(ref _clockNextDue, long.MinValue);
        }
    }

    // ---- recycle bin ----

    private IEnumerable<RecycleBinRule> StoredRecycleRules() =>
        _catalog.Read(c => c.Query<RecycleRuleRow>("SELECT * FROM recycle_rules").ToList())
            .Select(r => new RecycleBinRule(r.Days, r.TagKey, r.TagValue));

    /// <summary>Adds a recycle-bin retention rule stored in this region (1–365 days; no tag key = every snapshot).</summary>
    public Task<string> CreateRecycleBinRuleAsync(RecycleBinRule rule, CancellationToken cancellationToken = default)
    {
        if (rule.RetentionDays is < 1 or > 365)
        {
            throw ProviderException.InvalidParameter($"recycle-bin retention must be 1..365 days, not {rule.RetentionDays}");
        }

        var id = NewId("rr-");
        _catalog.Write((c, tx) => c.Execute("INSERT INTO recycle_rules(id, days, tag_key, tag_value) VALUES (@id, @days, @key, @value)",
            new { id, days = rule.RetentionDays, key = rule.TagKey, value = rule.TagValue }, tx));
        return Task.FromResult(id);
    }

    public async Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var rows = _catalog.Read(c => c.Query<SnapshotRow>("SELECT * FROM snapshots WHERE recycled_at IS NOT NULL ORDER BY seq").ToList());
        return [.. rows.Select(r => new RecycleBinEntry(ToInfo(r, TagsOf(r.Id), FastRestoreOf(r.Id)), FromMs(r.RecycledAt!.Value), FromMs(r.RecycleExit!.Value)))];
    }

    public async Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var row = FindSnapshotRow(snapshotId);
        if (row?.RecycledAt is null)
        {
            throw ProviderException.NotFound("InvalidSnapshot.NotFound", $"snapshot '{snapshotId}' is not in the recycle bin of region {Region}");
        }

        _catalog.Write((c, tx) => c.Execute("UPDATE snapshots SET recycled_at=NULL, recycle_exit=NULL WHERE id=@snapshotId", new { snapshotId }, tx));
        return Describe(snapshotId);
    }

    // ---- fast snapshot restore ----

    private FastRestoreState StateOf(FastRestoreRow row, long now)
    {
        if (row.DisabledAt is { } disabledAt)
        {
            return now - disabledAt < Options.FastRestoreDisablingTime.TotalMilliseconds ? FastRestoreState.Disabling : FastRestoreState.Disabled;
        }

        var elapsed = now - row.EnabledAt;
        var enabling = (long)Options.FastRestoreEnablingTime.TotalMilliseconds;
        var optimizing = (long)Options.FastRestoreOptimizingTime.TotalMilliseconds;
        return elapsed < enabling ? FastRestoreState.Enabling
            : elapsed < enabling + optimizing ? FastRestoreState.Optimizing
            : FastRestoreState.Enabled;
    }

    private DateTimeOffset SinceOf(FastRestoreRow row, FastRestoreState state) => state switch
    {
        FastRestoreState.Enabling => FromMs(row.EnabledAt),
        FastRestoreState.Optimizing => FromMs(row.EnabledAt) + Options.FastRestoreEnablingTime,
        FastRestoreState.Enabled => FromMs(row.EnabledAt) + Options.FastRestoreEnablingTime + Options.FastRestoreOptimizingTime,
        FastRestoreState.Disabling => FromMs(row.DisabledAt!.Value),
        _ => FromMs(row.DisabledAt ?? row.EnabledAt) + Options.FastRestoreDisablingTime,
    };

    private List<FastRestoreRow> FastRestoreRows(string? snapshotId) => _catalog.Read(c => snapshotId is null
        ? c.Query<FastRestoreRow>("SELECT * FROM fast_restore ORDER BY snapshot_id, zone").ToList()
        : c.Query<FastRestoreRow>("SELECT * FROM fast_restore WHERE snapshot_id=@snapshotId ORDER BY zone", new { snapshotId }).ToList());

    private ImmutableSortedDictionary<string, FastRestoreState> FastRestoreOf(string snapshotId)
    {
        var now = NowMs;
        return FastRestoreRows(snapshotId).Select(r => (r.Zone, State: StateOf(r, now))).Where(z => z.State != FastRestoreState.Disabled)
            .ToImmutableSortedDictionary(z => z.Zone, z => z.State, StringComparer.Ordinal);
    }

    /// <summary>The fast-restore state of these snapshots (of every snapshot when null), by snapshot id, in one read.</summary>
    private Dictionary<string, ImmutableSortedDictionary<string, FastRestoreState>> FastRestoreOfIds(IEnumerable<string>? ids)
    {
        var now = NowMs;
        var json = ids is null ? null : System.Text.Json.JsonSerializer.Serialize(ids);
        var rows = json is null
            ? FastRestoreRows(null)
            : _catalog.Read(c => c.Query<FastRestoreRow>(
                "SELECT * FROM fast_restore WHERE snapshot_id IN (SELECT value FROM json_each(@json)) ORDER BY snapshot_id, zone", new { json }).ToList());
        return rows.Select(r => (r.SnapshotId, r.Zone, State: StateOf(r, now))).Where(z => z.State != FastRestoreState.Disabled)
            .GroupBy(z => z.SnapshotId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToImmutableSortedDictionary(z => z.Zone, z => z.State, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default)
    {
        var row = RequireSnapshot(snapshotId);
        if (row.State != CatalogValues.Completed || row.Tier is not (CatalogValues.Standard or CatalogValues.Restored))
        {
            throw ProviderException.IncorrectState("IncorrectState", $"snapshot '{snapshotId}' is {row.State}/{row.Tier}; fast restore needs a completed standard-tier snapshot");
        }

        var now = NowMs;
        _catalog.Write((c, tx) =>
        {
            foreach (var zone in zones)
            {
                // enabling again while enabling/enabled keeps its progress; after a disable it starts over
                c.Execute("""
                    INSERT INTO fast_restore(snapshot_id, zone, enabled_at) VALUES (@snapshotId, @zone, @now)
                    ON CONFLICT(snapshot_id, zone) DO UPDATE SET enabled_at = CASE WHEN disabled_at IS NULL THEN enabled_at ELSE excluded.enabled_at END, disabled_at = NULL
                    """, new { snapshotId, zone, now }, tx);
            }
        });
        return Task.FromResult(ZoneStates(snapshotId, zones));
    }

    public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default)
    {
        RequireSnapshot(snapshotId);
        var now = NowMs;
        _catalog.Write((c, tx) =>
        {
            foreach (var zone in zones)
            {
                c.Execute("UPDATE fast_restore SET disabled_at=@now WHERE snapshot_id=@snapshotId AND zone=@zone AND disabled_at IS NULL", new { snapshotId, zone, now }, tx);
            }
        });
        ClockInstantWritten();
        return Task.FromResult(ZoneStates(snapshotId, zones));
    }

    private ImmutableArray<FastRestoreZoneState> ZoneStates(string snapshotId, ImmutableArray<string> zones)
    {
        var now = NowMs;
        var rows = FastRestoreRows(snapshotId).ToDictionary(r => r.Zone, StringComparer.Ordinal);
        return [.. zones.Select(zone => rows.TryGetValue(zone, out var r)
            ? new FastRestoreZoneState(snapshotId, zone, StateOf(r, now), SinceOf(r, StateOf(r, now)))
            : new FastRestoreZoneState(snapshotId, zone, FastRestoreState.Disabled, Options.TimeProvider.GetUtcNow()))];
    }

    public async Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        return [.. FastRestoreRows(snapshotId).Select(r => new FastRestoreZoneState(r.SnapshotId, r.Zone, StateOf(r, now), SinceOf(r, StateOf(r, now))))];
    }

    // ---- volumes from snapshots ----

    /// <summary>
    /// Creates a volume from a completed standard-tier snapshot. With fast restore enabled in the zone the volume is
    /// fully loaded before this returns; otherwise it is usable at once and loads each block on first access.
    /// </summary>
    public async Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var row = RequireReadableSnapshot(request.SnapshotId);
        var sizeBytes = request.SizeGiB is { } gib ? gib * (1L << 30) : row.VolumeSizeBytes;
        if (sizeBytes < row.VolumeSizeBytes)
        {
            throw ProviderException.InvalidParameter($"size {request.SizeGiB} GiB is smaller than snapshot '{row.Id}' ({row.VolumeSizeBytes} bytes)");
        }

        var manifest = LoadManifest(row.Id);
        var fast = FastRestoreOf(row.Id).GetValueOrDefault(request.Zone, FastRestoreState.Disabled) == FastRestoreState.Enabled;
        var id = NewId("vol-");
        CreateImage(id, sizeBytes);
        if (fast)
        {
            await HydrateImageAsync(id, manifest, row.KeyId, cancellationToken).ConfigureAwait(false);
        }

        var volumeRow = new VolumeRow
        {
            Id = id,
            Zone = request.Zone,
            SizeBytes = sizeBytes,
            Encrypted = row.Encrypted,
            KeyId = row.KeyId,
            SourceSnapshot = row.Id,
            SourceManifest = fast ? null : manifest.ToBlob(),
            Hydrating = !fast && manifest.NonZero.Any(),
            CreatedAt = NowMs,
        };
        InsertVolume(volumeRow, request.Tags);
        var volume = RequireVolume(id);
        await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // the image equals the snapshot, so the snapshot is a valid base for the volume's first incremental
            volume.BaseSnapshotId = row.Id;
            volume.BaseSequence = row.Seq;
            volume.Trusted = manifest.Count == volume.BlockCount;
        }
        finally
        {
            volume.Gate.Release();
        }

        return (await DescribeVolumesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Single(v => v.Id == id);
    }

    private async Task HydrateImageAsync(string volumeId, Manifest manifest, string? keyId, CancellationToken cancellationToken)
    {
        var key = keyId is null ? null : Keys.Get(keyId);
        var path = ImagePath(volumeId);
        using var image = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var indexes = Enumerable.Range(0, manifest.Count).Where(i => !manifest.Blocks[i].IsZero);
        await Parallel.ForEachAsync(indexes, new ParallelOptions { MaxDegreeOfParallelism = Options.Parallelism, CancellationToken = cancellationToken }, (index, _) =>
        {
            var block = ArrayPool<byte>.Shared.Rent(BlockSize);
            try
            {
                _store.ReadBlock(manifest.Blocks[index], key, block.AsSpan(0, BlockSize), verify: true);
                RandomAccess.Write(image, block.AsSpan(0, BlockSize), (long)index * BlockSize);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }

            return ValueTask.CompletedTask;
        }).ConfigureAwait(false);
        RandomAccess.FlushToDisk(image);
    }
}
