using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Security.Cryptography;
using Dapper;
using Lifecycle.Core.Concurrency;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Encryption;
using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;

namespace Lifecycle.LocalEngine;

/// <summary>
/// One region of the local engine: a directory with a catalog (SQLite), a pack store, an archive store and the
/// volume images. Implements the provider seam plus the volume API (block reads and writes, import, export) and
/// the store's maintenance (GC, verify). All methods are thread-safe. Opening recovers from a crash: interrupted
/// snapshots and copies become <c>error</c>, interrupted archive moves are undone, unpublished files are removed.
/// </summary>
public sealed partial class LocalRegion : ISnapshotProvider, IDisposable
{
    private readonly LocalEngine _engine;
    private readonly RegionCatalog _catalog;
    private readonly BlockStore _store;
    private readonly FileStream _lock;
    private readonly ConcurrentDictionary<string, VolumeRuntime> _volumes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _background = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _progress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _leases = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gcGate = new(1, 1);
    private readonly SemaphoreSlim _buildTurns = new(BuildsAtOnce, BuildsAtOnce);
    private readonly GroupCommit<IReadOnlyList<(StartedSnapshot Started, IReadOnlyDictionary<string, string> Tags)>> _pendingInserts;
    private readonly CancellationTokenSource _closing = new();
    private bool _disposed;

    private LocalRegion(LocalEngine engine, string name, string directory, FileStream regionLock)
    {
        _engine = engine;
        Region = name;
        Directory = directory;
        _lock = regionLock;
        _catalog = new RegionCatalog(Path.Combine(directory, "catalog.db"));
        _pendingInserts = new(WritePendingAsync);
        _store = new BlockStore(PackDirectory);
    }

    public string Region { get; }

    /// <summary>The region's directory, <c>&lt;data&gt;/regions/&lt;name&gt;/</c>.</summary>
    public string Directory { get; }

    internal string PackDirectory => Path.Combine(Directory, "packs");

    internal string ArchiveDirectory => Path.Combine(Directory, "archive");

    internal string VolumeDirectory => Path.Combine(Directory, "volumes");

    private LocalEngineOptions Options => _engine.Options;

    private KeyRing Keys => _engine.KeyRing;

    private long NowMs => Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    internal static LocalRegion Open(LocalEngine engine, string name)
    {
        var directory = Path.Combine(engine.RegionsDirectory, name);
        DurableFile.CreateDirectoryDurably(directory);
        foreach (var sub in new[] { "packs", "archive", "volumes" })
        {
            DurableFile.CreateDirectoryDurably(Path.Combine(directory, sub));
        }

        FileStream regionLock;
        try
        {
            regionLock = new FileStream(Path.Combine(directory, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new ProviderException(ProviderErrorKind.Transient, "RegionLocked",
                $"region '{name}' at {directory} is open in another process", e);
        }

        var region = new LocalRegion(engine, name, directory, regionLock);
        try
        {
            region.Recover();
        }
        catch
        {
            region.Dispose();
            throw;
        }

        return region;
    }

    /// <summary>Brings the catalog and the files back to a consistent state after any crash.</summary>
    private void Recover()
    {
        _catalog.Write((c, tx) =>
        {
            c.Execute("UPDATE snapshots SET state='error', error='interrupted: the engine stopped before the snapshot completed' WHERE state='pending'", transaction: tx);
            c.Execute("UPDATE snapshots SET tier='standard' WHERE tier='archiving'", transaction: tx);
            c.Execute("DELETE FROM archive_blocks WHERE snapshot_id IN (SELECT id FROM snapshots WHERE tier='standard')", transaction: tx);
            c.Execute("DELETE FROM packs WHERE store='archive' AND snapshot_id IN (SELECT id FROM snapshots WHERE tier='standard')", transaction: tx);
        });
        _store.Load(_catalog.Read(c => c.Query<BlockRow>("SELECT id, pack_id, offset, length, encoding, key_id FROM blocks").ToList())
            .Select(r => (BlockId.Read(r.Id), new BlockLocation(r.PackId, r.Offset, r.Length, (BlockEncoding)r.Encoding, r.KeyId))));
        RemoveUnpublishedFiles();
        foreach (var row in _catalog.Read(c => c.Query<VolumeRow>("SELECT * FROM volumes").ToList()))
        {
            _volumes[row.Id] = LoadVolume(row);
        }
    }

    /// <summary>Removes files no catalog row points to: temporaries and packs or images of operations that never committed.</summary>
    private int RemoveUnpublishedFiles()
    {
        var removed = 0;
        var packs = _catalog.Read(c => c.Query<string>("SELECT id FROM packs").ToHashSet(StringComparer.Ordinal));
        var volumes = _catalog.Read(c => c.Query<string>("SELECT id FROM volumes").ToHashSet(StringComparer.Ordinal));
        foreach (var dir in new[] { PackDirectory, ArchiveDirectory })
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                var packId = name.Split('.')[0];
                if (_store.IsInFlight(packId) || (name.EndsWith(PackFile.Extension, StringComparison.Ordinal) && packs.Contains(packId)))
                {
                    continue;
                }

                File.Delete(file);
                removed++;
            }
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(VolumeDirectory))
        {
            var name = Path.GetFileName(file);
            var volumeId = name.Split('.')[0];
            if (volumes.Contains(volumeId) && !name.EndsWith(DurableFile.TempSuffix, StringComparison.Ordinal))
            {
                continue;
            }

            if (_volumes.ContainsKey(volumeId) && name.EndsWith(DurableFile.TempSuffix, StringComparison.Ordinal))
            {
                continue;
            }

            File.Delete(file);
            removed++;
        }

        if (removed > 0)
        {
            DurableFile.FlushDirectory(PackDirectory);
            DurableFile.FlushDirectory(ArchiveDirectory);
            DurableFile.FlushDirectory(VolumeDirectory);
        }

        return removed;
    }

