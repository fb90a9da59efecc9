using System.Data.Common;
using Dapper;

namespace Lifecycle.Scheduling.Storage;

/// <summary>One versioned step of the schema. Applied in order, once, recorded in <c>lifecycle_schema_migrations</c>.</summary>
public sealed record SchemaMigration(int Version, string Name, Func<StoreDialect, IReadOnlyList<string>> Statements);

/// <summary>
/// Creates and migrates the store on start. Several nodes may start together on one PostgreSQL: the migration runs
/// under an advisory lock (SQLite: an immediate transaction), so each step runs exactly once.
/// </summary>
public static class SchemaMigrator
{
    /// <summary>Prefix of Quartz's tables.</summary>
    public const string QuartzTablePrefix = "qrtz_";

    private const long PostgresAdvisoryLockKey = 0x4C_69_66_65_63_79_63; // "Lifecyc"

    public static IReadOnlyList<SchemaMigration> All { get; } =
    [
        new(1, "quartz job store tables", QuartzSchema.Statements),
        new(2, "lifecycle tables: revisions, runs, actions, hook output, audit, token claims", LifecycleSchema.Version2),
        new(3, "actions.job: the batch job that carries an action", LifecycleSchema.Version3),
        new(4, "hook_runs: written at start (finished_at null while running), with the owner server and the hook's process group", LifecycleSchema.Version4),
        new(5, "policy_pauses: paused policies", LifecycleSchema.Version5),
        new(6, "actions: leased claims (lease_until, claim, not_before); actions.job is the Hangfire job; token_claims dropped", LifecycleSchema.Version6),
    ];

    public static int LatestVersion => All[^1].Version;

