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
            Assert.Equal([1, 2, 3, 4, 5], await SchemaMigrator.MigrateAsync(database));
            Assert.Empty(await SchemaMigrator.MigrateAsync(database));
            Assert.Equal([1, 2, 3, 4, 5], await SchemaMigrator.AppliedVersionsAsync(database));
            await using var connection = await database.OpenAsync();
            var tables = (await connection.QueryAsync<string>("SELECT name FROM sqlite_master WHERE type = 'table'")).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var table in new[] { "qrtz_job_details", "qrtz_triggers", "qrtz_fired_triggers", "qrtz_locks", "runs", "actions", "hook_runs", "audit_log", "token_claims", "policy_revisions" })
            {
                Assert.Contains(table, tables);
            }
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

        Assert.Equal([1, 2, 3, 4, 5], applied.SelectMany(a => a).Order());
        Assert.Equal([1, 2, 3, 4, 5], await SchemaMigrator.AppliedVersionsAsync(database));
        await using var connection = await database.OpenAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM information_schema.tables WHERE table_name = 'qrtz_triggers'"));
    }

    [Fact]
    public async Task BatchStart_AndGroupCommittedFinishes_OnPostgres_StartOnlyTheBatchsActions_AndCommitEveryOutcome()
    {
        using var postgres = PostgresServer.Start();
        var store = await MigratedStoreAsync(postgres);
        ActionRecord Create(string id, string job) => new(
            id, "run-1", "p", "s", "create", "r1", ["vol-1"], null, "token-" + id, DateTimeOffset.UnixEpoch,
            ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UnixEpoch, null, null, "{}") { Job = job };
        var ids = Enumerable.Range(0, 40).Select(i => $"c{i}").ToList();
        await store.EnqueueActionsAsync([.. ids.Select((id, i) => new EnqueueRequest(Create(id, i < 30 ? "run-1/0" : "run-1/1"), false))]);

        var started = await store.StartActionsAsync(ids, "node-a", "run-1/0");
        Assert.Equal(ids.Take(30).Order(), started.Select(a => a.Id).Order());
        Assert.Equal("c0", (await store.ClaimTokenAsync("token-c0", "r1", "other", "node-b")).ActionId);
        Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync("c35"))!.State);

        await Task.WhenAll(started.Select(a => Task.Run(() => store.FinishActionAsync(a.Id, ActionStates.Succeeded, "snap-" + a.Id, null, null))));
        foreach (var id in ids.Take(30))
        {
            Assert.Equal((ActionStates.Succeeded, "snap-" + id), ((await store.GetActionAsync(id))!.State, (await store.ClaimTokenAsync("token-" + id, "r1", "x", "y")).SnapshotId));
        }
    }

    [Fact]
    public async Task Pause_OnPostgres_DefersQueuedActions_IsAuditedOnce_AndCreateFailuresAndRevisionsAreQueried()
    {
        using var postgres = PostgresServer.Start();
        var store = await MigratedStoreAsync(postgres);
        ActionRecord Create(string id, string policy) => new(
            id, "run-1", policy, "s", "create", "r1", ["vol-1"], null, "token-" + id, DateTimeOffset.UnixEpoch,
            ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UnixEpoch, null, null, "{}") { Job = "run-1/0" };
        await store.EnqueueActionsAsync([new EnqueueRequest(Create("held", "p1"), false), new EnqueueRequest(Create("free", "p2"), false)]);
        Assert.True(await store.SetPausedAsync("p1", paused: true, "t"));
        Assert.False(await store.SetPausedAsync("p1", paused: true, "t"));

        Assert.Equal(["free"], (await store.StartActionsAsync(["held", "free"], "n", "run-1/0")).Select(a => a.Id));
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
    public async Task ClaimToken_FromManyNodesAtOnce_HasExactlyOneWinner_OnPostgres()
    {
        using var postgres = PostgresServer.Start();
        var store = await MigratedStoreAsync(postgres);

        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => store.ClaimTokenAsync("lc-token", "r1", $"action-{i}", $"node-{i}")));

        Assert.Single(claims.Select(c => c.ActionId).Distinct());
        Assert.Single(claims.Select(c => c.Node).Distinct());
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
            // A store of version 3: no v4 hook columns and no v5 pause table yet.
            await connection.ExecuteAsync("DROP TABLE policy_pauses");
            await connection.ExecuteAsync("DELETE FROM lifecycle_schema_migrations WHERE version >= 4");
        }

        Assert.Contains(4, await SchemaMigrator.MigrateAsync(database));

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
