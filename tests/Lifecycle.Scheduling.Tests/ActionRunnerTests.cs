using Lifecycle.Testing.Waiting;
using System.Collections.Immutable;
using Hangfire;
using Hangfire.InMemory;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Quartz;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// Actions end to end in one process, without Hangfire workers: the dispatcher records the actions and creates their
/// jobs in a real Hangfire storage (in memory); the test then runs <see cref="ActionRunner.RunAsync"/> itself, as a
/// worker would for a job it fetched, and reads the jobs back from the storage. The store is a SQLite file, the
/// policy comes from an applied revision, follow-ups go to a real (never started) Quartz scheduler.
/// </summary>
public sealed class ActionRunnerTests : IAsyncLifetime
{
    /// <summary>A fire of this minute; the policy's schedule fires yearly, so a retry is never past the next fire.</summary>
    private static readonly DateTimeOffset Fire = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-runner-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly FakeProvider provider = new("r1");
    private readonly InMemoryStorage storage = new();
    private readonly HookRunner hooks = new(TimeProvider.System, TimeSpan.FromMilliseconds(1));
    private LifecycleDatabase database = null!;
    private RunStore store = null!;
    private ActionDispatcher dispatcher = null!;
    private AppliedPolicies applied = null!;
    private TestQuartz quartz = null!;
    private ActionRunner runner = null!;

    /// <summary>The applied revision's policy p1 (read when the revision is first parsed).</summary>
    private SnapshotPolicy policy = Policy();

    public async Task InitializeAsync()
    {
        database = new LifecycleDatabase(StoreOptions.From(directory, null));
        await SchemaMigrator.MigrateAsync(database);
        store = new RunStore(database, TimeProvider.System);
        dispatcher = new ActionDispatcher(store, new BackgroundJobClient(storage), TimeProvider.System);
        await store.AppendRevisionAsync(0, "rev-1", "tester", "node", [new PolicySource("p1.yaml", "p1")], ["p1"], "added p1");
        applied = new AppliedPolicies(store, new OnePolicyParser(() => policy));
        quartz = await TestQuartz.CreateAsync("p1");
        runner = Runner("node-a", store);
    }

