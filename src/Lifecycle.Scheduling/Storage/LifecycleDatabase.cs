using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lifecycle.Scheduling.Storage;

/// <summary>Opens connections to the store. SQL in this project is written once for both dialects.</summary>
public sealed class LifecycleDatabase
{
    public LifecycleDatabase(StoreOptions options)
    {
        Options = options;
    }

    public StoreOptions Options { get; }

    public StoreDialect Dialect => Options.Dialect;

    private readonly SemaphoreSlim sqliteWriter = new(1, 1);

    /// <summary>
    /// Enter before a write (hold until the connection is closed). SQLite has one writer per file: our writers queue
    /// here and hand over at once, instead of each finding the file locked and sleeping in SQLite's busy handler
    /// (steps of 1 to 100 ms that a thousand writes of one fire add up). Quartz keeps its own gate; the busy
    /// handler still settles ours against its. PostgreSQL: nothing to wait for.
    /// </summary>
    public async ValueTask<IAsyncDisposable> EnterWriteAsync(CancellationToken cancellationToken = default)
    {
        if (Dialect != StoreDialect.Sqlite)
        {
            return NoGate.Instance;
        }

        await sqliteWriter.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new WriterTurn(sqliteWriter);
    }

    private sealed class WriterTurn(SemaphoreSlim gate) : IAsyncDisposable
    {
        private int released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                gate.Release();
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class NoGate : IAsyncDisposable
    {
        public static readonly NoGate Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        DbConnection connection = Dialect == StoreDialect.Sqlite
            ? new TunedSqliteConnection(Options.ConnectionString)
            : new NpgsqlConnection(Options.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (Dialect == StoreDialect.Sqlite)
        {
            await using var pragma = connection.CreateCommand();
            // WAL lets the API read while a job writes. synchronous=NORMAL in WAL mode keeps every commit across a
            // process crash (SIGKILL); only a power loss can drop the last commits, never corrupt the file, and the
            // token lookup at the provider makes a lost record harmless (set with busy_timeout by TunedSqliteConnection).
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return connection;
    }
}
