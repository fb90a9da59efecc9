using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Lifecycle.Scheduling.Storage;

/// <summary>
/// A SQLite connection of the store (ours and Quartz's, one pool: one connection string): the first open of each
/// native connection sets how it waits for the single writer, how it syncs, the journal (WAL) and foreign keys, which
/// SQLite keeps per connection (the journal mode per file) and Microsoft.Data.Sqlite does not set.
/// </summary>
/// <remarks>
/// busy_timeout: without it a writer that finds the file locked gets SQLITE_BUSY at once, and Microsoft.Data.Sqlite
/// retries the statement after sleeping (150 ms) — under a fire of a thousand actions that sleep, not the work, sets
/// the pace. With it, SQLite's own busy handler waits in steps of a few milliseconds.
/// synchronous=NORMAL in WAL mode: every commit survives a process crash (SIGKILL); a power loss can drop the last
/// commits, never corrupt the file. Quartz's job store gets the same setting as our tables (it used the default,
/// FULL, an fsync per commit): a lost enqueue is redone on start from our action rows, and the token lookup at the
/// provider makes a re-run harmless.
/// WAL lets the API read while a job writes; foreign keys keep the run store's rows consistent. Neither changes on a
/// pooled connection, so neither is set again at every open: a fire of 1,000 creates opened the store about 3,300
/// times, and setting them at each open was two more statements to prepare and run each time.
/// </remarks>
public sealed class TunedSqliteConnection : SqliteConnection
{
    /// <summary>How long a statement waits for the writer lock before it fails (SQLite's busy handler).</summary>
    public const int BusyTimeoutMilliseconds = 60_000;

    public TunedSqliteConnection()
    {
    }

    public TunedSqliteConnection(string connectionString)
        : base(connectionString)
    {
    }

    public override void Open()
    {
        base.Open();
        // Pooled opens hand back the same native connection, which keeps its settings: set them once per native
        // connection, not on every open (a fire of 1,000 actions opens the store thousands of times).
        if (Handle is { } handle && Tuned.TryAdd(handle, Marker))
        {
            try
            {
                using var pragma = CreateCommand();
                pragma.CommandText = $"PRAGMA busy_timeout={BusyTimeoutMilliseconds}; PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;";
                pragma.ExecuteNonQuery();
            }
            catch
            {
                Tuned.Remove(handle);
                throw;
            }
        }
    }

    /// <summary>The native connections already tuned (weakly held: a closed one leaves with its handle).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> Tuned = [];

    private static readonly object Marker = new();

    public override Task OpenAsync(CancellationToken cancellationToken)
    {
        // Opening a SQLite file is synchronous work either way; one path keeps the pragmas in one place.
        cancellationToken.ThrowIfCancellationRequested();
        Open();
        return Task.CompletedTask;
    }
}

/// <summary>Hands Quartz <see cref="TunedSqliteConnection"/>s; commands and parameters are Microsoft.Data.Sqlite's.</summary>
public sealed class TunedSqliteFactory : DbProviderFactory
{
    public static readonly TunedSqliteFactory Instance = new();

    private TunedSqliteFactory()
    {
    }

    public override DbConnection CreateConnection() => new TunedSqliteConnection();

    public override DbCommand CreateCommand() => SqliteFactory.Instance.CreateCommand();

    public override DbParameter CreateParameter() => SqliteFactory.Instance.CreateParameter();

    public override DbConnectionStringBuilder CreateConnectionStringBuilder() => SqliteFactory.Instance.CreateConnectionStringBuilder();
}
