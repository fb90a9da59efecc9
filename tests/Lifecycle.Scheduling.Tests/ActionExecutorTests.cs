using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging.Abstractions;

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
            new NodeIdentity("test"), NullLogger<ActionExecutor>.Instance);
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

    [Fact]
    public async Task Delete_RefusesASnapshotThatIsNotOwnedByThePolicy()
    {
        provider.Add(new SnapshotInfo { Id = "snap-foreign", VolumeId = "vol-1", Region = "r1", StartTime = Fire, Tags = ImmutableSortedDictionary<string, string>.Empty.Add(OwnershipTags.Policy, "someone-else") });
        var action = new PlannedAction { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = "snap-foreign", Reason = "test" };

        var outcome = await executor.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Failed, outcome.State);
        Assert.Single(provider.Snapshots);
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

    /// <summary>
    /// A limit that clears by itself (EC2's SnapshotCreationPerVolumeRateExceeded) is tried again later, within the
    /// action, and a limit reported after the engine had created the snapshot still ends with exactly one.
    /// </summary>
    [Fact]
    public async Task Create_RetriesALimitThatClearsLater_AndNeverMakesASecondSnapshot()
    {
        var patient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromMilliseconds(5), RetryLaterWindow = TimeSpan.FromMinutes(1) });
        provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded", "too soon"));
        provider.FailAfterCreate = new ProviderException(ProviderErrorKind.RetryLater, "ConcurrentSnapshotLimitExceeded", "lost after create");
        var action = CreateFiredNow("vol-1");

        var outcome = await patient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        Assert.Equal(2, provider.CreateCalls); // refused once, then created (its answer lost), then found by its token
        Assert.Single(provider.Snapshots);
    }

    [Fact]
    public async Task Create_GivesUpALimitThatDoesNotClearWithinTheWindow_WithTheEngineCode()
    {
        var impatient = Executor(new ExecutorOptions { RetryLaterDelay = TimeSpan.FromMilliseconds(50), RetryLaterWindow = TimeSpan.FromMilliseconds(120) });
        for (var i = 0; i < 10; i++)
        {
            provider.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.RetryLater, "ConcurrentSnapshotLimitExceeded", "busy"));
        }

        var action = CreateFiredNow("vol-1");
        var outcome = await impatient.ExecuteAsync(ActionPayload.IdOf(action), action, Policy());

        Assert.Equal(ActionStates.Failed, outcome.State);
        Assert.Contains("ConcurrentSnapshotLimitExceeded", outcome.Error);
        Assert.InRange(provider.CreateCalls, 2, 3);
        Assert.Empty(provider.Snapshots);
    }

    [Fact]
    public async Task Actions_RunOnTheEngineTheirPolicyNames()
    {
        var local = new FakeProvider("r1");
        var aws = new FakeProvider("r1");
        var engines = new EngineRegistry(EngineKind.Local, new Dictionary<EngineKind, IProviderRegistry> { [EngineKind.Local] = local, [EngineKind.Aws] = aws });
        var split = new ActionExecutor(engines, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), TimeProvider.System, new ExecutorOptions(),
            new NodeIdentity("test"), NullLogger<ActionExecutor>.Instance);

        var onAws = Create("vol-1") with { Engine = EngineKind.Aws };
        var legacy = SchedulingTestData.Create("vol-2", Fire); // stored before actions named their engine: the default
        await split.ExecuteAsync(ActionPayload.IdOf(onAws), onAws, Policy());
        await split.ExecuteAsync(ActionPayload.IdOf(legacy), legacy, Policy());

        Assert.Equal("vol-1", Assert.Single(aws.Snapshots).VolumeId);
        Assert.Equal("vol-2", Assert.Single(local.Snapshots).VolumeId);
    }

    /// <summary>A create of the current fire (a retried create stops at the schedule's next fire, so Fire is long past).</summary>
    private static PlannedAction CreateFiredNow(string volume) =>
        SchedulingTestData.Create(volume, DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

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

    private ActionExecutor Executor(ExecutorOptions options) =>
        new(provider, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), TimeProvider.System,
            options with { Retry = new ProviderRetryOptions { MaxRetries = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) } },
            new NodeIdentity("test"), NullLogger<ActionExecutor>.Instance);

    private static PlannedAction Create(string volume) => SchedulingTestData.Create(volume, Fire);

    private static SnapshotPolicy Policy() => new()
    {
        Name = "p1",
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };
}
