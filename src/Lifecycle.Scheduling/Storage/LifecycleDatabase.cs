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