    public async Task DisposeAsync()
    {
        await quartz.DisposeAsync();
        hooks.Dispose();
        storage.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>The runner of a node (its own store object: another process's view of the same file).</summary>
    private ActionRunner Runner(string node, RunStore nodeStore, TimeSpan? lease = null)
    {
        var executor = new ActionExecutor(provider, nodeStore, hooks, new HookLeftoverReaper(nodeStore, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance),
            TimeProvider.System,
            new ExecutorOptions
            {
                Retry = new ProviderRetryOptions { MaxRetries = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) },
                CompletionCheckWait = TimeSpan.FromMilliseconds(100),
                CompletionRecheckDelay = TimeSpan.FromMilliseconds(300),
            },
            NullLogger<ActionExecutor>.Instance);
        return new ActionRunner(nodeStore, executor, applied, dispatcher, quartz.Factory, new NodeIdentity(node),
            new Configuration.SchedulingOptions
            {
                Store = database.Options,
                ActionLease = lease ?? TimeSpan.FromSeconds(30),
                Executor = new ExecutorOptions { InProcessCompletionWait = TimeSpan.FromMilliseconds(200), CompletionRecheckDelay = TimeSpan.FromMilliseconds(300) },
            }, TimeProvider.System, NullLogger<ActionRunner>.Instance);
    }

    private static PlannedAction Create(string volume) => SchedulingTestData.Create(volume, Fire);

    private static PlannedAction Delete(string snapshot) =>
        new() { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = snapshot, Reason = "expired" };

    private async Task<ActionRecord> RowAsync(string id) => (await store.GetActionAsync(id))!;

    /// <summary>A Hangfire job as stored: the ActionJob method it calls, its action id, its state and queue (enqueued).</summary>
    private (string Method, string ActionId, string State, string? Queue) Job(string jobId)
    {
        using var connection = storage.GetConnection();
        var data = connection.GetJobData(jobId);
        var state = connection.GetStateData(jobId);
        Assert.Equal(typeof(ActionJob), data.Job.Type);
        return (data.Job.Method.Name, (string)data.Job.Args[0], state.Name, state.Data.TryGetValue("Queue", out var queue) ? queue : null);
    }

    /// <summary>The one-off triggers of the policy's Quartz job, by their mode (a follow-up run).</summary>
    private async Task<List<string?>> PolicyTriggersAsync() =>
        [.. (await quartz.Scheduler.GetTriggersOfJob(JobKeys.Policy("p1"))).Select(t => t.JobDataMap.GetString(JobKeys.Mode))];

    [Fact]
    public async Task Dispatcher_CreatesOneJobPerAction_OnTheQueueOfItsKind_AndRecordsItOnTheActionsRow()
    {
        var actions = new[] { Create("vol-1"), Create("vol-2"), Delete("snap-old") };

        Assert.Equal(3, await dispatcher.EnqueueManyAsync("run-1", actions));

        var jobs = new List<string>();
        foreach (var action in actions)
        {
            var id = ActionPayload.IdOf(action);
            var row = await RowAsync(id);
            Assert.Equal(ActionStates.Enqueued, row.State);
            Assert.NotNull(row.Job);
            var expected = action.Kind == ActionKind.Create ? ("Create", id, "Enqueued", "creates") : ("Delete", id, "Enqueued", "deletes");
            Assert.Equal(expected, Job(row.Job));
            jobs.Add(row.Job);
        }

        Assert.Equal(3, jobs.Distinct().Count());
        var monitoring = storage.GetMonitoringApi();
        Assert.Equal((2L, 1L), (monitoring.EnqueuedCount(ActionQueues.Creates), monitoring.EnqueuedCount(ActionQueues.Deletes)));

        // the same fire planned again before the jobs ran: nothing new is queued or delivered
        Assert.Equal(0, await dispatcher.EnqueueManyAsync("run-2", actions));
        Assert.Equal((2L, 1L), (monitoring.EnqueuedCount(ActionQueues.Creates), monitoring.EnqueuedCount(ActionQueues.Deletes)));
        Assert.Equal(jobs, await Task.WhenAll(actions.Select(async a => (await RowAsync(ActionPayload.IdOf(a))).Job!)));
    }

    [Fact]
    public async Task ADuplicateDelivery_MakesNoSecondSnapshot_AndReturnsNothingToDo()
    {
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);

        var first = await runner.RunAsync(id);
        var second = await runner.RunAsync(id);

        var snapshot = Assert.Single(provider.Snapshots);
        Assert.Equal($"succeeded {snapshot.Id}", first);
        Assert.Equal("nothing to do: action already succeeded", second);
        Assert.Equal(1, provider.CreateCalls);
        var row = await RowAsync(id);
        Assert.Equal((ActionStates.Succeeded, snapshot.Id, 1), (row.State, row.ResultSnapshotId, row.Attempts));
    }

    [Fact]
    public async Task TwoDeliveriesAtOnce_OnTwoNodes_OneRunsTheAction_TheOtherDoesNothing()
    {
        var other = Runner("node-b", new RunStore(new LifecycleDatabase(database.Options), TimeProvider.System));
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var action = Create($"vol-{i}");
            await dispatcher.EnqueueAsync("run-1", action);
            ids.Add(ActionPayload.IdOf(action));
        }

        foreach (var id in ids)
        {
            var results = await Task.WhenAll(Task.Run(() => runner.RunAsync(id)), Task.Run(() => other.RunAsync(id)));

            Assert.Single(results, r => r.StartsWith("succeeded ", StringComparison.Ordinal));
            Assert.Single(results, r => r.StartsWith("nothing to do", StringComparison.Ordinal));
            Assert.Equal((ActionStates.Succeeded, 1), ((await RowAsync(id)).State, (await RowAsync(id)).Attempts));
        }

