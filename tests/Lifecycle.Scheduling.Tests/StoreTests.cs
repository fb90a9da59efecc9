using Dapper;
using Lifecycle.EndToEnd.Tests;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Tests;

public sealed class StoreTests
{
    [Fact]
    public async Task Migrate_OnSqlite_AppliesEveryVersionOnce_AndTheQuartzTablesExist()
    {
        var directory = Path.Combine(Path.GetTempPath(), "lifecycle-store-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var database = new LifecycleDatabase(StoreOptions.From(directory, null));
            Assert.Equal([1, 2, 3, 4, 5, 6], await SchemaMigrator.MigrateAsync(database));
            Assert.Empty(await SchemaMigrator.MigrateAsync(database));
            Assert.Equal([1, 2, 3, 4, 5, 6], await SchemaMigrator.AppliedVersionsAsync(database));
            await using var connection = await database.OpenAsync();
            var tables = (await connection.QueryAsync<string>("SELECT name FROM sqlite_master WHERE type = 'table'")).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var table in new[] { "qrtz_job_details", "qrtz_triggers", "qrtz_fired_triggers", "qrtz_locks", "runs", "actions", "hook_runs", "audit_log", "policy_revisions", "policy_pauses" })
            {
                Assert.Contains(table, tables);
            }

            Assert.DoesNotContain("token_claims", tables); // dropped by version 6
            var columns = (await connection.QueryAsync<string>("SELECT name FROM pragma_table_info('actions')")).ToHashSet(StringComparer.Ordinal);
            Assert.Contains("lease_until", columns);
            Assert.Contains("not_before", columns);
            Assert.Contains("claim", columns);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Migrate_OnPostgres_FromThreeNodesAtOnce_AppliesEachVersionExactlyOnce()
    {
        using var postgres = PostgresServer.Start();
        var database = new LifecycleDatabase(StoreOptions.ForPostgres(postgres.Url));
        var applied = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => SchemaMigrator.MigrateAsync(database)));

