using Dapper;
using Microsoft.Data.Sqlite;

namespace Lifecycle.LocalEngine.Catalog;

/// <summary>
/// The region's catalog (SQLite, WAL, synchronous=FULL): volumes, snapshots with their manifests and tags, the
/// block index, archive entries, fast-restore state and recycle-bin rules. Every catalog transaction is the last
/// step of an operation, after the files it points to are durable. Writes go through one connection under a lock;
/// reads use read-only connections of their own and never take that lock, so a read does not wait for a write's
/// fsync: WAL gives each read the last committed state. (Measured in `bench scheduler`: with reads under the write
/// lock, the token lookups before a fire's creates queued behind the builds' durable commits.)
/// </summary>
internal sealed class RegionCatalog : IDisposable
{
    /// <summary>
    /// 1: the tables; 2: the tag index by key and value (tag-filtered lookups, e.g. the creation token); 3: indexes for
    /// the clock's due checks, which every describe runs (see LocalRegion.ApplyClockAsync); 4: the tag index by key in
    /// resource order (a page of a <c>tag-key</c> or multi-value tag filter, walked in id order without a sort); 5: the
    /// snapshots by creation order and by volume (the next creation number under the write lock, a volume's snapshots).
    /// </summary>
    public const int SchemaVersion = 5;
    private readonly SqliteConnection _connection;
    private readonly object _gate = new();
    private readonly string _readConnectionString;
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];
    private volatile bool _disposed;

    static RegionCatalog()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    public RegionCatalog(string path)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        _connection.Open();
        _connection.Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA busy_timeout=10000;");
        Migrate();
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString();
    }

    private void Migrate()
    {
        var version = _connection.ExecuteScalar<long>("PRAGMA user_version");
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException($"catalog schema {version} is newer than this engine ({SchemaVersion})");
        }

        if (version == SchemaVersion)
        {
            return;
        }

        // Each step runs in its own transaction with its version bump, so a crash mid-migration resumes from the last
        // completed step. Steps are idempotent (IF NOT EXISTS) on top of that.
        if (version < 1)
        {
            CreateTables();
        }

        if (version < 2)
        {
            using var tx = _connection.BeginTransaction();

            // Finds the resources carrying a tag (key, value) without reading the catalog: DescribeSnapshots with a tag
            // filter (the executor's token lookup before every create) walks this index instead of every tag row.
            _connection.Execute("CREATE INDEX IF NOT EXISTS tags_by_key_value ON tags(key, value);", transaction: tx);
            _connection.Execute("PRAGMA user_version=2", transaction: tx);
            tx.Commit();
        }

        if (version < 3)
        {
            using var tx = _connection.BeginTransaction();

            // Every describe first asks whether anything is due (a temporary restore expired, a recycle-bin entry's
            // period ended, a fast-restore disable finished). Without these the question scanned every snapshot: in
            // `bench scheduler` the token lookups of a fire's thousand creates spent most of their time scanning.
            // Partial: only the few rows with a deadline are indexed.
            _connection.Execute("""
                CREATE INDEX IF NOT EXISTS snapshots_by_restore_expiry ON snapshots(restore_expiry) WHERE restore_expiry IS NOT NULL;
                CREATE INDEX IF NOT EXISTS snapshots_by_recycle_exit ON snapshots(recycle_exit) WHERE recycle_exit IS NOT NULL;
                CREATE INDEX IF NOT EXISTS fast_restore_by_disabled_at ON fast_restore(disabled_at) WHERE disabled_at IS NOT NULL;
                PRAGMA user_version=3;
                """, transaction: tx);
            tx.Commit();
        }

        if (version < 4)
        {
            using var tx = _connection.BeginTransaction();

            // A page of DescribeSnapshots is walked in snapshot-id order (keyset paging). tags_by_key_value already
            // gives (key, value) → resource ids in order; this gives key → resource ids in order, for a filter on a
            // key alone or on several values of it, so a page of 1,000 reads about 1,000 index entries, not the region.
            _connection.Execute("CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, resource_id); PRAGMA user_version=4;", transaction: tx);
            tx.Commit();
        }

        if (version < 5)
        {
            using var tx = _connection.BeginTransaction();

            // Every commit of new snapshots reads the last creation number (max(seq)) under the write lock, and the
            // keepLatest check of a delete reads the snapshots of one volume. Without these both scanned the table: with
            // 100,000 snapshots, 33 ms per group commit of a fire's creates and 80 ms per delete (bench scheduler
            // --retained 100).
            _connection.Execute("""
                CREATE INDEX IF NOT EXISTS snapshots_by_seq ON snapshots(seq);
                CREATE INDEX IF NOT EXISTS snapshots_by_volume ON snapshots(volume_id);
                PRAGMA user_version=5;
                """, transaction: tx);
            tx.Commit();
        }
    }

    private void CreateTables()
    {
        using var tx = _connection.BeginTransaction();
        _connection.Execute("""
            CREATE TABLE IF NOT EXISTS volumes(
              id TEXT PRIMARY KEY, zone TEXT NOT NULL, size_bytes INTEGER NOT NULL, encrypted INTEGER NOT NULL,
              key_id TEXT, instance_id TEXT, device TEXT, is_boot INTEGER NOT NULL DEFAULT 0,
              source_snapshot TEXT, source_manifest BLOB, hydrating INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS snapshots(
              id TEXT PRIMARY KEY, volume_id TEXT NOT NULL, volume_size_bytes INTEGER NOT NULL, start_time INTEGER NOT NULL,
              state TEXT NOT NULL, tier TEXT NOT NULL, archived_at INTEGER, restore_expiry INTEGER,
              encrypted INTEGER NOT NULL, key_id TEXT, description TEXT, source_snapshot TEXT, source_region TEXT,
              full_size INTEGER, stored_bytes INTEGER, error TEXT, recycled_at INTEGER, recycle_exit INTEGER,
              seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS manifests(snapshot_id TEXT PRIMARY KEY, blob BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS tags(resource_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(resource_id, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS packs(id TEXT PRIMARY KEY, store TEXT NOT NULL, size INTEGER NOT NULL, snapshot_id TEXT);
            CREATE TABLE IF NOT EXISTS blocks(id BLOB PRIMARY KEY, pack_id TEXT NOT NULL, offset INTEGER NOT NULL,
              length INTEGER NOT NULL, encoding INTEGER NOT NULL, key_id TEXT) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS blocks_by_pack ON blocks(pack_id);
            CREATE TABLE IF NOT EXISTS archive_blocks(snapshot_id TEXT NOT NULL, id BLOB NOT NULL, pack_id TEXT NOT NULL,
              offset INTEGER NOT NULL, length INTEGER NOT NULL, encoding INTEGER NOT NULL, key_id TEXT,
              PRIMARY KEY(snapshot_id, id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS fast_restore(snapshot_id TEXT NOT NULL, zone TEXT NOT NULL, enabled_at INTEGER NOT NULL,
              disabled_at INTEGER, PRIMARY KEY(snapshot_id, zone)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS recycle_rules(id TEXT PRIMARY KEY, days INTEGER NOT NULL, tag_key TEXT, tag_value TEXT);
            """, transaction: tx);
        _connection.Execute("PRAGMA user_version=1", transaction: tx);
        tx.Commit();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a read-only connection, without the write lock: it sees every transaction
    /// committed before it started and nothing of one in progress. <paramref name="work"/> must only read.
    /// </summary>
    public T Read<T>(Func<SqliteConnection, T> work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reader = RentReader();
        try
        {
            return work(reader);
        }
        finally
        {
            ReturnReader(reader);
        }
    }

    private SqliteConnection RentReader()
    {
        if (_readers.TryTake(out var reader))
        {
            return reader;
        }

        reader = new SqliteConnection(_readConnectionString);
        reader.Open();
        reader.Execute("PRAGMA busy_timeout=10000;");
        return reader;
    }

    private void ReturnReader(SqliteConnection reader)
    {
        _readers.Add(reader);
        if (_disposed && _readers.TryTake(out var late))
        {
            late.Dispose(); // returned after Dispose drained the bag
        }
    }

    /// <summary>Runs <paramref name="work"/> in one durable transaction under the catalog lock.</summary>
    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> work)
    {
        lock (_gate)
        {
            using var tx = _connection.BeginTransaction();
            var result = work(_connection, tx);
            tx.Commit();
            return result;
        }
    }

    public void Write(Action<SqliteConnection, SqliteTransaction> work) => Write<bool>((c, t) =>
    {
        work(c, t);
        return true;
    });

    public void Dispose()
    {
        _disposed = true;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        lock (_gate)
        {
            _connection.Dispose();
        }
    }
}

