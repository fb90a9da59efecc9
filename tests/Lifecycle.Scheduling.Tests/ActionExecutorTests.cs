using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Lifecycle.Scheduling.Tests;

public sealed class ActionExecutorTests : IDisposable
{
    private static readonly DateTimeOffset Fire = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-exec-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly FakeProvider provider = new("r1");
    private readonly RunStore store;
    private readonly ActionExecutor executor;

    public ActionExecutorTests()
    {
        var database = new LifecycleDatabase(StoreOptions.From(directory, null));
        SchemaMigrator.MigrateAsync(database).GetAwaiter().GetResult();
        store = new RunStore(database, TimeProvider.System);
        executor = new ActionExecutor(provider, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), TimeProvider.System,
            new ExecutorOptions { Retry = new ProviderRetryOptions { MaxRetries = 4, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) } },
            NullLogger<ActionExecutor>.Instance);
    }

    [Fact]
    public async Task Create_RunTwice_MakesExactlyOneSnapshotForTheToken()
    {
        var action = Create("vol-1");
        var first = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());
        var second = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, first.State);
        Assert.Equal(ActionStates.Succeeded, second.State);
        Assert.Equal(first.ResultSnapshotId, second.ResultSnapshotId);
        Assert.Single(provider.Snapshots);
        Assert.Equal(1, provider.CreateCalls);
        Assert.Equal("already created", second.Note);
    }

    [Fact]
    public async Task Create_RetriesThrottlingWithBackoff_ThenSucceeds()
    {
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Throttled, "RequestLimitExceeded", "slow down"));
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Transient, "InternalError", "try again"));
        var action = Create("vol-1");

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        Assert.Equal(3, provider.CreateCalls);
        Assert.Single(provider.Snapshots);
    }

    [Fact]
    public async Task Retries_AreCountedOnTheActionTheyWereFor()
    {
        // One retry pipeline serves every action: each retry must still be recorded on its own action's row.
        var first = Create("vol-1");
        var second = Create("vol-2");
        await RecordAsync(first);
        await RecordAsync(second);

        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Throttled, "RequestLimitExceeded", "slow down"));
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Transient, "InternalError", "try again"));
        Assert.Equal(ActionStates.Succeeded, (await executor.ExecuteAsync(ActionPayload.IdOf(first), first, Policy())).State);
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Throttled, "RequestLimitExceeded", "slower"));
        Assert.Equal(ActionStates.Succeeded, (await executor.ExecuteAsync(ActionPayload.IdOf(second), second, Policy())).State);

        var firstRow = (await store.GetActionAsync(ActionPayload.IdOf(first)))!;
        var secondRow = (await store.GetActionAsync(ActionPayload.IdOf(second)))!;
        Assert.Equal(2, firstRow.Attempts);
        Assert.Contains("InternalError: try again", firstRow.Error);
        Assert.Equal(1, secondRow.Attempts);
        Assert.Contains("RequestLimitExceeded: slower", secondRow.Error);
    }

    [Fact]
    public async Task Create_DoesNotRetryAPermanentError()
    {
        provider.CreateFailures.Enqueue(ProviderException.NotFound("InvalidVolume.NotFound", "no such volume"));
        var action = Create("vol-1");

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Failed, outcome.State);
        Assert.Contains("InvalidVolume.NotFound", outcome.Error);
        Assert.Equal(1, provider.CreateCalls);
        Assert.Empty(provider.Snapshots);
    }

    [Fact]
    public async Task Create_WhenTheResponseIsLostAfterTheEngineCreated_FindsTheSnapshotInsteadOfCreatingASecond()
    {
        provider.FailAfterCreate = new ProviderException(ProviderErrorKind.Transient, "RequestTimeout", "connection reset");
        var action = Create("vol-1");

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        Assert.Equal(1, provider.CreateCalls);
        Assert.Single(provider.Snapshots);
    }

    [Fact]
    public async Task Create_ReplacesASnapshotLeftInErrorByAnInterruptedCreate()
    {
        var action = Create("vol-1");
        provider.Add(new SnapshotInfo { Id = "snap-broken", VolumeId = "vol-1", Region = "r1", StartTime = Fire, State = SnapshotState.Error, Tags = action.Tags });

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        var only = Assert.Single(provider.Snapshots);
        Assert.NotEqual("snap-broken", only.Id);
        Assert.Equal(SnapshotState.Completed, only.State);
    }

    [Fact]
    public async Task Create_TagsTheSnapshotWithItsTokenAndApplicationConsistency()
    {
        var action = Create("vol-1");

        await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        var snapshot = Assert.Single(provider.Snapshots);
        Assert.Equal(action.Token, snapshot.Tags[OwnershipTags.Token]);
        Assert.Equal("application", snapshot.Tags[OwnershipTags.Consistency]);
        Assert.Equal("p1", snapshot.Tags[OwnershipTags.Policy]);
    }

    [Theory]
    [InlineData(HookFailureMode.Skip, "skipped", 0, null)]
    [InlineData(HookFailureMode.Fail, "failed", 0, null)]
    [InlineData(HookFailureMode.CrashConsistent, "succeeded", 1, "crash")]
    public async Task Create_FollowsOnFailure_WhenAPreHookFails_AndAlwaysRunsPostHooks(HookFailureMode mode, string state, int snapshots, string? consistency)
    {
        var marker = Path.Combine(directory, "post-" + mode);
        var policy = Policy() with
        {
            Hooks = new HookSet
            {
                Pre = [new ExecHook(["/bin/sh", "-c", "exit 7"])],
                Post = [new ExecHook(["/bin/sh", "-c", $"echo $LIFECYCLE_STAGE > {marker}"])],
                OnFailure = mode,
            },
        };
        var action = Create("vol-1");

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, policy);

        Assert.Equal(state, outcome.State);
        Assert.Equal(snapshots, provider.Snapshots.Count);
        Assert.Equal("post", File.ReadAllText(marker).Trim());
        if (consistency is not null)
        {
            Assert.Equal(consistency, provider.Snapshots.Single().Tags[OwnershipTags.Consistency]);
        }

        var hooks = await store.ListHooksAsync(ActionPayload.IdOf(action));
        Assert.Equal(["pre", "post"], hooks.Select(h => h.Stage));
        Assert.Equal(7, hooks[0].ExitCode);
    }

    // ---- a create returns once the provider accepted it ------------------------------------------

    [Fact]
    public async Task Create_OfAPendingSnapshot_ReturnsCompletingWithoutWaiting_AndARerunFindsItInsteadOfCreatingASecond()
    {
        provider.CreatePending = true;
        var action = Create("vol-1");

        var first = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Completing, first.State);
        Assert.Null(first.RetryAt);
        var snapshot = Assert.Single(provider.Snapshots);
        Assert.Equal(SnapshotState.Pending, snapshot.State); // returned while the snapshot is still pending: nothing waited
        Assert.Equal((snapshot.Id, "application"), (first.ResultSnapshotId, first.Consistency));

        // a duplicate delivery, or a re-run after a crash before the outcome was recorded
        var second = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal((ActionStates.Completing, snapshot.Id, "already created"), (second.State, second.ResultSnapshotId, second.Note));
        Assert.Equal(1, provider.CreateCalls);
        Assert.Single(provider.Snapshots);
    }

    // ---- completion checks -----------------------------------------------------------------------

    [Theory]
    [InlineData(SnapshotState.Completed, 1, "succeeded", null)]
    [InlineData(SnapshotState.Error, ActionExecutor.MaxBuildAttempts, "failed", "ended in state error")]
    [InlineData(null, ActionExecutor.MaxBuildAttempts, "failed", "ended in state missing")] // deleted behind our back
    public async Task CheckCompletion_FinishesTheAction_ByTheSnapshotsFinalState(SnapshotState? final, int attempt, string state, string? error)
    {
        provider.CreatePending = true;
        var action = Create("vol-1");
        var accepted = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());
        var id = accepted.ResultSnapshotId!;
        if (final is { } s)
        {
            provider.SetState(id, s);
        }
        else
        {
            await provider.DeleteSnapshotAsync(id);
        }

        var outcome = await executor.CheckCompletionAsync(action, id, accepted.Consistency, accepted.Note, DateTimeOffset.UtcNow, attempt);

        Assert.Equal((state, id), (outcome.State, outcome.ResultSnapshotId));
        Assert.Null(outcome.RetryAt);
        if (error is null)
        {
            Assert.Null(outcome.Error);
            Assert.Equal("application", outcome.Consistency);
        }
        else
        {
            Assert.Contains(error, outcome.Error);
        }
    }

    [Theory]
    [InlineData(SnapshotState.Error)]
    [InlineData(null)]
    public async Task CheckCompletion_OfASnapshotThatEndedInErrorOrVanished_RunsTheCreateAgain_WhichReplacesItWithExactlyOneSnapshot(SnapshotState? final)
    {
        provider.CreatePending = true;
        var action = Create("vol-1");
        var actionId = ActionPayload.IdOf(action);
        var accepted = await executor.ExecuteAsync(actionId, action, Policy());
        var broken = accepted.ResultSnapshotId!;
        if (final is { } s)
        {
            provider.SetState(broken, s);
        }
        else
        {
            await provider.DeleteSnapshotAsync(broken);
        }

        var outcome = await executor.CheckCompletionAsync(action, broken, accepted.Consistency, accepted.Note, DateTimeOffset.UtcNow, attempt: 1);
        Assert.Equal(ActionStates.Enqueued, outcome.State);
        Assert.NotNull(outcome.RetryAt);
        Assert.Contains("creating it again", outcome.Error);

        provider.CreatePending = false;
        var again = await executor.ExecuteAsync(actionId, action, Policy(), attempt: 2);
        Assert.Equal(ActionStates.Succeeded, again.State);
        Assert.NotEqual(broken, again.ResultSnapshotId);
        Assert.Equal(2, provider.CreateCalls);
        Assert.Equal(again.ResultSnapshotId, Assert.Single(provider.Snapshots).Id); // the error snapshot was deleted first
    }

    [Fact]
    public async Task CheckCompletion_OfAStillPendingSnapshot_WaitsOnlyTheCheckWait_AndAsksForAnotherCheckAfterTheRecheckDelay()
    {
        var checking = Executor(new ExecutorOptions { CompletionCheckWait = TimeSpan.FromMilliseconds(200), CompletionRecheckDelay = TimeSpan.FromSeconds(15) });
        provider.CreatePending = true;
        var action = Create("vol-1");
        var accepted = await checking.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        var before = DateTimeOffset.UtcNow;
        var outcome = await checking.CheckCompletionAsync(action, accepted.ResultSnapshotId!, accepted.Consistency, null, before);
        var after = DateTimeOffset.UtcNow;

        Assert.Equal((ActionStates.Completing, accepted.ResultSnapshotId), (outcome.State, outcome.ResultSnapshotId));
        Assert.InRange(outcome.RetryAt!.Value, before + TimeSpan.FromSeconds(15), after + TimeSpan.FromSeconds(15));
        Assert.True(after - before < TimeSpan.FromSeconds(10), $"the check took {after - before}");

        // the next check, once it completed
        provider.SetState(accepted.ResultSnapshotId!, SnapshotState.Completed);
        Assert.Equal(ActionStates.Succeeded, (await checking.CheckCompletionAsync(action, accepted.ResultSnapshotId!, accepted.Consistency, null, before)).State);
    }

    [Fact]
    public async Task CheckCompletion_OfASnapshotStillPendingAfterTheCompletionTimeout_Fails()
    {
        var checking = Executor(new ExecutorOptions { CompletionCheckWait = TimeSpan.FromMilliseconds(50), CompletionTimeout = TimeSpan.FromHours(2) });
        provider.CreatePending = true;
        var action = Create("vol-1");
        var accepted = await checking.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        var inTime = await checking.CheckCompletionAsync(action, accepted.ResultSnapshotId!, null, null, DateTimeOffset.UtcNow - TimeSpan.FromMinutes(119));
        var late = await checking.CheckCompletionAsync(action, accepted.ResultSnapshotId!, null, null, DateTimeOffset.UtcNow - TimeSpan.FromHours(2) - TimeSpan.FromSeconds(1));

        Assert.Equal(ActionStates.Completing, inTime.State);
        Assert.Equal(ActionStates.Failed, late.State);
        Assert.Contains($"{accepted.ResultSnapshotId} still pending after", late.Error);
    }

    // ---- limits that clear by themselves ---------------------------------------------------------

    /// <summary>12:00 on the dot: the minutely schedule's next fire is 12:01.</summary>
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Create_RefusedByALimitThatClearsLater_IsGivenBackToBeTriedAgainAfterTheBackoff_UntilTheNextFire()
    {
        var time = new FakeTimeProvider(Now);
        var patient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromSeconds(15), RetryLaterMaxDelay = TimeSpan.FromMinutes(5), RetryLaterWindow = TimeSpan.FromHours(1) }, time);
        var action = SchedulingTestData.Create("vol-1", Now);
        var id = ActionPayload.IdOf(action);
        ProviderException Refusal(TimeSpan? after = null) => new(ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded", "too soon", retryAfter: after);

        provider.CreateFailures.Enqueue(Refusal());
        var first = await patient.ExecuteAsync(id, action, Policy(), attempt: 1, queuedAt: Now);
        provider.CreateFailures.Enqueue(Refusal());
        var second = await patient.ExecuteAsync(id, action, Policy(), attempt: 2, queuedAt: Now);
        provider.CreateFailures.Enqueue(Refusal(TimeSpan.FromSeconds(40)));
        var engineSaid = await patient.ExecuteAsync(id, action, Policy(), attempt: 3, queuedAt: Now);
        provider.CreateFailures.Enqueue(Refusal());
        var pastNextFire = await patient.ExecuteAsync(id, action, Policy(), attempt: 3, queuedAt: Now); // 15 s × 4 = 12:01

        Assert.Equal((ActionStates.Enqueued, Now + TimeSpan.FromSeconds(15)), (first.State, first.RetryAt));
        Assert.Contains("SnapshotCreationPerVolumeRateExceeded", first.Error);
        Assert.Equal((ActionStates.Enqueued, Now + TimeSpan.FromSeconds(30)), (second.State, second.RetryAt));
        Assert.Equal((ActionStates.Enqueued, Now + TimeSpan.FromSeconds(40)), (engineSaid.State, engineSaid.RetryAt));
        Assert.Equal(ActionStates.Failed, pastNextFire.State);
        Assert.Null(pastNextFire.RetryAt);
        Assert.Contains("SnapshotCreationPerVolumeRateExceeded", pastNextFire.Error);
        Assert.Contains("the next try would come after the schedule's next fire", pastNextFire.Error);
        Assert.Equal(4, provider.CreateCalls);
        Assert.Empty(provider.Snapshots);
    }

    [Fact]
    public async Task Create_RefusedByALimitOnceTheRetryWindowWouldBePassed_Fails()
    {
        var time = new FakeTimeProvider(Now);
        var patient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromSeconds(15), RetryLaterWindow = TimeSpan.FromSeconds(20) }, time);
        var action = SchedulingTestData.Create("vol-1", Now);
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "ConcurrentSnapshotLimitExceeded", "busy"));
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "ConcurrentSnapshotLimitExceeded", "busy"));

        var early = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy(), attempt: 1, queuedAt: Now);       // 12:00:15 < 12:00:20
        var late = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy(), attempt: 1, queuedAt: Now.AddSeconds(-10)); // window ends 12:00:10

        Assert.Equal(ActionStates.Enqueued, early.State);
        Assert.Equal(ActionStates.Failed, late.State);
        Assert.Contains("ConcurrentSnapshotLimitExceeded", late.Error);
        Assert.Empty(provider.Snapshots);
    }

    [Fact]
    public async Task Create_WhoseLimitWasReportedAfterTheEngineCreatedIt_IsGivenBack_AndTheNextAttemptFindsTheSnapshot()
    {
        var time = new FakeTimeProvider(Now);
        var patient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromSeconds(15) }, time);
        provider.FailAfterCreate = new ProviderException(ProviderErrorKind.RetryLater, "ConcurrentSnapshotLimitExceeded", "lost after create");
        var action = SchedulingTestData.Create("vol-1", Now);

        var refused = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy(), attempt: 1, queuedAt: Now);
        time.Advance(TimeSpan.FromSeconds(15));
        var again = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy(), attempt: 2, queuedAt: Now);

        Assert.Equal(ActionStates.Enqueued, refused.State);
        Assert.Equal((ActionStates.Succeeded, "already created"), (again.State, again.Note));
        Assert.Equal(Assert.Single(provider.Snapshots).Id, again.ResultSnapshotId);
        Assert.Equal(1, provider.CreateCalls);
    }

    // ---- hooks -----------------------------------------------------------------------------------

    [Theory]
    [InlineData("created", ActionStates.Succeeded)]
    [InlineData("fails", ActionStates.Failed)]
    [InlineData("limit", ActionStates.Enqueued)]
    public async Task Create_RunsPreHooks_ThenTheCreate_ThenPostHooks_WhateverHappenedToTheCreate(string create, string state)
    {
        var log = Path.Combine(directory, "order-" + create);
        var time = new FakeTimeProvider(Now);
        var hooked = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromSeconds(15) }, time);
        var policy = Policy() with
        {
            Hooks = new HookSet
            {
                Pre = [new ExecHook(["/bin/sh", "-c", $"echo $LIFECYCLE_STAGE >> {log}"])],
                Post = [new ExecHook(["/bin/sh", "-c", $"echo $LIFECYCLE_STAGE >> {log}"])],
            },
        };
        provider.OnCreate = () =>
        {
            File.AppendAllText(log, "create\n");
            time.Advance(TimeSpan.FromSeconds(1)); // the hook records are ordered by their start
        };
        if (create == "fails")
        {
            provider.CreateFailures.Enqueue(ProviderException.NotFound("InvalidVolume.NotFound", "no such volume"));
        }
        else if (create == "limit")
        {
            provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded", "too soon"));
        }

        var action = SchedulingTestData.Create("vol-1", Now);
        var outcome = await hooked.ExecuteAsync(ActionPayload.IdOf(action), action, policy, attempt: 1, queuedAt: Now);

        Assert.Equal(state, outcome.State);
        Assert.Equal(["pre", "create", "post"], File.ReadAllLines(log));
        Assert.Equal(["pre", "post"], (await store.ListHooksAsync(ActionPayload.IdOf(action))).Select(h => h.Stage));
        if (create == "fails")
        {
            Assert.Contains("create failed: InvalidVolume.NotFound", outcome.Error);
        }
    }

    [Fact]
    public async Task Delete_RefusesASnapshotThatIsNotOwnedByThePolicy()
    {
        provider.Add(new SnapshotInfo { Id = "snap-foreign", VolumeId = "vol-1", Region = "r1", StartTime = Fire, Tags = ImmutableSortedDictionary<string, string>.Empty.Add(OwnershipTags.Policy, "someone-else") });
        var action = new PlannedAction { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = "snap-foreign", Reason = "test" };

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Failed, outcome.State);
        Assert.Single(provider.Snapshots);
    }

    [Theory]
    [InlineData("policy-0123456789abcdef0", null, true)]
    [InlineData("policy-0fedcba9876543210", null, false)] // another DLM policy's
    [InlineData("policy-0123456789abcdef0", "someone-else", false)] // one of ours: its lifecycle:policy decides
    public async Task Delete_OfAnAdoptedSnapshot_NeedsTheAdoptedDlmPolicyTag(string dlmPolicy, string? lifecyclePolicy, bool deleted)
    {
        var tags = ImmutableSortedDictionary<string, string>.Empty.Add(DlmTags.PolicyId, dlmPolicy);
        provider.Add(new SnapshotInfo { Id = "snap-dlm", VolumeId = "vol-1", Region = "r1", StartTime = Fire, Tags = lifecyclePolicy is null ? tags : tags.Add(OwnershipTags.Policy, lifecyclePolicy) });
        var action = new PlannedAction { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = "snap-dlm", AdoptedFrom = "policy-0123456789abcdef0", Reason = "test" };

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), ActionPayload.Deserialize(ActionPayload.Serialize(action)), Policy());

        Assert.Equal(deleted ? ActionStates.Succeeded : ActionStates.Failed, outcome.State);
        Assert.Equal(deleted ? 0 : 1, provider.Snapshots.Count);
    }

    [Fact]
    public async Task Delete_OfASnapshotAlreadyGone_Succeeds()
    {
        var action = new PlannedAction { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = "snap-gone", Reason = "test" };

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        Assert.Equal("already gone", outcome.Note);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Actions_RunOnTheEngineTheirPolicyNames()
    {
        var local = new FakeProvider("r1");
        var aws = new FakeProvider("r1");
        var engines = new EngineRegistry(EngineKind.Local, new Dictionary<EngineKind, IProviderRegistry> { [EngineKind.Local] = local, [EngineKind.Aws] = aws });
        var split = new ActionExecutor(engines, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), TimeProvider.System, new ExecutorOptions(),
            NullLogger<ActionExecutor>.Instance);

        var onAws = Create("vol-1") with { Engine = EngineKind.Aws };
        var legacy = SchedulingTestData.Create("vol-2", Fire); // stored before actions named their engine: the default
        await split.ExecuteAsync(ActionPayload.IdOf(onAws), onAws, Policy());
        await split.ExecuteAsync(ActionPayload.IdOf(legacy), legacy, Policy());

        Assert.Equal("vol-1", Assert.Single(aws.Snapshots).VolumeId);
        Assert.Equal("vol-2", Assert.Single(local.Snapshots).VolumeId);
    }


    [Fact]
    public async Task Create_OfAFireWhoseNextFireHasPassed_IsNotRetriedLater()
    {
        var patient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromMilliseconds(5), RetryLaterWindow = TimeSpan.FromMinutes(1) });
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded", "too soon"));
        var action = Create("vol-1"); // fired 2026-11-21: the daily schedule has fired again since

        var outcome = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Failed, outcome.State);
        Assert.Equal(1, provider.CreateCalls);
    }

    private ActionExecutor Executor(ExecutorOptions options, TimeProvider? time = null) =>
        new(provider, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), time ?? TimeProvider.System,
            options with { Retry = new ProviderRetryOptions { MaxRetries = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) } },
            NullLogger<ActionExecutor>.Instance);

    private static PlannedAction Create(string volume) => SchedulingTestData.Create(volume, Fire);

    private Task RecordAsync(PlannedAction action) => store.EnqueueActionsAsync([new EnqueueRequest(new ActionRecord(
        ActionPayload.IdOf(action), "run-1", action.Policy, action.Schedule, "create", action.Region, action.VolumeIds, null, action.Token,
        action.FireTime, ActionStates.Enqueued, 0, null, null, null, null, DateTimeOffset.UtcNow, null, null, ActionPayload.Serialize(action)), false)]);

    private static SnapshotPolicy Policy() => new()
    {
        Name = "p1",
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };
}