        Assert.Equal([1, 2, 3, 4, 5, 6], applied.SelectMany(a => a).Order());
        Assert.Equal([1, 2, 3, 4, 5, 6], await SchemaMigrator.AppliedVersionsAsync(database));
        await using var connection = await database.OpenAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM information_schema.tables WHERE table_name = 'qrtz_triggers'"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM information_schema.tables WHERE table_name = 'token_claims'"));
        Assert.Equal(3, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'actions' AND column_name IN ('lease_until', 'not_before', 'claim')"));
    }

    [Fact]
    public async Task GroupCommittedClaimsAndFinishes_OnPostgres_ClaimEachActionOnce_AndCommitEveryOutcome()
    {
        using var postgres = PostgresServer.Start();
        var store = await MigratedStoreAsync(postgres);
        ActionRecord Create(string id) => new(
            id, "run-1", "p", "s", "create", "r1", ["vol-1"], null, "token-" + id, DateTimeOffset.UnixEpoch,
            ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UnixEpoch, null, null, "{}");
        var ids = Enumerable.Range(0, 40).Select(i => $"c{i}").ToList();
        await store.EnqueueActionsAsync([.. ids.Select(id => new EnqueueRequest(Create(id), false))]);

        // every action delivered twice at once: each is claimed by exactly one of its deliveries
        var claims = await Task.WhenAll(ids.Concat(ids).Select((id, i) => Task.Run(() => store.ClaimActionAsync(id, $"node-{i % 2}", TimeSpan.FromMinutes(1)))));
        Assert.Equal(ids.Order(), claims.Where(c => c is not null).Select(c => c!.Id).Order());

        await Task.WhenAll(ids.Take(30).Select(id => Task.Run(() => store.FinishActionAsync(id, ActionStates.Succeeded, "snap-" + id, null, null))));
        foreach (var id in ids)
        {
            var row = (await store.GetActionAsync(id))!;
            Assert.Equal(int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture) < 30 ? (ActionStates.Succeeded, "snap-" + id, 1) : (ActionStates.Running, null, 1),
                (row.State, row.ResultSnapshotId, row.Attempts));
        }
    }

    [Fact]
    public async Task Pause_OnPostgres_DefersQueuedActions_IsAuditedOnce_AndCreateFailuresAndRevisionsAreQueried()
    {
        using var postgres = PostgresServer.Start();
        var store = await MigratedStoreAsync(postgres);
        ActionRecord Create(string id, string policy) => new(
            id, "run-1", policy, "s", "create", "r1", ["vol-1"], null, "token-" + id, DateTimeOffset.UnixEpoch,
            ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UnixEpoch, null, null, "{}");
        await store.EnqueueActionsAsync([new EnqueueRequest(Create("held", "p1"), false), new EnqueueRequest(Create("free", "p2"), false)]);
        Assert.True(await store.SetPausedAsync("p1", paused: true, "t"));
        Assert.False(await store.SetPausedAsync("p1", paused: true, "t"));

        Assert.Null(await store.ClaimActionAsync("held", "n", TimeSpan.FromMinutes(1)));
        Assert.NotNull(await store.ClaimActionAsync("free", "n", TimeSpan.FromMinutes(1)));
        Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync("held"))!.State);
        Assert.Single(await store.ListAuditAsync(10), e => e.Event == "policy.paused");
        Assert.Equal(["p1"], (await store.ListPausesAsync()).Keys);

        await store.FinishActionAsync("free", ActionStates.Failed, null, null, "boom");
        Assert.Equal("p2", Assert.Single(await store.ListCreateFailuresAsync()).Policy);
        Assert.Equal(1, await store.AppendRevisionAsync(0, null, null, "n", [new PolicySource("a.yaml", "x")], ["a"], "added a"));
        Assert.Equal(2, await store.AppendRevisionAsync(1, null, null, "n", [], [], "removed a"));
        Assert.True(await store.HadPoliciesBeforeAsync(2));
        Assert.False(await store.HadPoliciesBeforeAsync(1));
    }

    [Fact]
    public async Task AppendRevision_TwoConcurrentAppliesOfTheSameBase_OnlyOneWins()
    {
        var directory = Path.Combine(Path.GetTempPath(), "lifecycle-store-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var database = new LifecycleDatabase(StoreOptions.From(directory, null));
            await SchemaMigrator.MigrateAsync(database);
            var store = new RunStore(database, TimeProvider.System);
            var first = await store.AppendRevisionAsync(0, "abc", "ana", "n1", [new PolicySource("a.yaml", "x")], ["a"], "added a");
            var second = await store.AppendRevisionAsync(0, "def", "bob", "n2", [new PolicySource("a.yaml", "y")], ["a"], "changed a");

            Assert.Equal(1, first);
            Assert.Null(second);
            var current = await store.CurrentRevisionAsync();
            Assert.Equal("abc", current!.Revision);
            Assert.Equal("x", current.Sources.Single().Text);
            Assert.Contains(await store.ListAuditAsync(10), e => e.Event == "policies.applied" && e.Actor == "ana");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Migrate_Version4_OnSqlite_KeepsTheHookRecordsOfAnOlderStore()
    {
        var directory = Path.Combine(Path.GetTempPath(), "lifecycle-store-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            await AssertVersion4KeepsOldHookRecordsAsync(new LifecycleDatabase(StoreOptions.From(directory, null)));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Migrate_Version4_OnPostgres_KeepsTheHookRecordsOfAnOlderStore()
    {
        using var postgres = PostgresServer.Start();
        await AssertVersion4KeepsOldHookRecordsAsync(new LifecycleDatabase(StoreOptions.ForPostgres(postgres.Url)));
    }

    /// <summary>Puts hook_runs back to its version 2 shape with one finished record, then migrates again.</summary>
    private static async Task AssertVersion4KeepsOldHookRecordsAsync(LifecycleDatabase database)
    {
        await SchemaMigrator.MigrateAsync(database);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("DROP TABLE hook_runs");
            foreach (var statement in LifecycleSchema.Version2(database.Dialect).Where(s => s.Contains("hook_runs", StringComparison.Ordinal)))
            {
                await connection.ExecuteAsync(statement);
            }

            await connection.ExecuteAsync(
                "INSERT INTO hook_runs (id, action_id, stage, hook, outcome, attempts, exit_code, output, error, duration_ms, finished_at) " +
                "VALUES ('old', 'a1', 'pre', 'exec freeze', 'succeeded', 1, 0, 'frozen', NULL, 4000, 10000)");
            // A store of version 3: no v4 hook columns, no v5 pause table, no v6 lease columns and still token claims.
            await connection.ExecuteAsync("DROP TABLE policy_pauses");
            await connection.ExecuteAsync("DROP INDEX ix_actions_state");
            await connection.ExecuteAsync("ALTER TABLE actions DROP COLUMN lease_until");
            await connection.ExecuteAsync("ALTER TABLE actions DROP COLUMN not_before");
            await connection.ExecuteAsync("ALTER TABLE actions DROP COLUMN claim");
            foreach (var statement in LifecycleSchema.Version2(database.Dialect).Where(s => s.Contains("token_claims", StringComparison.Ordinal)))
            {
                await connection.ExecuteAsync(statement);
            }

            await connection.ExecuteAsync("DELETE FROM lifecycle_schema_migrations WHERE version >= 4");
        }

        Assert.Equal([4, 5, 6], await SchemaMigrator.MigrateAsync(database));

        var store = new RunStore(database, TimeProvider.System);
        var old = Assert.Single(await store.ListHooksAsync("a1"));
        Assert.Equal(("succeeded", "frozen", DateTimeOffset.FromUnixTimeMilliseconds(10000)), (old.Outcome, old.Output, old.FinishedAt!.Value));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(6000), old.StartedAt);

        // A record can now be written while its hook runs (no finished_at yet).
        var owner = new HookOwner("host-1", "boot-1", 42, 4242);
        await store.StartHookAsync(new HookRunRecord("new", "a1", "post", "exec thaw", HookRunStates.Running, 0, null, "", null, TimeSpan.Zero, null)
        {
            StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(20000),
            Owner = owner,
        });
        await store.SetHookProcessAsync("new", new HookProcessRecord(777, 123456, "boot-1"));
        var running = Assert.Single(await store.ListRunningHooksAsync("host-1"));
        Assert.Equal(("new", (DateTimeOffset?)null, owner, new HookProcessRecord(777, 123456, "boot-1")), (running.Id, running.FinishedAt, running.Owner, running.Process));
        Assert.Empty(await store.ListRunningHooksAsync("host-2"));
        Assert.True(await store.CloseHookAsync("new", HookRunStates.Interrupted, "server gone"));
        Assert.False(await store.CloseHookAsync("new", HookRunStates.Killed, "twice"));
        Assert.Equal(HookRunStates.Interrupted, (await store.ListHooksAsync("a1")).Single(h => h.Id == "new").Outcome);
    }

    private static async Task<RunStore> MigratedStoreAsync(PostgresServer postgres)
    {
        var database = new LifecycleDatabase(StoreOptions.ForPostgres(postgres.Url));
        await SchemaMigrator.MigrateAsync(database);
        return new RunStore(database, TimeProvider.System);
    }
}