internal sealed class VolumeRow
{
    public string Id { get; set; } = "";
    public string Zone { get; set; } = "";
    public long SizeBytes { get; set; }
    public bool Encrypted { get; set; }
    public string? KeyId { get; set; }
    public string? InstanceId { get; set; }
    public string? Device { get; set; }
    public bool IsBoot { get; set; }
    public string? SourceSnapshot { get; set; }
    public byte[]? SourceManifest { get; set; }
    public bool Hydrating { get; set; }
    public long CreatedAt { get; set; }
}

internal sealed class SnapshotRow
{
    public string Id { get; set; } = "";
    public string VolumeId { get; set; } = "";
    public long VolumeSizeBytes { get; set; }
    public long StartTime { get; set; }
    public string State { get; set; } = "";
    public string Tier { get; set; } = "";
    public long? ArchivedAt { get; set; }
    public long? RestoreExpiry { get; set; }
    public bool Encrypted { get; set; }
    public string? KeyId { get; set; }
    public string? Description { get; set; }
    public string? SourceSnapshot { get; set; }
    public string? SourceRegion { get; set; }
    public long? FullSize { get; set; }
    public long? StoredBytes { get; set; }
    public string? Error { get; set; }
    public long? RecycledAt { get; set; }
    public long? RecycleExit { get; set; }
    public long Seq { get; set; }
}

internal sealed class BlockRow
{
    public byte[] Id { get; set; } = [];
    public string PackId { get; set; } = "";
    public long Offset { get; set; }
    public int Length { get; set; }
    public int Encoding { get; set; }
    public string? KeyId { get; set; }
}

internal sealed class FastRestoreRow
{
    public string SnapshotId { get; set; } = "";
    public string Zone { get; set; } = "";
    public long EnabledAt { get; set; }
    public long? DisabledAt { get; set; }
}

internal sealed class RecycleRuleRow
{
    public string Id { get; set; } = "";
    public int Days { get; set; }
    public string? TagKey { get; set; }
    public string? TagValue { get; set; }
}

/// <summary>Snapshot states and tiers as stored in the catalog.</summary>
internal static class CatalogValues
{
    public const string Pending = "pending";
    public const string Completed = "completed";
    public const string Error = "error";

    public const string Standard = "standard";
    public const string Archiving = "archiving";
    public const string Archived = "archived";

    /// <summary>Temporarily restored from the archive: readable until restore_expiry, archive copy kept.</summary>
    public const string Restored = "restored";

    public const string StandardStore = "standard";
    public const string ArchiveStore = "archive";
}
