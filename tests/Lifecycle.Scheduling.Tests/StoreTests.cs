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
            Assert.Equal([1, 2, 3], await SchemaMigrator.MigrateAsync(database));
            Assert.Empty(await SchemaMigrator.MigrateAsync(database));
            Assert.Equal([1, 2, 3], await SchemaMigrator.AppliedVersionsAsync(database));
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

        Assert.Equal([1, 2, 3], applied.SelectMany(a => a).Order());
        Assert.Equal([1, 2, 3], await SchemaMigrator.AppliedVersionsAsync(database));
        await using var connection = await database.OpenAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM information_schema.tables WHERE table_name = 'qrtz_triggers'"));
    }

    [Fact]
    public async Task ClaimToken_FromManyNodesAtOnce_HasExactlyOneWinner_OnPostgres()
    {
        using var postgres = PostgresServer.Start();
        var database = new LifecycleDatabase(StoreOptions.ForPostgres(postgres.Url));
        await SchemaMigrator.MigrateAsync(database);
        var store = new RunStore(database, TimeProvider.System);

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
}