        Assert.Equal(5, provider.CreateCalls);
        Assert.Equal(5, provider.Snapshots.Count);
    }

    [Fact]
    public async Task ACreateAcceptedButPending_BecomesCompleting_WithACompletionCheckJob_WhichFinishesItOnceTheSnapshotCompleted()
    {
        provider.CreatePending = true;
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);
        var createJob = (await RowAsync(id)).Job!;

        var created = await runner.RunAsync(id);

        // accepted: completing, followed in process under the create's claim, whose lease it keeps (no worker, no new job)
        var snapshot = Assert.Single(provider.Snapshots);
        Assert.Equal($"{snapshot.Id} pending; completion followed in process", created);
        var completing = await RowAsync(id);
        Assert.Equal((ActionStates.Completing, snapshot.Id, "node-a", 1, createJob), (completing.State, completing.ResultSnapshotId, completing.Node, completing.Attempts, completing.Job));
        Assert.True(completing.LeaseUntil > DateTimeOffset.UtcNow, "the follower holds no lease");
        Assert.Empty(await PolicyTriggersAsync()); // the run is not done yet: no follow-up

        // still pending after the in-process wait: its check finds it pending and schedules a completion check job
        var rechecking = await Eventually.UntilAsync(() => RowAsync(id), r => r.Job is not null && r.Job != createJob && r.NotBefore is not null,
            "a completion check job for the still-pending snapshot", TimeSpan.FromSeconds(10));
        Assert.Equal((ActionStates.Completing, 1), (rechecking.State, rechecking.Attempts));
        Assert.Equal(("CheckCompletion", id, "Scheduled", null), Job(rechecking.Job!));

        // the check job follows the completion in process; once the snapshot completed, the action succeeds
        provider.SetState(snapshot.Id, SnapshotState.Completed);
        await Eventually.UntilAsync(() => Task.FromResult(DateTimeOffset.UtcNow), now => now > rechecking.NotBefore, "the check's time", TimeSpan.FromSeconds(5));
        Assert.StartsWith("following the completion", await runner.CheckCompletionAsync(id)); // what the check job does when it comes
        var finished = await Eventually.UntilAsync(() => RowAsync(id), r => r.State == ActionStates.Succeeded, "the action to succeed", TimeSpan.FromSeconds(10));
        var result = $"{finished.State} {finished.ResultSnapshotId}";
        Assert.Equal($"succeeded {snapshot.Id}", result);
        var done = await RowAsync(id);
        Assert.Equal((ActionStates.Succeeded, snapshot.Id, 1, "application"), (done.State, done.ResultSnapshotId, done.Attempts, done.Consistency));
        Assert.Equal(1, provider.CreateCalls);
        Assert.Equal([PolicyRunMode.FollowUp], await PolicyTriggersAsync()); // the run created a snapshot: the policy follows up
    }

    [Fact]
    public async Task ARunWhoseActionsFinishTogether_WakesItsPolicyOnce()
    {
        var actions = Enumerable.Range(1, 40).Select(i => Create($"vol-{i}")).ToList();
        await dispatcher.EnqueueManyAsync("run-1", actions);

        // Every delivery at once, as 20 workers would. (Which outcome reports the finished run: BatchedStoreTests.)
        var results = await Task.WhenAll(actions.Select(a => Task.Run(() => runner.RunAsync(ActionPayload.IdOf(a)))));

        Assert.All(results, r => Assert.StartsWith("succeeded ", r, StringComparison.Ordinal));
        Assert.Equal(40, provider.Snapshots.Count);
        Assert.Equal([PolicyRunMode.FollowUp], await PolicyTriggersAsync()); // one follow-up for the run, not one per outcome of its last batch
    }

    [Fact]
    public async Task AFailedAction_ThrowsActionFailedException_WithTheProvidersError()
    {
        provider.CreateFailures.Enqueue(ProviderException.NotFound("InvalidVolume.NotFound", "no such volume"));
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);

        var failure = await Assert.ThrowsAsync<ActionFailedException>(() => runner.RunAsync(id));

        Assert.Contains("InvalidVolume.NotFound: no such volume", failure.Message);
        var row = await RowAsync(id);
        Assert.Equal((ActionStates.Failed, failure.Message), (row.State, row.Error));
        Assert.Empty(await PolicyTriggersAsync()); // nothing was produced: no follow-up
    }

    [Fact]
    public async Task APausedPolicysQueuedAction_IsDeferredNotRun_AndResumeDeliversItAgain()
    {
        var pauses = new PolicyPauses(store, dispatcher);
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);
        var firstJob = (await RowAsync(id)).Job!;
        Assert.True(await pauses.PauseAsync(quartz.Scheduler, "p1", "tester"));

        var deferred = await runner.RunAsync(id);

        Assert.Equal("deferred: policy p1 is paused (resuming it delivers the action again)", deferred);
        Assert.Equal(0, provider.CreateCalls);
        Assert.Equal((ActionStates.Enqueued, 0), ((await RowAsync(id)).State, (await RowAsync(id)).Attempts));

        Assert.True(await pauses.ResumeAsync(quartz.Scheduler, "p1", "tester"));

        var redelivered = (await RowAsync(id)).Job!;
        Assert.NotEqual(firstJob, redelivered);
        Assert.Equal(("Create", id, "Enqueued", "creates"), Job(redelivered));
        Assert.StartsWith("succeeded ", await runner.RunAsync(id), StringComparison.Ordinal);
        Assert.Single(provider.Snapshots);
    }

    [Fact]
    public async Task ACreateRefusedByALimitThatClearsLater_IsReleasedWithADelayedJob_AndNotRunBeforeIt()
    {
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded", "too soon"));
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);

        var before = DateTimeOffset.UtcNow;
        var refused = await runner.RunAsync(id);
        var after = DateTimeOffset.UtcNow;

        Assert.Contains("SnapshotCreationPerVolumeRateExceeded", refused);
        var row = await RowAsync(id);
        Assert.Equal((ActionStates.Enqueued, 1, (DateTimeOffset?)null), (row.State, row.Attempts, row.LeaseUntil));
        // the executor's default first delay (15 s); the store keeps milliseconds
        Assert.InRange(row.NotBefore!.Value, before + TimeSpan.FromSeconds(15) - TimeSpan.FromMilliseconds(1), after + TimeSpan.FromSeconds(15));
        Assert.Equal(("Create", id, "Scheduled", null), Job(row.Job!));

        // delivered early (Hangfire keeps whole seconds; or a duplicate): nothing runs, and it is delivered again for its time
        Assert.StartsWith("nothing to do yet: the action is due at", await runner.RunAsync(id), StringComparison.Ordinal);
        var again = await RowAsync(id);
        Assert.NotEqual(row.Job, again.Job);
        Assert.Equal(("Create", id, "Scheduled", null), Job(again.Job!));
        Assert.Equal((ActionStates.Enqueued, row.NotBefore), (again.State, again.NotBefore));
        Assert.Equal(1, provider.CreateCalls);
        Assert.Empty(provider.Snapshots);
    }

    [Fact]
    public async Task ADeliveryWhileAnotherNodeHoldsTheLease_DoesNothing_AndSchedulesADeliveryForWhenTheLeaseEnds()
    {
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);
        var firstJob = (await RowAsync(id)).Job!;
        Assert.NotNull(await store.ClaimActionAsync(id, "node-b", TimeSpan.FromMinutes(1)));

        var result = await runner.RunAsync(id);

        Assert.StartsWith("nothing to do: node node-b holds the action until", result, StringComparison.Ordinal);
        Assert.Equal(0, provider.CreateCalls);
        var row = await RowAsync(id);
        Assert.Equal((ActionStates.Running, "node-b", 1), (row.State, row.Node, row.Attempts));
        Assert.NotEqual(firstJob, row.Job);
        Assert.Equal(("Create", id, "Scheduled", null), Job(row.Job!));
    }

    [Fact]
    public async Task ThePeriodicReconcile_LeavesAloneTheActionsBeingDelivered_AndThoseANodeHolds()
    {
        // Being delivered: a fire's rows are written before its jobs (the pass runs every five minutes, at the minute
        // many fires happen: seen delivering 700 of a fire's 1,000 creates a second time).
        var delivering = Create("vol-being-delivered");
        var deliveringId = ActionPayload.IdOf(delivering);
        await store.EnqueueActionsAsync([new EnqueueRequest(new ActionRecord(
            deliveringId, "run-1", delivering.Policy, delivering.Schedule, "create", delivering.Region, delivering.VolumeIds, null, delivering.Token,
            delivering.FireTime, ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UtcNow, null, null, ActionPayload.Serialize(delivering)), false)]);
        // Held: a live node claimed it and its job ended (a create accepted, its completion followed in process).
        var held = Create("vol-held");
        Assert.Equal(1, await dispatcher.EnqueueManyAsync("run-1", [held]));
        var heldId = ActionPayload.IdOf(held);
        Assert.True(new BackgroundJobClient(storage).Delete((await RowAsync(heldId)).Job!));
        Assert.NotNull(await store.ClaimActionAsync(heldId, "node-b", TimeSpan.FromMinutes(5)));
        var reconcile = new ReconcileJob(applied, store, dispatcher, quartz.Factory, storage, TimeProvider.System, NullLogger<ReconcileJob>.Instance);

        Assert.Equal(0, await reconcile.RedeliverOwedAsync(ReconcileJob.StrandedAfter));
        Assert.Null((await RowAsync(deliveringId)).Job);

        // At a start nothing of this process is delivering or holding anything: every one is delivered.
        Assert.Equal(2, await reconcile.RedeliverOwedAsync(null));
        Assert.NotNull((await RowAsync(deliveringId)).Job);
    }

    [Fact]
    public async Task Reconcile_DeliversAgainEveryOwedActionWhoseJobIsGone_AndNoOther()
    {
        var client = new BackgroundJobClient(storage);
        PlannedAction[] actions = [Create("vol-alive"), Create("vol-lost"), Create("vol-dead-node"), Delete("snap-paused") with { Policy = "p2" }, Create("vol-done")];
        Assert.Equal(5, await dispatcher.EnqueueManyAsync("run-1", actions));
        var (alive, lost, deadNode, paused, done) = (Id(0), Id(1), Id(2), Id(3), Id(4));
        var jobs = new Dictionary<string, string>();
        foreach (var id in new[] { alive, lost, deadNode, paused, done })
        {
            jobs[id] = (await RowAsync(id)).Job!;
        }

        // lost: its job was deleted (a storage restart); dead node: claimed by a node whose lease already ran out, and its
        // job is gone; paused: its policy is paused and its job gone; done: finished and its job gone
        foreach (var id in new[] { lost, deadNode, paused, done })
        {
            Assert.True(client.Delete(jobs[id]));
        }

        Assert.NotNull(await store.ClaimActionAsync(deadNode, "node-dead", TimeSpan.FromSeconds(-1)));
        await store.SetPausedAsync("p2", paused: true, "tester");
        Assert.StartsWith("succeeded", await runner.RunAsync(done), StringComparison.Ordinal);
        var reconcile = new ReconcileJob(applied, store, dispatcher, quartz.Factory, storage, TimeProvider.System, NullLogger<ReconcileJob>.Instance);

        Assert.Equal(2, await reconcile.RedeliverOwedAsync());

        Assert.Equal(jobs[alive], (await RowAsync(alive)).Job);
        Assert.Equal(jobs[paused], (await RowAsync(paused)).Job);
        Assert.Equal(jobs[done], (await RowAsync(done)).Job);
        foreach (var id in new[] { lost, deadNode })
        {
            var job = (await RowAsync(id)).Job!;
            Assert.NotEqual(jobs[id], job);
            Assert.Equal(("Create", id, "Enqueued", "creates"), Job(job));
        }

        Assert.Equal(0, await reconcile.RedeliverOwedAsync()); // their new jobs are alive
        var resumed = await runner.RunAsync(deadNode);
        Assert.StartsWith("succeeded", resumed, StringComparison.Ordinal);
        Assert.Equal((ActionStates.Succeeded, 2, "node-a"), ((await RowAsync(deadNode)).State, (await RowAsync(deadNode)).Attempts, (await RowAsync(deadNode)).Node));

        string Id(int i) => ActionPayload.IdOf(actions[i]);
    }

    [Fact]
    public async Task TheRecoveryPass_DeliversAgainWhatANodeLeftWhenItDied_ACheckOfTheCompletionItFollowed_AndTheCreatesItHadNoJobsFor()
    {
        provider.CreatePending = true;
        var recovery = new ReconcileJob(applied, store, dispatcher, quartz.Factory, storage, TimeProvider.System, NullLogger<ReconcileJob>.Instance);
        // node-dead claimed a create, EC2 accepted it, and the node died while following its completion: its claim and
        // a short lease remain, and no job. It had also recorded a second create of the fire and died before its job.
        var followed = Create("vol-1");
        var unsent = Create("vol-2");
        var (followedId, unsentId) = (ActionPayload.IdOf(followed), ActionPayload.IdOf(unsent));
        await store.EnqueueActionsAsync([.. new[] { followed, unsent }.Select(a => new EnqueueRequest(new ActionRecord(
            ActionPayload.IdOf(a), "run-1", "p1", a.Schedule, "create", "r1", a.VolumeIds, null, a.Token, a.FireTime, ActionStates.Enqueued, 0, null, null,
            null, null, DateTimeOffset.UtcNow, null, null, ActionPayload.Serialize(a)), RequeueFinished: false))]);
        var dead = await store.ClaimActionAsync(followedId, "node-dead", TimeSpan.FromMilliseconds(300));
        var pending = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", followed.Tags));
        await store.MarkCompletingAsync(followedId, pending.Id, null, "accepted", dead!.Claim, TimeSpan.FromMilliseconds(300));

        // within the grace nothing is stranded: the node may still be following it, or creating the jobs
        Assert.Equal("0 stranded actions delivered again", await recovery.RecoverStrandedAsync(TimeSpan.FromMinutes(1)));
        var leaseEnd = (await RowAsync(followedId)).LeaseUntil!.Value;
        await Eventually.UntilAsync(() => DateTimeOffset.UtcNow > leaseEnd, "the dead node's lease to run out", TimeSpan.FromSeconds(5));

        Assert.Equal("2 stranded actions delivered again", await recovery.RecoverStrandedAsync(TimeSpan.Zero));

        var check = await RowAsync(followedId);
        Assert.Equal(("CheckCompletion", followedId, "Enqueued", "checks"), Job(check.Job!));
        Assert.Equal((ActionStates.Completing, (DateTimeOffset?)null), (check.State, check.LeaseUntil)); // the new job is its delivery now
        Assert.Equal(("Create", unsentId, "Enqueued", "creates"), Job((await RowAsync(unsentId)).Job!));
        Assert.Equal("0 stranded actions delivered again", await recovery.RecoverStrandedAsync(TimeSpan.Zero)); // delivered once, not at every pass

        // the check (as its job runs it) finishes the snapshot the dead node made, without making another
        provider.SetState(pending.Id, SnapshotState.Completed);
        Assert.StartsWith("following the completion", await runner.CheckCompletionAsync(followedId), StringComparison.Ordinal);
        var done = await Eventually.UntilAsync(() => RowAsync(followedId), r => r.State == ActionStates.Succeeded, "the followed create to succeed", TimeSpan.FromSeconds(10));
        Assert.Equal((pending.Id, 1, "node-a"), (done.ResultSnapshotId, done.Attempts, done.Node));
        Assert.Equal(1, provider.CreateCalls);
    }

    [Fact]
    public async Task ALongHook_KeepsItsActionsLeaseRenewed_SoNoOtherNodeTakesTheActionOver()
    {
        var gate = Path.Combine(directory, "gate");
        policy = Policy() with { Hooks = new HookSet { Pre = [new ExecHook(["/bin/sh", "-c", $"while [ ! -e {gate} ]; do sleep 0.05; done"])] } };
        var leased = Runner("node-a", store, lease: TimeSpan.FromSeconds(3)); // renewed every second
        var other = new RunStore(new LifecycleDatabase(database.Options), TimeProvider.System);
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await dispatcher.EnqueueAsync("run-1", action);

        var run = Task.Run(() => leased.RunAsync(id));
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(20);
        DateTimeOffset? firstLease = null;
        while (firstLease is null && DateTimeOffset.UtcNow < deadline)
        {
            firstLease = (await store.ListHooksAsync(id)).Count > 0 ? (await RowAsync(id)).LeaseUntil : null;
            await Task.Delay(20);
        }

        Assert.NotNull(firstLease);
        // the claim's first lease has run out while the hook still runs
        while (DateTimeOffset.UtcNow < firstLease.Value + TimeSpan.FromMilliseconds(500) && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.False(run.IsCompleted);
        Assert.Null(await other.ClaimActionAsync(id, "node-b", TimeSpan.FromSeconds(30)));
        var held = await RowAsync(id);
        Assert.Equal((ActionStates.Running, "node-a", 1), (held.State, held.Node, held.Attempts));
        Assert.True(held.LeaseUntil > firstLease, $"lease {held.LeaseUntil:O} was not renewed past {firstLease:O}");

        await File.WriteAllTextAsync(gate, "go");
        Assert.StartsWith("succeeded", await run, StringComparison.Ordinal);
        Assert.Single(provider.Snapshots);
    }

    private static SnapshotPolicy Policy() => new()
    {
        Name = "p1",
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("0 0 1 1 *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };

    private sealed class OnePolicyParser(Func<SnapshotPolicy> policy) : IPolicySetParser
    {
        public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources) => new(new PolicySet([policy()]), []);
    }
}
