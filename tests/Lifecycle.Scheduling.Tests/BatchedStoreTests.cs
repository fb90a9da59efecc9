using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// The store calls of the batched fire path: enqueuing a run's actions in one transaction follows the same rules as
/// one by one, an action job starts in one statement and never restarts a finished action, and the follow-up check
/// counts a run's unfinished and produced actions.
/// </summary>
public sealed class BatchedStoreTests : IAsyncLifetime
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-store-" + Guid.NewGuid().ToString("N")[..10]);
    private RunStore store = null!;

    public async Task InitializeAsync()
    {
        var database = new LifecycleDatabase(StoreOptions.From(directory, null));
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
    public async Task StartAction_MarksRunningOnce_AndReturnsNothingForAFinishedOrUnknownAction()
    {
        await store.EnqueueActionsAsync([new EnqueueRequest(Action("c1", "run-1", "create"), false)]);

        var started = await store.StartActionAsync("c1", "node-a");
        Assert.NotNull(started);
        Assert.Equal(ActionStates.Running, started.State);
        Assert.Equal(1, started.Attempts);
        Assert.Equal("node-a", started.Node);

        // a recovered job re-runs an action that was running when its node died
        var recovered = await store.StartActionAsync("c1", "node-b");
        Assert.Equal(2, recovered!.Attempts);

        await store.FinishActionAsync("c1", ActionStates.Succeeded, "snap-1", null, null);
        Assert.Null(await store.StartActionAsync("c1", "node-c"));
        Assert.Null(await store.StartActionAsync("missing", "node-c"));
        var finished = await store.GetActionAsync("c1");
        Assert.Equal(ActionStates.Succeeded, finished!.State);
        Assert.Equal(2, finished.Attempts);
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
    public async Task ClaimToken_ASecondClaim_ReturnsTheFirstOne()
    {
        await store.EnqueueActionsAsync([new EnqueueRequest(Action("action-1", "run-1", "create"), false)]);
        const string Token = "token-action-1";
        var first = await store.ClaimTokenAsync(Token, "r1", "action-1", "node-1");
        var second = await store.ClaimTokenAsync(Token, "r1", "action-2", "node-2");

        Assert.Equal(("action-1", "node-1"), (first.ActionId, first.Node));
        Assert.Equal(("action-1", "node-1"), (second.ActionId, second.Node));
        Assert.Null(second.SnapshotId);
        // the claim records its snapshot with the claiming action's outcome
        await store.FinishActionAsync("action-1", ActionStates.Succeeded, "snap-1", null, null);
        Assert.Equal("snap-1", (await store.ClaimTokenAsync(Token, "r1", "action-3", "node-3")).SnapshotId);
    }

    [Fact]
    public async Task StartActions_StartsOnlyWhatTheBatchOwns_ClaimsTheirTokens_AndAnActionJobCannotTakeThem()
    {
        await store.EnqueueActionsAsync([
            new EnqueueRequest(Action("c1", "run-1", "create") with { Job = "run-1/0" }, false),
            new EnqueueRequest(Action("c2", "run-1", "create") with { Job = "run-1/0" }, false),
            new EnqueueRequest(Action("c3", "run-1", "create") with { Job = "run-1/1" }, false),
        ]);

        // the action's own job (a retry, a resume) may not run what a batch owns
        Assert.Null(await store.StartActionAsync("c1", "node-a"));
        Assert.Empty(await store.StartActionsAsync(["c1", "c2"], "node-a", "run-1/1"));

        var started = await store.StartActionsAsync(["c1", "c2", "c3"], "node-a", "run-1/0");
        Assert.Equal(["c1", "c2"], started.Select(a => a.Id).Order());
        Assert.All(started, a => Assert.Equal((ActionStates.Running, 1, "node-a", "run-1/0"), (a.State, a.Attempts, a.Node, a.Job)));
        Assert.Equal("c1", (await store.ClaimTokenAsync("token-c1", "r1", "someone-else", "node-b")).ActionId);
        Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync("c3"))!.State);

        // a recovered batch (its node died) resumes its running actions; finished ones stay finished
        await store.FinishActionAsync("c1", ActionStates.Succeeded, "snap-1", null, null);
        var resumed = await store.StartActionsAsync(["c1", "c2"], "node-b", "run-1/0");
        Assert.Equal(("c2", 2, "node-b"), (resumed.Single().Id, resumed.Single().Attempts, resumed.Single().Node));

        // once its batch is gone, an action is given to a job of its own
        Assert.True(await store.DetachActionFromBatchAsync("c2"));
        Assert.False(await store.DetachActionFromBatchAsync("c1"));
        Assert.Equal(3, (await store.StartActionAsync("c2", "node-b"))!.Attempts);
    }

    [Fact]
    public async Task FinishAction_ManyAtOnce_CommitsEveryOutcome_AndRecordsEachSnapshotOnItsClaim()
    {
        var ids = Enumerable.Range(0, 200).Select(i => $"c{i}").ToList();
        await store.EnqueueActionsAsync([.. ids.Select(id => new EnqueueRequest(Action(id, "run-1", "create") with { Job = "run-1/0" }, false))]);
        await store.StartActionsAsync(ids, "node-a", "run-1/0");

        await Task.WhenAll(ids.Select((id, i) => Task.Run(() => i % 10 == 0
            ? store.FinishActionAsync(id, ActionStates.Failed, null, null, "boom " + id)
            : store.FinishActionAsync(id, ActionStates.Succeeded, "snap-" + id, "application", null))));

        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            var action = (await store.GetActionAsync(id))!;
            var claim = await store.ClaimTokenAsync("token-" + id, "r1", "other", "node-b");
            if (i % 10 == 0)
            {
                Assert.Equal((ActionStates.Failed, "boom " + id, (string?)null), (action.State, action.Error, claim.SnapshotId));
            }
            else
            {
                Assert.Equal((ActionStates.Succeeded, "snap-" + id, "snap-" + id), (action.State, action.ResultSnapshotId, claim.SnapshotId));
            }
        }

        Assert.Equal(new RunProgress(0, true), await store.GetRunProgressAsync("run-1"));
    }
}
