using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// The store calls of the batched fire path: enqueuing a run's actions in one transaction follows the same rules as
/// one by one, group-committed claims and outcomes of many actions at once are each written, and the follow-up check
/// counts a run's unfinished and produced actions. (The leased claim itself: <see cref="LeasedClaimTests"/>.)
/// </summary>
public sealed class BatchedStoreTests : IAsyncLifetime
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-store-" + Guid.NewGuid().ToString("N")[..10]);
    private LifecycleDatabase database = null!;
    private RunStore store = null!;

    public async Task InitializeAsync()
    {
        database = new LifecycleDatabase(StoreOptions.From(directory, null));
        await SchemaMigrator.MigrateAsync(database);
        store = new RunStore(database, TimeProvider.System);
    }

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    private static ActionRecord Action(string id, string runId, string kind) => new(
        id, runId, "p", "s", kind, "r1", ["vol-1"], null, kind == "create" ? "token-" + id : null, DateTimeOffset.UnixEpoch,
        ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UnixEpoch, null, null, "{}");

    [Fact]
    public async Task EnqueueActions_QueuesNewOnes_AndNeverRequeuesAFinishedCreate()
    {
        var first = await store.EnqueueActionsAsync([
            new EnqueueRequest(Action("c1", "run-1", "create"), RequeueFinished: false),
            new EnqueueRequest(Action("c2", "run-1", "create"), RequeueFinished: false),
            new EnqueueRequest(Action("d1", "run-1", "delete"), RequeueFinished: true),
        ]);
        Assert.All(first, r => Assert.True(r.Queued));
        Assert.Equal(["c1", "c2", "d1"], first.Select(r => r.Id));

        await store.FinishActionAsync("c1", ActionStates.Succeeded, "snap-1", "application", null);
        await store.FinishActionAsync("d1", ActionStates.Failed, null, null, "boom");

        var again = (await store.EnqueueActionsAsync([
            new EnqueueRequest(Action("c1", "run-2", "create"), RequeueFinished: false),
            new EnqueueRequest(Action("c2", "run-2", "create"), RequeueFinished: false),
            new EnqueueRequest(Action("d1", "run-2", "delete"), RequeueFinished: true),
        ])).ToDictionary(r => r.Id);

        Assert.Equal(new EnqueueResult("c1", Queued: false, Unfinished: false), again["c1"]); // done: never created twice
        Assert.Equal(new EnqueueResult("c2", Queued: false, Unfinished: true), again["c2"]);  // still queued: keeps its job
        Assert.Equal(new EnqueueResult("d1", Queued: true, Unfinished: false), again["d1"]);  // failed delete: tried again
        Assert.Equal("run-2", (await store.GetActionAsync("d1"))!.RunId);
        Assert.Equal("run-1", (await store.GetActionAsync("c2"))!.RunId);
        Assert.Equal(ActionStates.Succeeded, (await store.GetActionAsync("c1"))!.State);
    }

    [Fact]
    public async Task EnqueueActions_ARequeuedFailedAction_StartsAfresh_WithoutItsOldJobLeaseOrRetryTime()
    {
        await store.EnqueueActionsAsync([new EnqueueRequest(Action("d1", "run-1", "delete") with { Job = "job-1" }, true)]);
        Assert.NotNull(await store.ClaimActionAsync("d1", "node-a", TimeSpan.FromMinutes(5)));
        await store.ReleaseActionAsync("d1", ActionStates.Enqueued, DateTimeOffset.UtcNow + TimeSpan.FromMinutes(5), "throttled");
        Assert.NotNull((await store.GetActionAsync("d1"))!.NotBefore);
        await store.FinishActionAsync("d1", ActionStates.Failed, null, null, "boom");

        var again = Assert.Single(await store.EnqueueActionsAsync([new EnqueueRequest(Action("d1", "run-2", "delete"), true)]));

        Assert.True(again.Queued);
        var row = (await store.GetActionAsync("d1"))!;
        Assert.Equal((ActionStates.Enqueued, "run-2", (string?)null, (DateTimeOffset?)null, (DateTimeOffset?)null, (string?)null),
            (row.State, row.RunId, row.Job, row.LeaseUntil, row.NotBefore, row.Error));
        Assert.Equal(2, (await store.ClaimActionAsync("d1", "node-b", TimeSpan.FromMinutes(5)))!.Attempts);
    }

    [Fact]
    public async Task RunProgress_CountsUnfinished_AndWhetherACreateOrCopySucceeded()
    {
        Assert.Equal(new RunProgress(0, false), await store.GetRunProgressAsync("run-1"));
        await store.EnqueueActionsAsync([
            new EnqueueRequest(Action("c1", "run-1", "create"), false),
            new EnqueueRequest(Action("c2", "run-1", "create"), false),
            new EnqueueRequest(Action("x1", "run-other", "create"), false),
        ]);
        Assert.Equal(new RunProgress(2, false), await store.GetRunProgressAsync("run-1"));

        await store.FinishActionAsync("c1", ActionStates.Failed, null, null, "boom");
        Assert.Equal(new RunProgress(1, false), await store.GetRunProgressAsync("run-1"));

        await store.FinishActionAsync("c2", ActionStates.Succeeded, "snap-2", null, null);
        Assert.Equal(new RunProgress(0, true), await store.GetRunProgressAsync("run-1"));
    }

    [Fact]
    public async Task FinishAction_ManyOfARunAtOnce_ReportTheFinishedRunWithOneOutcome_AndALateOneReportsNothing()
    {
        var runs = new[] { "run-1", "run-2" };
        var ids = runs.SelectMany(run => Enumerable.Range(0, 60).Select(i => (Run: run, Id: $"{run}-c{i}"))).ToList();
        await store.EnqueueActionsAsync([.. ids.Select(a => new EnqueueRequest(Action(a.Id, a.Run, "create"), false))]);

        // The store's writer is busy while all 120 outcomes arrive: the first is written alone, the other 119 together.
        List<Task<FinishResult>> finishing;
        await using (await database.EnterWriteAsync())
        {
            finishing = [.. ids.Select(a => store.FinishActionAsync(a.Id, ActionStates.Succeeded, "snap-" + a.Id, null, null))];
        }

        var results = ids.Zip(await Task.WhenAll(finishing), (a, result) => (a.Run, Result: result)).ToList();

        Assert.All(results, r => Assert.True(r.Result.Finished));
        List<RunProgress> Reports(string run) => [.. results.Where(r => r.Run == run && r.Result.RunProgress is not null).Select(r => r.Result.RunProgress!)];

        // The first batch (run-1's first outcome) reports run-1 unfinished; of the 119 outcomes written together, one
        // reports each run, finished.
        Assert.Equal([new RunProgress(59, true), new RunProgress(0, true)], Reports("run-1"));
        Assert.Equal([new RunProgress(0, true)], Reports("run-2"));

        // A late delivery's outcome for a finished action writes nothing and reports nothing.
        Assert.Equal(new FinishResult(false, null), await store.FinishActionAsync("run-1-c0", ActionStates.Failed, null, null, "late"));
        Assert.Equal(ActionStates.Succeeded, (await store.GetActionAsync("run-1-c0"))!.State);
    }

    [Fact]
    public async Task StoreConnections_AreInWalMode_WithForeignKeysAndTheWriterSettings_OnEveryOpen()
    {
        // No pooled connection left from the set-up: the first open below makes a new native connection.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        for (var open = 0; open < 3; open++)
        {
            // The first open makes a native connection; the next ones get it back from the pool.
            await using var connection = await database.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT foreign_keys FROM pragma_foreign_keys), " +
                "(SELECT synchronous FROM pragma_synchronous), (SELECT timeout FROM pragma_busy_timeout)";
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(("wal", 1L, 1L, (long)TunedSqliteConnection.BusyTimeoutMilliseconds),
                (reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        }
    }

    [Fact]
    public async Task FinishAction_ManyAtOnce_CommitsEveryOutcome_OfClaimedActions()
    {
        var ids = Enumerable.Range(0, 200).Select(i => $"c{i}").ToList();
        await store.EnqueueActionsAsync([.. ids.Select(id => new EnqueueRequest(Action(id, "run-1", "create"), false))]);
        var claimed = await Task.WhenAll(ids.Select(id => Task.Run(() => store.ClaimActionAsync(id, "node-a", TimeSpan.FromMinutes(1)))));
        Assert.All(claimed, a => Assert.Equal(ActionStates.Running, a?.State));

        await Task.WhenAll(ids.Select((id, i) => Task.Run(() => i % 10 == 0
            ? store.FinishActionAsync(id, ActionStates.Failed, null, null, "boom " + id)
            : store.FinishActionAsync(id, ActionStates.Succeeded, "snap-" + id, "application", null))));

        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            var action = (await store.GetActionAsync(id))!;
            Assert.Null(action.LeaseUntil);
            Assert.NotNull(action.FinishedAt);
            if (i % 10 == 0)
            {
                Assert.Equal((ActionStates.Failed, "boom " + id, (string?)null), (action.State, action.Error, action.ResultSnapshotId));
            }
            else
            {
                Assert.Equal((ActionStates.Succeeded, "snap-" + id, "application"), (action.State, action.ResultSnapshotId, action.Consistency));
            }
        }

        Assert.Equal(new RunProgress(0, true), await store.GetRunProgressAsync("run-1"));
    }
}
