using Lifecycle.EndToEnd.Tests;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// The run store's leased claim decides who runs an action, whatever the delivery system does (duplicate, late or
/// concurrent deliveries). Every node is its own <see cref="RunStore"/> over its own <see cref="LifecycleDatabase"/>
/// (its own writer gate and group commit, as separate processes have), all on one clock that the test moves. The same
/// scenarios run on a SQLite file and on a real PostgreSQL.
/// </summary>
public abstract class LeasedClaimTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider time = new(Start);
    private StoreOptions options = null!;
    private RunStore store = null!;

    /// <summary>A new, empty store of the dialect.</summary>
    protected abstract Task<StoreOptions> CreateStoreAsync();

    protected virtual Task DropStoreAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        options = await CreateStoreAsync();
        await SchemaMigrator.MigrateAsync(new LifecycleDatabase(options));
        store = Node();
    }

    public Task DisposeAsync() => DropStoreAsync();

    /// <summary>Another node: its own database object and store on the same data and clock.</summary>
    private RunStore Node() => new(new LifecycleDatabase(options), time);

    private DateTimeOffset Now => time.GetUtcNow();

    private async Task EnqueueAsync(params (string Id, string Policy)[] actions) =>
        await store.EnqueueActionsAsync([.. actions.Select(a => new EnqueueRequest(new ActionRecord(
            a.Id, "run-1", a.Policy, "s1", "create", "r1", ["vol-" + a.Id], null, "token-" + a.Id, Start,
            ActionStates.Enqueued, 0, null, null, null, null, Start, null, null, "{}"), RequeueFinished: false))]);

    private async Task<ActionRecord> RowAsync(string id) => (await store.GetActionAsync(id))!;

    [Fact]
    public async Task TwoConcurrentClaims_OfOneAction_ExactlyOneWins()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"c{i}").ToList();
        await EnqueueAsync([.. ids.Select(id => (id, "p1"))]);
        var a = Node();
        var b = Node();

        foreach (var id in ids)
        {
            var claims = await Task.WhenAll(Task.Run(() => a.ClaimActionAsync(id, "node-a", Lease)), Task.Run(() => b.ClaimActionAsync(id, "node-b", Lease)));

            var winner = Assert.Single(claims, c => c is not null)!;
            Assert.Equal((ActionStates.Running, 1, Now + Lease), (winner.State, winner.Attempts, winner.LeaseUntil));
            var row = await RowAsync(id);
            Assert.Equal((ActionStates.Running, 1, winner.Node, Now + Lease), (row.State, row.Attempts, row.Node, row.LeaseUntil));
        }
    }

    [Fact]
    public async Task TwentyConcurrentClaims_FromTwentyNodes_OneWins_AndTwentyThroughOneNode_OneWins()
    {
        await EnqueueAsync(("spread", "p1"), ("local", "p1"));
        var nodes = Enumerable.Range(0, 20).Select(_ => Node()).ToList();
        using var go = new ManualResetEventSlim();

        var tasks = nodes.Select((node, i) => Task.Run(async () =>
        {
            go.Wait();
            return await node.ClaimActionAsync("spread", $"node-{i}", Lease);
        })).ToList();
        go.Set();
        var spread = await Task.WhenAll(tasks);
        var local = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => store.ClaimActionAsync("local", $"node-{i}", Lease))));

        var winner = Assert.Single(spread, c => c is not null)!;
        Assert.Equal((winner.Node, 1), ((await RowAsync("spread")).Node, (await RowAsync("spread")).Attempts));
        var localWinner = Assert.Single(local, c => c is not null)!;
        Assert.Equal((localWinner.Node, 1), ((await RowAsync("local")).Node, (await RowAsync("local")).Attempts));
    }

    [Fact]
    public async Task AClaimWhileAnotherNodesLeaseIsUnexpired_GetsNothing_AndOnceItExpired_TakesTheActionOver_AndTheOldHolderCannotWrite()
    {
        await EnqueueAsync(("c1", "p1"));
        var a = Node();
        var b = Node();
        var first = await a.ClaimActionAsync("c1", "node-a", Lease);
        Assert.NotNull(first);

        time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.Null(await b.ClaimActionAsync("c1", "node-b", Lease));
        time.Advance(TimeSpan.FromSeconds(1)); // exactly at the end of the lease: still held
        Assert.Null(await b.ClaimActionAsync("c1", "node-b", Lease));
        Assert.Equal(("node-a", 1), ((await RowAsync("c1")).Node, (await RowAsync("c1")).Attempts));

        time.Advance(TimeSpan.FromMilliseconds(1));
        var taken = await b.ClaimActionAsync("c1", "node-b", Lease);

        Assert.NotNull(taken);
        Assert.Equal((ActionStates.Running, 2, "node-b", Now + Lease), (taken.State, taken.Attempts, taken.Node, taken.LeaseUntil));
        Assert.NotEqual(first.Claim, taken.Claim);

        // the node that lost it cannot renew it any more, nor record an outcome over the new holder's; the new holder can
        Assert.False(await a.RenewLeaseAsync("c1", first.Claim!, Lease));
        await a.FinishActionAsync("c1", ActionStates.Failed, null, null, "late failure", first.Claim);
        await a.MarkCompletingAsync("c1", "snap-late", null, "late", claim: first.Claim);
        await a.ReleaseActionAsync("c1", ActionStates.Enqueued, Now + Lease, "late release", first.Claim);
        var row = await RowAsync("c1");
        Assert.Equal((ActionStates.Running, (string?)null, (string?)null, "node-b"), (row.State, row.ResultSnapshotId, row.Error, row.Node));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await b.RenewLeaseAsync("c1", taken.Claim!, Lease));
        Assert.Equal(Now + Lease, (await RowAsync("c1")).LeaseUntil);
        Assert.Null(await a.ClaimActionAsync("c1", "node-a", Lease));
        await b.FinishActionAsync("c1", ActionStates.Succeeded, "snap-1", null, null, taken.Claim);
        Assert.Equal((ActionStates.Succeeded, "snap-1"), ((await RowAsync("c1")).State, (await RowAsync("c1")).ResultSnapshotId));
    }

    [Fact]
    public async Task AFinishedAction_IsNeverClaimed_AndALateFinishDoesNotOverwriteIt()
    {
        await EnqueueAsync(("c1", "p1"), ("c2", "p1"));
        Assert.NotNull(await store.ClaimActionAsync("c1", "node-a", Lease));
        await store.FinishActionAsync("c1", ActionStates.Succeeded, "snap-1", "application", null);
        await store.FinishActionAsync("c2", ActionStates.Failed, null, null, "boom"); // finished without a claim

        time.Advance(Lease * 10);
        Assert.Null(await Node().ClaimActionAsync("c1", "node-b", Lease));
        Assert.Null(await Node().ClaimActionAsync("c2", "node-b", Lease));
        Assert.Null(await Node().ClaimActionAsync("missing", "node-b", Lease));

        // a late delivery's outcome, a late release or completing mark: none rewrites the recorded outcome
        await Node().FinishActionAsync("c1", ActionStates.Failed, "snap-other", "crash", "late");
        await store.ReleaseActionAsync("c1", ActionStates.Enqueued, Now + Lease, "late release");
        await store.MarkCompletingAsync("c1", "snap-other", "crash", "late mark");
        var row = await RowAsync("c1");
        Assert.Equal((ActionStates.Succeeded, "snap-1", "application", (string?)null, 1), (row.State, row.ResultSnapshotId, row.Consistency, row.Error, row.Attempts));
        Assert.Equal((ActionStates.Failed, "boom"), ((await RowAsync("c2")).State, (await RowAsync("c2")).Error));
    }

    [Fact]
    public async Task AReleasedAction_IsNotClaimedBeforeItsNotBefore_ThenIsClaimableAgain()
    {
        await EnqueueAsync(("c1", "p1"));
        Assert.NotNull(await store.ClaimActionAsync("c1", "node-a", Lease));
        await store.ReleaseActionAsync("c1", ActionStates.Enqueued, Now + TimeSpan.FromMinutes(1), "SnapshotCreationPerVolumeRateExceeded");

        var released = await RowAsync("c1");
        Assert.Equal((ActionStates.Enqueued, (DateTimeOffset?)null, Now + TimeSpan.FromMinutes(1)), (released.State, released.LeaseUntil, released.NotBefore));
        Assert.Equal("SnapshotCreationPerVolumeRateExceeded", released.Error);
        Assert.Null(await Node().ClaimActionAsync("c1", "node-b", Lease));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Null(await Node().ClaimActionAsync("c1", "node-b", Lease));

        time.Advance(TimeSpan.FromSeconds(1));
        var again = await Node().ClaimActionAsync("c1", "node-b", Lease);

        Assert.NotNull(again);
        Assert.Equal((ActionStates.Running, 2, "node-b"), (again.State, again.Attempts, again.Node));
    }

    [Fact]
    public async Task APausedPolicysQueuedAction_IsNotClaimed_ButItsInterruptedRunningOneIs_AndResumeMakesTheQueuedOneClaimable()
    {
        await EnqueueAsync(("held", "p1"), ("interrupted", "p1"), ("free", "p2"));
        Assert.NotNull(await store.ClaimActionAsync("interrupted", "node-a", Lease)); // running when the pause came; its node then died
        Assert.True(await store.SetPausedAsync("p1", paused: true, "tester"));

        Assert.Null(await Node().ClaimActionAsync("held", "node-b", Lease));
        Assert.Equal((ActionStates.Enqueued, 0), ((await RowAsync("held")).State, (await RowAsync("held")).Attempts));
        Assert.NotNull(await Node().ClaimActionAsync("free", "node-b", Lease));
        time.Advance(Lease + TimeSpan.FromSeconds(1));
        var resumed = await Node().ClaimActionAsync("interrupted", "node-b", Lease); // its hooks may have run: it finishes
        Assert.Equal((ActionStates.Running, 2), (resumed!.State, resumed.Attempts));
        Assert.Null(await Node().ClaimActionAsync("held", "node-b", Lease));

        Assert.True(await store.SetPausedAsync("p1", paused: false, "tester"));
        var held = await Node().ClaimActionAsync("held", "node-b", Lease);
        Assert.Equal((ActionStates.Running, 1), (held!.State, held.Attempts));
    }

    [Fact]
    public async Task AClaimKeptWhileFollowingACompletion_ContinuesUnderTheSameClaim_UntilItsLeaseRunsOutAndAnotherNodeTakesIt()
    {
        await EnqueueAsync(("c1", "p1"));
        var a = Node();
        var first = await a.ClaimActionAsync("c1", "node-a", Lease);
        await a.MarkCompletingAsync("c1", "snap-1", null, "accepted", first!.Claim, Lease);

        var following = await RowAsync("c1");
        Assert.Equal((ActionStates.Completing, first.Claim, Now + Lease), (following.State, following.Claim, following.LeaseUntil));
        Assert.Null(await Node().ClaimActionAsync("c1", "node-b", Lease));
        Assert.Null(await Node().ClaimActionAsync("c1", "node-b", Lease, heldClaim: "not-the-claim"));

        time.Advance(TimeSpan.FromSeconds(20));
        var check = await a.ClaimActionAsync("c1", "node-a", Lease, heldClaim: first.Claim); // the follower checks under its claim

        Assert.Equal((ActionStates.Completing, first.Claim, Now + Lease, 1), (check!.State, check.Claim, check.LeaseUntil, check.Attempts));

        time.Advance(Lease + TimeSpan.FromMilliseconds(1)); // the follower died
        var taken = await Node().ClaimActionAsync("c1", "node-b", Lease);
        Assert.NotNull(taken);
        Assert.NotEqual(first.Claim, taken.Claim);
        Assert.Null(await a.ClaimActionAsync("c1", "node-a", Lease, heldClaim: first.Claim));
        await a.FinishActionAsync("c1", ActionStates.Succeeded, null, null, "late", first.Claim);
        Assert.Equal((ActionStates.Completing, "node-b"), ((await RowAsync("c1")).State, (await RowAsync("c1")).Node));
    }

    [Fact]
    public async Task StrandedActions_AreThoseWhoseLeaseRanOut_OrThatHaveNeitherLeaseNorJob_OnceTheGraceIsOver()
    {
        var grace = TimeSpan.FromMinutes(1);
        await EnqueueAsync(("running", "p1"), ("following", "p1"), ("renewed", "p1"), ("no-job", "p1"), ("with-job", "p1"), ("paused", "p2"), ("released", "p1"), ("done", "p1"));
        await store.SetJobsAsync([("with-job", "hf-1")]);
        var running = await store.ClaimActionAsync("running", "node-a", Lease);
        var following = await store.ClaimActionAsync("following", "node-a", Lease);
        await store.MarkCompletingAsync("following", "snap-f", null, "accepted", following!.Claim, Lease);
        var renewed = await store.ClaimActionAsync("renewed", "node-a", Lease);
        var released = await store.ClaimActionAsync("released", "node-a", Lease);
        await store.ReleaseActionAsync("released", ActionStates.Enqueued, Now + TimeSpan.FromMinutes(2), "limit", released!.Claim);
        var done = await store.ClaimActionAsync("done", "node-a", Lease);
        await store.FinishActionAsync("done", ActionStates.Failed, null, null, "boom", done!.Claim);
        await store.SetPausedAsync("p2", paused: true, "tester");
        async Task<List<string>> StrandedAsync() => [.. (await store.ListStrandedActionsAsync(grace, 100)).Select(a => a.Id).Order(StringComparer.Ordinal)];

        time.Advance(grace - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await StrandedAsync());
        Assert.True(await store.RenewLeaseAsync("renewed", renewed!.Claim!, Lease));

        time.Advance(TimeSpan.FromMilliseconds(2)); // the queued action without a job has waited out the grace
        Assert.Equal(["no-job"], await StrandedAsync());

        time.Advance(Lease); // the leases not renewed ran out a grace ago
        Assert.Equal(["following", "no-job", "running"], await StrandedAsync());

        time.Advance(TimeSpan.FromSeconds(90)); // the released one has been due for a grace, and the renewed lease ran out a grace ago
        Assert.Equal(["following", "no-job", "released", "renewed", "running"], await StrandedAsync());

        // delivered again: each has a job now, and a lease that ran out is cleared with it; the paused and the finished wait
        await store.SetJobsAsync([("following", "hf-2"), ("no-job", "hf-3"), ("released", "hf-4"), ("renewed", "hf-5"), ("running", "hf-6")]);
        Assert.Empty(await StrandedAsync());
        Assert.Equal(((DateTimeOffset?)null, "hf-6", ActionStates.Running, running!.Claim), ((await RowAsync("running")).LeaseUntil, (await RowAsync("running")).Job, (await RowAsync("running")).State, (await RowAsync("running")).Claim));
        Assert.NotNull(await Node().ClaimActionAsync("running", "node-b", Lease));
    }

    [Fact]
    public async Task ANodesNextLife_EndsTheLeasesItsLastLifeHeld_NotItsOwnNorAnotherNodes()
    {
        await EnqueueAsync(("last-life", "p1"), ("following", "p1"), ("this-life", "p1"), ("other-node", "p1"), ("queued", "p1"));
        Assert.NotNull(await store.ClaimActionAsync("last-life", "node-a", Lease));
        var following = await store.ClaimActionAsync("following", "node-a", Lease);
        await store.MarkCompletingAsync("following", "snap-f", null, "accepted", following!.Claim, Lease);
        Assert.NotNull(await store.ClaimActionAsync("other-node", "node-b", Lease));
        // the previous process's claims: not made by this one (as a restarted node sees them)
        await using (var connection = await new LifecycleDatabase(options).OpenAsync())
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE actions SET claim = 'gone-' || id WHERE id IN ('last-life', 'following', 'other-node')");
        }

        var mine = await store.ClaimActionAsync("this-life", "node-a", Lease);

        Assert.Equal(2, await store.ReleaseLeftoverLeasesAsync("node-a"));
        Assert.Null((await RowAsync("last-life")).LeaseUntil);
        Assert.Equal(ActionStates.Completing, (await RowAsync("following")).State);
        Assert.Null((await RowAsync("following")).LeaseUntil);
        Assert.Equal(Now + Lease, (await RowAsync("this-life")).LeaseUntil);
        Assert.Equal(Now + Lease, (await RowAsync("other-node")).LeaseUntil);
        Assert.NotNull(await Node().ClaimActionAsync("last-life", "node-a", Lease)); // claimed again at once
        Assert.Null(await Node().ClaimActionAsync("this-life", "node-a", Lease));
        Assert.True(await store.RenewLeaseAsync("this-life", mine!.Claim!, Lease));

        // The embedded store (no node: one server at a time, whose default name changes with its process id): every
        // lease this process did not make ends, whatever node name it was taken under.
        Assert.Equal(1, await store.ReleaseLeftoverLeasesAsync(null));
        Assert.Null((await RowAsync("other-node")).LeaseUntil);
        Assert.Equal(Now + Lease, (await RowAsync("this-life")).LeaseUntil);
    }

    [Fact]
    public async Task RunsAStoppedProcessLeftRunning_AreEndedAsFailed_ByItsNodesNextStart_OrAfterAnHourForANodeThatNeverCameBack()
    {
        async Task StartAsync(string id, string node) =>
            await store.StartRunAsync(new RunRecord(id, "p1", "s1", "fire", Start, Now, null, RunStates.Running, node, 0, null));
        async Task<(string State, string? Message)> StateAsync(string id) => ((await store.GetRunAsync(id))!.State, (await store.GetRunAsync(id))!.Message);
        await StartAsync("killed", "node-a");
        await StartAsync("other-node", "node-b");
        await StartAsync("done", "node-a");
        await store.FinishRunAsync("done", RunStates.Succeeded, 3, null);
        time.Advance(TimeSpan.FromSeconds(5));
        var restartedAt = Now;
        await StartAsync("after-restart", "node-a");

        Assert.Equal(1, await store.CloseInterruptedRunsAsync("node-a", restartedAt));

        Assert.Equal((RunStates.Failed, "interrupted: the server stopped before the run ended"), await StateAsync("killed"));
        Assert.Equal(RunStates.Running, (await StateAsync("other-node")).State);
        Assert.Equal(RunStates.Running, (await StateAsync("after-restart")).State);
        Assert.Equal(RunStates.Succeeded, (await StateAsync("done")).State);
        Assert.Equal(0, await store.CloseInterruptedRunsAsync(null, Now - TimeSpan.FromHours(1)));

        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, await store.CloseInterruptedRunsAsync(null, Now - TimeSpan.FromHours(1)));
        Assert.Equal((RunStates.Failed, "interrupted: its node stopped before the run ended"), await StateAsync("other-node"));
        Assert.Equal(RunStates.Running, (await StateAsync("after-restart")).State);
    }

    [Fact]
    public async Task ACompletingAction_IsClaimedForACheck_StaysCompleting_AndKeepsItsAttempts()
    {
        await EnqueueAsync(("c1", "p1"));
        Assert.NotNull(await store.ClaimActionAsync("c1", "node-a", Lease));
        await store.MarkCompletingAsync("c1", "snap-1,snap-2", "application", "accepted");
        var completing = await RowAsync("c1");
        Assert.Equal((ActionStates.Completing, "snap-1,snap-2", (DateTimeOffset?)null, 1), (completing.State, completing.ResultSnapshotId, completing.LeaseUntil, completing.Attempts));

        var check = await Node().ClaimActionAsync("c1", "node-b", Lease);

        Assert.NotNull(check);
        Assert.Equal((ActionStates.Completing, 1, "snap-1,snap-2", "node-b", Now + Lease), (check.State, check.Attempts, check.ResultSnapshotId, check.Node, check.LeaseUntil));
        Assert.Equal(completing.StartedAt, check.StartedAt);
        Assert.Null(await Node().ClaimActionAsync("c1", "node-c", Lease)); // one check at a time

        // still pending: released until the next check, which stays a completing claim
        await Node().ReleaseActionAsync("c1", ActionStates.Completing, Now + TimeSpan.FromSeconds(15), null);
        Assert.Equal((ActionStates.Completing, "accepted"), ((await RowAsync("c1")).State, (await RowAsync("c1")).Error));
        Assert.Null(await Node().ClaimActionAsync("c1", "node-c", Lease));
        time.Advance(TimeSpan.FromSeconds(15));
        var next = await Node().ClaimActionAsync("c1", "node-c", Lease);
        Assert.Equal((ActionStates.Completing, 1), (next!.State, next.Attempts));

        await store.FinishActionAsync("c1", ActionStates.Succeeded, null, null, "accepted");
        var done = await RowAsync("c1");
        Assert.Equal((ActionStates.Succeeded, "snap-1,snap-2", (DateTimeOffset?)null, (DateTimeOffset?)null), (done.State, done.ResultSnapshotId, done.LeaseUntil, done.NotBefore));
    }
}

public sealed class SqliteLeasedClaimTests : LeasedClaimTests
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-claims-" + Guid.NewGuid().ToString("N")[..10]);

    protected override Task<StoreOptions> CreateStoreAsync() => Task.FromResult(StoreOptions.From(directory, null));

    protected override Task DropStoreAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>One PostgreSQL server for the class; each test gets a database of its own.</summary>
public sealed class PostgresLeasedClaimTests(PostgresFixture postgres) : LeasedClaimTests, IClassFixture<PostgresFixture>
{
    protected override Task<StoreOptions> CreateStoreAsync() => postgres.CreateDatabaseAsync();
}

/// <summary>A throwaway PostgreSQL (tests/postgres.sh) shared by a test class; a missing PostgreSQL fails loudly.</summary>
public sealed class PostgresFixture : IDisposable
{
    private readonly PostgresServer server = PostgresServer.Start();

    /// <summary>A new empty database on the server.</summary>
    public async Task<StoreOptions> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..12];
        var admin = StoreOptions.ForPostgres(server.Url);
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new StoreOptions(StoreDialect.Postgres, new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = name }.ConnectionString);
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        server.Dispose();
    }
}
