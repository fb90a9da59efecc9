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

    /// <summary>How many times <see cref="RetryConflictsAsync"/> runs a transaction that PostgreSQL keeps aborting.</summary>
    public const int ConflictAttempts = 5;

    /// <summary>
    /// Runs <paramref name="transaction"/> (one whole transaction, from opening its connection to its commit) again when
    /// PostgreSQL aborted it as one side of a deadlock (40P01) or a serialization failure (40001): nothing of it was
    /// written, and the other side goes on. Several nodes write the same actions (claims, outcomes, jobs), so this is
    /// expected now and then, not an error for the caller. SQLite has one writer: it never aborts one this way.
    /// </summary>
    public async Task RetryConflictsAsync(Func<Task> transaction, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await transaction().ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (attempt < ConflictAttempts && e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
            {
                // A few milliseconds apart, at random: the two sides do not meet again at once.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 25) * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        DbConnection connection = Dialect == StoreDialect.Sqlite
            ? new TunedSqliteConnection(Options.ConnectionString)
            : new NpgsqlConnection(Options.ConnectionString);
        // SQLite: WAL, foreign keys, synchronous=NORMAL and busy_timeout are set once per native connection by
        // TunedSqliteConnection, not at every pooled open.
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }
}
