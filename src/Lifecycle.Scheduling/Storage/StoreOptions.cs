using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lifecycle.Scheduling.Storage;

/// <summary>Which SQL database holds the Quartz job store and our tables.</summary>
public enum StoreDialect
{
    /// <summary>One file in the data directory; one node.</summary>
    Sqlite,

    /// <summary>A shared PostgreSQL database; several nodes cluster on it.</summary>
    Postgres,
}

/// <summary>Where the store lives. Built from <c>--data DIR</c> (SQLite) or <c>--database postgres://...</c>.</summary>
public sealed record StoreOptions(StoreDialect Dialect, string ConnectionString)
{
    public const string SqliteFileName = "lifecycle.db";

    public bool IsClustered => Dialect == StoreDialect.Postgres;

    /// <summary>SQLite in <paramref name="dataDirectory"/>, unless a database URL is given.</summary>
    public static StoreOptions From(string dataDirectory, string? databaseUrl)
    {
        if (!string.IsNullOrWhiteSpace(databaseUrl))
        {
            return ForPostgres(databaseUrl);
        }

        Directory.CreateDirectory(dataDirectory);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(Path.GetFullPath(dataDirectory), SqliteFileName),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // SQLite has one writer; Microsoft.Data.Sqlite retries a busy database until this timeout.
            DefaultTimeout = 60,
        };
        return new StoreOptions(StoreDialect.Sqlite, builder.ConnectionString);
    }

    /// <summary>Accepts <c>postgres://user:pass@host:port/db</c>, <c>postgresql://...</c> or an Npgsql keyword string.</summary>
    public static StoreOptions ForPostgres(string url)
    {
        if (!url.StartsWith("postgres://", StringComparison.Ordinal) && !url.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            return new StoreOptions(StoreDialect.Postgres, new NpgsqlConnectionStringBuilder(url).ConnectionString);
        }

        var uri = new Uri(url);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.Port > 0 ? uri.Port : 5432,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
            MaxPoolSize = 50,
        };
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            builder[Uri.UnescapeDataString(kv[0])] = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "true";
        }

        return new StoreOptions(StoreDialect.Postgres, builder.ConnectionString);
    }

    /// <summary>The connection string with any password removed, for logs and /healthz.</summary>
    public string Describe() => Dialect switch
    {
        StoreDialect.Sqlite => "sqlite:" + new SqliteConnectionStringBuilder(ConnectionString).DataSource,
        _ => DescribePostgres(),
    };

    private string DescribePostgres()
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"postgres://{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}";
    }
}