    /// <summary>Applies every missing migration; returns the versions it applied.</summary>
    public static async Task<IReadOnlyList<int>> MigrateAsync(LifecycleDatabase database, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (database.Dialect == StoreDialect.Postgres)
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@key)", new { key = PostgresAdvisoryLockKey }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "CREATE TABLE IF NOT EXISTS lifecycle_schema_migrations (version integer primary key, name text not null, applied_at bigint not null)",
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            var applied = new List<int>();
            foreach (var migration in All)
            {
                await using var transaction = await BeginAsync(connection, database.Dialect, cancellationToken).ConfigureAwait(false);
                var done = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "SELECT count(*) FROM lifecycle_schema_migrations WHERE version = @v", new { v = migration.Version }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                if (done > 0)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var statement in migration.Statements(database.Dialect))
                {
                    await connection.ExecuteAsync(new CommandDefinition(statement, transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                }

                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO lifecycle_schema_migrations (version, name, applied_at) VALUES (@v, @n, @t)",
                    new { v = migration.Version, n = migration.Name, t = (timeProvider ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds() },
                    transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                applied.Add(migration.Version);
            }

            return applied;
        }
        finally
        {
            if (database.Dialect == StoreDialect.Postgres)
            {
                await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@key)", new { key = PostgresAdvisoryLockKey }, cancellationToken: CancellationToken.None)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The versions recorded as applied.</summary>
    public static async Task<IReadOnlyList<int>> AppliedVersionsAsync(LifecycleDatabase database, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var versions = await connection.QueryAsync<int>(new CommandDefinition(
            "SELECT version FROM lifecycle_schema_migrations ORDER BY version", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return versions.ToList();
    }

    private static async Task<DbTransaction> BeginAsync(DbConnection connection, StoreDialect dialect, CancellationToken cancellationToken)
    {
        if (dialect == StoreDialect.Sqlite && connection is Microsoft.Data.Sqlite.SqliteConnection sqlite)
        {
            // deferred: false takes the write lock at BEGIN, so two processes cannot both run one step.
            return sqlite.BeginTransaction(deferred: false);
        }

        return await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// Quartz's own standard schema for its ADO job store, taken from the Quartz assembly of the version we run (so the
/// tables always match the library), with our table prefix. Every statement is CREATE ... IF NOT EXISTS.
/// </summary>
internal static class QuartzSchema
{
    public static IReadOnlyList<string> Statements(StoreDialect dialect)
    {
        var resource = dialect == StoreDialect.Sqlite
            ? "Quartz.Impl.AdoJobStore.Schema.create_sqlite.sql"
            : "Quartz.Impl.AdoJobStore.Schema.create_postgres.sql";
        using var stream = typeof(Quartz.IJob).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the Quartz assembly has no schema resource {resource}");
        using var reader = new StreamReader(stream);
        var script = reader.ReadToEnd()
            .Replace("{0}", SchemaMigrator.QuartzTablePrefix, StringComparison.Ordinal)
            .Replace("{1}", SchemaMigrator.QuartzTablePrefix, StringComparison.Ordinal);
        return script.Split("\n--;;", StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(StripComments)
            .Where(s => s.Length > 0)
            .ToList();
    }

    private static string StripComments(string statement) =>
        string.Join('\n', statement.Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal))).Trim();
}

/// <summary>Our tables. Times are Unix milliseconds (bigint) and booleans integers, the same on both dialects.</summary>
internal static class LifecycleSchema
{
    /// <summary>
    /// The job that delivers an action (Quartz batch jobs until version 6; since then the Hangfire job id).
    /// </summary>
    public static IReadOnlyList<string> Version3(StoreDialect dialect) => ["ALTER TABLE actions ADD COLUMN job text NULL"];

    /// <summary>
    /// A hook record is written when the hook starts, so finished_at is null while it runs; it names the server process
    /// that owns it (host, boot, pid and start ticks) and the exec hook's process group (leader pid = group id, and its
    /// start ticks), so a restarted server finds and kills what a crash left running. SQLite cannot drop a NOT NULL:
    /// the table is rebuilt (inside the migration's transaction); PostgreSQL alters it in place.
    /// </summary>
    public static IReadOnlyList<string> Version4(StoreDialect dialect)
    {
        string[] added =
        [
            "started_at bigint null",
            "owner_host text null",
            "owner_boot_id text null",
            "owner_pid integer null",
            "owner_start_ticks bigint null",
            "process_group integer null",
            "process_start_ticks bigint null",
            "process_boot_id text null",
        ];
        const string runningIndex = "CREATE INDEX ix_hook_runs_running ON hook_runs (outcome, owner_host)";
        if (dialect == StoreDialect.Postgres)
        {
            return
            [
                "ALTER TABLE hook_runs ALTER COLUMN finished_at DROP NOT NULL",
                .. added.Select(column => "ALTER TABLE hook_runs ADD COLUMN " + column),
                "UPDATE hook_runs SET started_at = finished_at - duration_ms",
                runningIndex,
            ];
        }

        const string oldColumns = "id, action_id, stage, hook, outcome, attempts, exit_code, output, error, duration_ms, finished_at";
        return
        [
            $"""
            CREATE TABLE hook_runs_v4 (
              id text primary key,
              action_id text not null,
              stage text not null,
              hook text not null,
              outcome text not null,
              attempts integer not null,
              exit_code integer null,
              output text not null,
              error text null,
              duration_ms bigint not null,
              finished_at bigint null,
              {string.Join(",\n  ", added)}
            )
            """,
            $"INSERT INTO hook_runs_v4 ({oldColumns}, started_at) SELECT {oldColumns}, finished_at - duration_ms FROM hook_runs",
            "DROP TABLE hook_runs",
            "ALTER TABLE hook_runs_v4 RENAME TO hook_runs",
            "CREATE INDEX ix_hook_runs_action ON hook_runs (action_id)",
            runningIndex,
        ];
    }

    /// <summary>
    /// A row per paused policy: the store, not Quartz, says whether a policy may run, so a pause survives schedule
    /// edits (which rebuild triggers), restarts and the paths that bypass Quartz's pause (TriggerJob).
    /// </summary>
    public static IReadOnlyList<string> Version5(StoreDialect dialect) =>
    [
        """
        CREATE TABLE policy_pauses (
          policy text primary key,
          paused_at bigint not null,
          paused_by text not null
        )
        """,
    ];

    /// <summary>
    /// The run store is the one source of truth for actions: a delivery (a Hangfire job) runs an action only by claiming
    /// it with a lease (<c>lease_until</c>), so a duplicate or late delivery does nothing and a dead node's action is
    /// claimed again once its lease expires; <c>not_before</c> holds a retry or the next completion check. The token
    /// claims table was written but never read (the provider's token lookup is the guarantee): dropped.
    /// </summary>
    public static IReadOnlyList<string> Version6(StoreDialect dialect) =>
    [
        "ALTER TABLE actions ADD COLUMN lease_until bigint NULL",
        "ALTER TABLE actions ADD COLUMN not_before bigint NULL",
        "ALTER TABLE actions ADD COLUMN claim text NULL",
        "CREATE INDEX ix_actions_state ON actions (state)",
        "DROP TABLE token_claims",
    ];

    public static IReadOnlyList<string> Version2(StoreDialect dialect) =>
    [
        """
        CREATE TABLE policy_revisions (
          seq bigint primary key,
          revision text null,
          author text null,
          applied_at bigint not null,
          applied_by_node text not null,
          sources text not null,
          policy_names text not null,
          diff text not null
        )
        """,
        """
        CREATE TABLE runs (
          id text primary key,
          policy text not null,
          schedule text null,
          kind text not null,
          fire_time bigint null,
          started_at bigint not null,
          finished_at bigint null,
          state text not null,
          node text not null,
          actions_planned integer not null default 0,
          message text null
        )
        """,
        "CREATE INDEX ix_runs_policy_started ON runs (policy, started_at)",
        """
        CREATE TABLE actions (
          id text primary key,
          run_id text not null,
          policy text not null,
          schedule text null,
          kind text not null,
          region text not null,
          volume_ids text not null,
          snapshot_id text null,
          token text null,
          fire_time bigint null,
          state text not null,
          attempts integer not null default 0,
          result_snapshot_id text null,
          consistency text null,
          error text null,
          payload text not null,
          node text null,
          enqueued_at bigint not null,
          started_at bigint null,
          finished_at bigint null
        )
        """,
        "CREATE INDEX ix_actions_policy_state ON actions (policy, state)",
        "CREATE INDEX ix_actions_run ON actions (run_id)",
        """
        CREATE TABLE hook_runs (
          id text primary key,
          action_id text not null,
          stage text not null,
          hook text not null,
          outcome text not null,
          attempts integer not null,
          exit_code integer null,
          output text not null,
          error text null,
          duration_ms bigint not null,
          finished_at bigint not null
        )
        """,
        "CREATE INDEX ix_hook_runs_action ON hook_runs (action_id)",
        """
        CREATE TABLE audit_log (
          id text primary key,
          at bigint not null,
          actor text not null,
          event text not null,
          detail text not null
        )
        """,
        "CREATE INDEX ix_audit_at ON audit_log (at)",
        """
        CREATE TABLE token_claims (
          token text primary key,
          region text not null,
          action_id text not null,
          node text not null,
          claimed_at bigint not null,
          snapshot_id text null
        )
        """,
    ];
}
