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
            ? new SqliteConnection(Options.ConnectionString)
            : new NpgsqlConnection(Options.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (Dialect == StoreDialect.Sqlite)
        {
            await using var pragma = connection.CreateCommand();
            // WAL lets the API read while a job writes; synchronous=FULL keeps every committed run record after a crash.
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return connection;
    }
}