    // ---- leases: snapshots being read by a copy, an archive move or their own build are "in use" ----

    private sealed class Lease(LocalRegion region, string snapshotId) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                region.ReleaseLease(snapshotId);
            }
        }
    }

    /// <summary>Marks a snapshot in use (deletion and archiving refuse with IncorrectState) until disposed.</summary>
    public IDisposable AcquireSnapshotLease(string snapshotId)
    {
        lock (_leases)
        {
            _leases[snapshotId] = _leases.GetValueOrDefault(snapshotId) + 1;
        }

        return new Lease(this, snapshotId);
    }

    private void ReleaseLease(string snapshotId)
    {
        lock (_leases)
        {
            if (_leases.TryGetValue(snapshotId, out var n))
            {
                if (n <= 1)
                {
                    _leases.Remove(snapshotId);
                }
                else
                {
                    _leases[snapshotId] = n - 1;
                }
            }
        }
    }

    private bool IsLeased(string snapshotId)
    {
        lock (_leases)
        {
            return _leases.ContainsKey(snapshotId);
        }
    }

    // ---- catalog reads and mapping ----

    internal SnapshotRow? FindSnapshotRow(string snapshotId) =>
        _catalog.Read(c => c.QuerySingleOrDefault<SnapshotRow>("SELECT * FROM snapshots WHERE id=@snapshotId", new { snapshotId }));

    private SnapshotRow RequireSnapshot(string snapshotId, bool allowRecycled = false)
    {
        var row = FindSnapshotRow(snapshotId);
        if (row is null || (!allowRecycled && row.RecycledAt is not null))
        {
            throw ProviderException.NotFound("InvalidSnapshot.NotFound", $"snapshot '{snapshotId}' does not exist in region {Region}");
        }

        return row;
    }

    internal Manifest LoadManifest(string snapshotId)
    {
        var blob = _catalog.Read(c => c.QuerySingleOrDefault<byte[]>("SELECT blob FROM manifests WHERE snapshot_id=@snapshotId", new { snapshotId }))
            ?? throw new InvalidDataException($"snapshot {snapshotId} has no manifest");
        return Manifest.FromBlob(blob);
    }

    private ImmutableSortedDictionary<string, string> TagsOf(string resourceId) =>
        _catalog.Read(c => c.Query<(string Key, string Value)>("SELECT key, value FROM tags WHERE resource_id=@resourceId", new { resourceId }))
            .ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);

    private Dictionary<string, ImmutableSortedDictionary<string, string>> AllTags() =>
        _catalog.Read(c => c.Query<(string ResourceId, string Key, string Value)>("SELECT resource_id, key, value FROM tags").ToList())
            .GroupBy(t => t.ResourceId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal), StringComparer.Ordinal);

    /// <summary>The tags of these resources, by id, in one read (a seek per id).</summary>
    private Dictionary<string, ImmutableSortedDictionary<string, string>> TagsOfIds(IEnumerable<string> ids)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(ids);
        return _catalog.Read(c => c.Query<(string ResourceId, string Key, string Value)>(
                "SELECT resource_id, key, value FROM tags WHERE resource_id IN (SELECT value FROM json_each(@json))", new { json }).ToList())
            .GroupBy(t => t.ResourceId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static int GiB(long bytes) => checked((int)((bytes + (1L << 30) - 1) >> 30));

    private SnapshotInfo ToInfo(SnapshotRow row, ImmutableSortedDictionary<string, string> tags, ImmutableSortedDictionary<string, FastRestoreState> fastRestore) => new()
    {
        Id = row.Id,
        VolumeId = row.VolumeId,
        Region = Region,
        StartTime = FromMs(row.StartTime),
        State = row.State switch
        {
            CatalogValues.Pending => SnapshotState.Pending,
            CatalogValues.Completed => SnapshotState.Completed,
            _ => SnapshotState.Error,
        },
        Progress = row.State == CatalogValues.Pending ? _progress.GetValueOrDefault(row.Id) : row.State == CatalogValues.Completed ? 100 : 0,
        Tier = row.Tier == CatalogValues.Archived ? StorageTier.Archive : StorageTier.Standard,
        ArchivedAt = row.ArchivedAt is { } archivedAt ? FromMs(archivedAt) : null,
        RestoreExpiryTime = row.Tier == CatalogValues.Restored && row.RestoreExpiry is { } expiry ? FromMs(expiry) : null,
        VolumeSizeGiB = GiB(row.VolumeSizeBytes),
        StoredBytes = row.StoredBytes,
        FullSizeBytes = row.FullSize,
        Tags = tags,
        Encrypted = row.Encrypted,
        KeyId = row.KeyId,
        Description = row.Description,
        FastRestore = fastRestore,
        SourceSnapshotId = row.SourceSnapshot,
        SourceRegion = row.SourceRegion,
    };

    internal SnapshotInfo Describe(string snapshotId, bool allowRecycled = false)
    {
        var row = RequireSnapshot(snapshotId, allowRecycled);
        return ToInfo(row, TagsOf(snapshotId), FastRestoreOf(snapshotId));
    }

    public async Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var (rows, selective) = SnapshotRowsMatching(query);

        // A selective query (a token, a few ids) reads the tags and fast-restore state of its rows row by row; a wider
        // one reads those of the rows it matched in one pass, by their ids (one policy's snapshots: not the whole
        // region's tags, which 20 policies firing at once each read before; and not the query's conditions evaluated
        // twice more), and an unfiltered one reads them all.
        var narrow = rows.Count <= NarrowReadLimit;
        var tags = narrow ? null : selective ? TagsOfIds(rows.Select(r => r.Id)) : AllTags();
        var fastRestore = narrow ? null : FastRestoreOfIds(selective ? rows.Select(r => r.Id) : null);
        var result = ImmutableArray.CreateBuilder<SnapshotInfo>(rows.Count);
        foreach (var row in rows)
        {
            var rowTags = narrow
                ? TagsOf(row.Id)
                : tags!.GetValueOrDefault(row.Id) ?? ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

            // The SQL narrowed by ids, volumes and tags; this re-check keeps the filter's exact semantics in one place.
            if (query is not null
                && ((!query.SnapshotIds.IsDefaultOrEmpty && !query.SnapshotIds.Contains(row.Id))
                    || (!query.VolumeIds.IsDefaultOrEmpty && !query.VolumeIds.Contains(row.VolumeId))
                    || !TagsMatch(rowTags, query.Tags)))
            {
                continue;
            }

            var rowFastRestore = narrow
                ? FastRestoreOf(row.Id)
                : fastRestore!.GetValueOrDefault(row.Id) ?? ImmutableSortedDictionary<string, FastRestoreState>.Empty;
            result.Add(ToInfo(row, rowTags, rowFastRestore));
        }

        return result.ToImmutable();
    }

    /// <summary>Up to this many rows, tags and fast-restore state are read per row (indexed) instead of in bulk.</summary>
    private const int NarrowReadLimit = 64;

    /// <summary>Snapshot builds one region runs at once (each one's workers use every core).</summary>
    private static readonly int BuildsAtOnce = Math.Max(2, Environment.ProcessorCount);

    /// <summary>More ids than this in one query are filtered in memory rather than bound as SQL parameters.</summary>
    private const int MaxBoundIds = 500;

    /// <summary>
    /// The live snapshot rows a query can match, in creation order, and whether its SQL selected by something (ids,
    /// volumes or tags) rather than reading every live row (see <see cref="SnapshotWhere"/>).
    /// </summary>
    private (List<SnapshotRow> Rows, bool Selective) SnapshotRowsMatching(SnapshotQuery? query) => _catalog.Read(c =>
    {
        var (where, parameters) = SnapshotWhere(c, query);
        return (c.Query<SnapshotRow>(SnapshotRowsSql(where), parameters).ToList(), where is not null);
    });

    /// <summary>SQLite's plan for a query's row selection (tests check which index drives it).</summary>
    internal IReadOnlyList<string> ExplainSnapshotQuery(SnapshotQuery query) => _catalog.Read(c =>
    {
        var (where, parameters) = SnapshotWhere(c, query);
        return c.Query<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + SnapshotRowsSql(where), parameters)
            .Select(r => r.Detail).ToList();
    });

    /// <summary>The condition a query's row selection uses (tests check which of its conditions drives the read).</summary>
    internal string? SnapshotQueryCondition(SnapshotQuery query) => _catalog.Read(c => SnapshotWhere(c, query).Where);

    private static string SnapshotRowsSql(string? where) => "SELECT * FROM snapshots WHERE " + (where ?? "recycled_at IS NULL") + " ORDER BY seq";

    /// <summary>
    /// The condition on the snapshots table that a query's ids, volumes and tags select (live rows only), or null when
    /// it selects by none of them (every live row). One condition drives the read: the ids, else the volumes (their
    /// indexes), else the tag condition that the fewest tags match (<see cref="FewestMatches"/>, through
    /// <c>tags_by_key_value</c>); every other tag condition is checked per row with one seek of the tag's primary key.
    /// A policy's snapshots of one volume are then about that volume's snapshots, not the policy's 5,000 (a keepLatest
    /// check: 80 ms -> about 2 ms with 100,000 snapshots), and a policy's copies of one source volume the copies of that
    /// volume.
    /// </summary>
    private (string? Where, DynamicParameters Parameters) SnapshotWhere(Microsoft.Data.Sqlite.SqliteConnection connection, SnapshotQuery? query)
    {
        var sql = new System.Text.StringBuilder("recycled_at IS NULL");
        var parameters = new DynamicParameters();
        if (query is null)
        {
            return (null, parameters);
        }

        var keyed = false;
        if (!query.SnapshotIds.IsDefaultOrEmpty && query.SnapshotIds.Length <= MaxBoundIds)
        {
            sql.Append(" AND id IN @snapshotIds");
            parameters.Add("snapshotIds", query.SnapshotIds.ToArray());
            keyed = true;
        }

        if (!query.VolumeIds.IsDefaultOrEmpty && query.VolumeIds.Length <= MaxBoundIds)
        {
            sql.Append(" AND volume_id IN @volumeIds");
            parameters.Add("volumeIds", query.VolumeIds.ToArray());
            keyed = true;
        }

        // Conditions of more values than can be bound are checked in memory only (DescribeSnapshotsAsync re-checks all).
        var tags = (query.Tags?.Tags ?? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty)
            .Where(t => t.Value.IsDefaultOrEmpty || t.Value.Length <= MaxBoundIds).ToList();
        var driver = keyed || tags.Count == 0 ? -1 : tags.Count == 1 ? 0 : FewestMatches(connection, tags).Index;
        AppendTagConditions(sql, parameters, tags, driver, "snapshots.id");
        return (keyed || tags.Count > 0 ? sql.ToString() : null, parameters);
    }

    /// <summary>
    /// Appends each tag condition (a key, with one of its values when it names any) on the rows whose id is
    /// <paramref name="rowId"/>: the <paramref name="driver"/>-th as the list of ids that carry it (the read starts from
    /// it), the others as a seek of the tag's primary key per row. A driver of -1: every condition is checked per row.
    /// </summary>
    private static void AppendTagConditions(
        System.Text.StringBuilder sql, DynamicParameters parameters, IReadOnlyList<KeyValuePair<string, ImmutableArray<string>>> tags, int driver, string rowId)
    {
        for (var i = 0; i < tags.Count; i++)
        {
            var (key, values) = tags[i];
            var keyName = "tagKey" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var valuesName = "tagValues" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            parameters.Add(keyName, key);
            var valueCondition = "";
            if (!values.IsDefaultOrEmpty)
            {
                parameters.Add(valuesName, values.ToArray());
                valueCondition = " AND value IN @" + valuesName;
            }

            sql.Append(i == driver
                ? $" AND {rowId} IN (SELECT resource_id FROM tags WHERE key=@{keyName}{valueCondition})"
                : $" AND EXISTS (SELECT 1 FROM tags WHERE resource_id = {rowId} AND key=@{keyName}{valueCondition})");
        }
    }

    /// <summary>
    /// The index of the tag condition that the fewest tags match, and how many (counted through
    /// <c>tags_by_key_value</c> up to <see cref="NarrowTagMatches"/> each, so choosing costs at most that many index
    /// entries per condition).
    /// </summary>
    private (int Index, long Matches) FewestMatches(Microsoft.Data.Sqlite.SqliteConnection connection, IReadOnlyList<KeyValuePair<string, ImmutableArray<string>>> tags)
    {
        var best = 0;
        var fewest = long.MaxValue;
        for (var i = 0; i < tags.Count && fewest > 0; i++)
        {
            var (key, values) = tags[i];
            var matches = values.IsDefaultOrEmpty
                ? connection.ExecuteScalar<long>(
                    "SELECT count(*) FROM (SELECT 1 FROM tags INDEXED BY tags_by_key_value WHERE key = @key LIMIT @cap)", new { key, cap = NarrowTagMatches })
                : connection.ExecuteScalar<long>(
                    "SELECT count(*) FROM (SELECT 1 FROM tags INDEXED BY tags_by_key_value WHERE key = @key AND value IN (SELECT value FROM json_each(@values)) LIMIT @cap)",
                    new { key, values = System.Text.Json.JsonSerializer.Serialize(values), cap = NarrowTagMatches });
            if (matches < fewest)
            {
                (best, fewest) = (i, matches);
            }
        }

        return (best, fewest);
    }

    internal static bool TagsMatch(IReadOnlyDictionary<string, string> tags, TagFilter? filter)
    {
        if (filter is null)
        {
            return true;
        }

        foreach (var (key, values) in filter.Tags)
        {
            if (!tags.TryGetValue(key, out var value))
            {
                return false;
            }

            if (!values.IsDefaultOrEmpty && !values.Contains(value))
            {
                return false;
            }
        }

        return true;
    }

    public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default)
    {
        var exists = _catalog.Read(c => c.ExecuteScalar<long>(
            "SELECT (SELECT count(*) FROM volumes WHERE id=@resourceId) + (SELECT count(*) FROM snapshots WHERE id=@resourceId AND recycled_at IS NULL)",
            new { resourceId })) > 0;
        if (!exists)
        {
            throw ProviderException.NotFound(resourceId.StartsWith("vol-", StringComparison.Ordinal) ? "InvalidVolume.NotFound" : "InvalidSnapshot.NotFound",
                $"resource '{resourceId}' does not exist in region {Region}");
        }

        _catalog.Write((c, tx) => WriteTags(c, tx, resourceId, tags));
        return Task.CompletedTask;
    }

    /// <summary>Removes tags (by key) from a volume or snapshot; missing keys are ignored.</summary>
    public Task DeleteTagsAsync(string resourceId, IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        var list = keys.ToList();
        _catalog.Write((c, tx) =>
        {
            foreach (var key in list)
            {
                c.Execute("DELETE FROM tags WHERE resource_id=@resourceId AND key=@key", new { resourceId, key }, tx);
            }
        });
        return Task.CompletedTask;
    }

    private static void WriteTags(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction tx, string resourceId, IReadOnlyDictionary<string, string> tags)
    {
        // One statement for all of a resource's tags (each statement is parsed anew: 1,000 creates of 5 tags were
        // 5,000 parses inside the commit), in chunks well under SQLite's bound-parameter limit.
        foreach (var chunk in tags.Chunk(200))
        {
            var sql = new System.Text.StringBuilder("INSERT INTO tags(resource_id, key, value) VALUES ");
            var parameters = new DynamicParameters();
            parameters.Add("resourceId", resourceId);
            for (var i = 0; i < chunk.Length; i++)
            {
                var n = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                sql.Append(i == 0 ? "" : ", ").Append("(@resourceId, @k").Append(n).Append(", @v").Append(n).Append(')');
                parameters.Add("k" + n, chunk[i].Key);
                parameters.Add("v" + n, chunk[i].Value);
            }

            sql.Append(" ON CONFLICT(resource_id, key) DO UPDATE SET value=excluded.value");
            c.Execute(sql.ToString(), parameters, tx);
        }
    }

    /// <summary>Tracks a background build or copy until it ends.</summary>
    private void TrackBackground(string snapshotId, Task task)
    {
        _background[snapshotId] = task;
        _ = task.ContinueWith(t => _background.TryRemove(KeyValuePair.Create(snapshotId, t)), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    internal static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(9))[..17];

    /// <summary>Waits until a snapshot (or copy) is completed or failed; NotFound if it does not exist.</summary>
    public async Task<SnapshotInfo> WaitForSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        if (_background.TryGetValue(snapshotId, out var task))
        {
            try
            {
                await task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // the failure is recorded on the snapshot (state error)
            }
        }

        return Describe(snapshotId, allowRecycled: true);
    }

    /// <summary>
    /// The seam's completion wait: the engine knows when its background build or copy ends, so nothing is polled.
    /// Null when the snapshot does not exist.
    /// </summary>
    public async Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        try
        {
            return await WaitForSnapshotAsync(snapshotId, cancellationToken).ConfigureAwait(false);
        }
        catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>Waits for every background snapshot and copy of this region.</summary>
    public async Task WaitForBackgroundWorkAsync(CancellationToken cancellationToken = default)
    {
        foreach (var task in _background.Values.ToList())
        {
            try
            {
                await task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // recorded on the snapshot (state error)
            }
        }
    }

    /// <summary>Waits (up to 10 minutes) for the background work running now; failures are recorded on the snapshots.</summary>
    internal void DrainBackgroundWork()
    {
        try
        {
            Task.WhenAll(_background.Values).Wait(TimeSpan.FromMinutes(10));
        }
        catch (AggregateException)
        {
            // failures are recorded on the snapshots
        }
    }

    /// <summary>Finishes background work, records clean changed-block maps, and releases the region.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        DrainBackgroundWork();

        foreach (var volume in _volumes.Values)
        {
            if (!volume.Deleted)
            {
                PersistCleanMap(volume);
            }

            volume.Dispose();
        }

        _closing.Dispose();
        _catalog.Dispose();
        _gcGate.Dispose();
        _lock.Dispose();
    }
}
