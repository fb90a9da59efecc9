using System.Collections.Immutable;
using Dapper;
using Hangfire;
using Hangfire.InMemory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// The store's pause, the destructive rules of an apply, the failing-creates query and owed post hooks. (A paused
/// policy's actions and the leased claim: <see cref="LeasedClaimTests"/> and <see cref="ActionRunnerTests"/>.)
/// </summary>
public sealed class PolicyPauseAndSafetyTests : IDisposable
{
    private static readonly DateTimeOffset Fire = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-pause-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly LifecycleDatabase database;
    private readonly RunStore store;

    public PolicyPauseAndSafetyTests()
    {
        database = new LifecycleDatabase(StoreOptions.From(directory, null));
        SchemaMigrator.MigrateAsync(database).GetAwaiter().GetResult();
        store = new RunStore(database, TimeProvider.System);
    }

    [Fact]
    public async Task SetPaused_IsIdempotent_KeptInTheStore_AndAuditedOncePerChange()
    {
        Assert.True(await store.SetPausedAsync("p1", paused: true, "tester"));
        Assert.False(await store.SetPausedAsync("p1", paused: true, "tester"));
        Assert.True(await store.IsPausedAsync("p1"));
        Assert.False(await store.IsPausedAsync("p2"));
        Assert.Equal("tester", (await store.ListPausesAsync())["p1"].PausedBy);

        // A new store object on the same file (a restart) sees the pause.
        Assert.True(await new RunStore(database, TimeProvider.System).IsPausedAsync("p1"));

        Assert.True(await store.SetPausedAsync("p1", paused: false, "tester"));
        Assert.False(await store.SetPausedAsync("p1", paused: false, "tester"));
        Assert.Empty(await store.ListPausesAsync());
        var audit = await store.ListAuditAsync(10);
        Assert.Equal(["policy.resumed", "policy.paused"], audit.Where(a => a.Detail == "p1").Select(a => a.Event));
    }

    [Theory]
    [InlineData(3, 0, new[] { "a", "b", "c" }, 0, "has no policies")]            // an empty set: always destructive
    [InlineData(4, 1, new[] { "a", "b", "c" }, 0, "more than half")]
    [InlineData(4, 3, new[] { "a" }, 2, "leaves its 2 snapshot(s) without retention")]
    [InlineData(4, 2, new[] { "a", "b" }, 0, null)]                               // half, owning nothing: allowed
    [InlineData(4, 4, new string[0], 0, null)]
    public void RemovalRefusal_RefusesEmptySets_MostPoliciesGone_AndRemovingOwners(int current, int next, string[] removed, int ownedByA, string? reason)
    {
        var owned = new Dictionary<string, int>(StringComparer.Ordinal) { ["a"] = ownedByA };

        var refusal = PolicyApplier.RemovalRefusal(current, next, removed, owned);

        if (reason is null)
        {
            Assert.Null(refusal);
        }
        else
        {
            Assert.Contains(reason, refusal);
        }
    }

    [Theory]
    [InlineData(5, true, false)]   // half of 10: allowed
    [InlineData(6, true, true)]
    [InlineData(6, false, false)]  // not added or changed by the revision: not held to the default cap
    public void DestructiveRefusal_WithoutMaxDeletesPerRun_CapsAnAddedOrChangedPolicyAtHalfItsSnapshots(int released, bool touched, bool refused)
    {
        var policy = Policy("p1");
        var decisions = Enumerable.Range(0, 10).Select(i => new SnapshotDecision("p1", $"snap-{i}", "r1", "vol-1", "s1", Fire.AddHours(-i),
            i < released ? SnapshotVerdict.Released : SnapshotVerdict.Kept, ["test"])).ToImmutableArray();

        var refusal = PolicyApplier.DestructiveRefusal(new PolicySet([policy]), new Plan(Fire, [], decisions, []), touched ? ["p1"] : []);

        Assert.Equal(refused, refusal is not null);
        if (refused)
        {
            Assert.Contains("default cap of 50%", refusal);
        }
    }

    [Fact]
    public async Task ListCreateFailures_CountsOnlyFailuresSinceTheLastSuccessfulCreate()
    {
        await store.EnqueueActionsAsync([
            new EnqueueRequest(Record("ok-1", "p1", null), false),
            new EnqueueRequest(Record("bad-1", "p1", null), false),
            new EnqueueRequest(Record("bad-2", "p1", null), false),
            new EnqueueRequest(Record("bad-3", "p2", null), false),
            new EnqueueRequest(Record("ok-3", "p3", null), false),
        ]);
        await FinishAsync("bad-1", ActionStates.Failed, 1_000);
        await FinishAsync("ok-1", ActionStates.Succeeded, 2_000);
        await FinishAsync("bad-2", ActionStates.Failed, 3_000);
        await FinishAsync("bad-3", ActionStates.Failed, 4_000);
        await FinishAsync("ok-3", ActionStates.Succeeded, 5_000);

        var failures = (await store.ListCreateFailuresAsync()).ToDictionary(f => f.Policy);

        Assert.Equal(["p1", "p2"], failures.Keys.Order());
        Assert.Equal(1, failures["p1"].Failed);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(2_000), failures["p1"].LastSucceeded);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(3_000), failures["p1"].FirstFailed);
        Assert.Null(failures["p2"].LastSucceeded);
    }

    [Fact]
    public async Task InterruptedCreate_OfAPolicyRemovedSinceItsPreHooks_IsSkipped_ButRunsThePostHooksOfTheRemovedDefinition()
    {
        var marker = Path.Combine(directory, "post-ran");
        var parser = new NamedPolicyParser(Policy("p1") with
        {
            Hooks = new HookSet
            {
                Pre = [new ExecHook(["/bin/sh", "-c", "true"])],
                Post = [new ExecHook(["/bin/sh", "-c", $"echo $LIFECYCLE_STAGE >> {marker}"])],
            },
        });
        await store.AppendRevisionAsync(0, "r1", "t", "n", [new PolicySource("p1.yaml", "p1")], ["p1"], "added p1");
        await store.AppendRevisionAsync(1, "r2", "t", "n", [new PolicySource("other.yaml", "p2")], ["p2"], "removed p1");
        var action = Create("vol-1");
        var id = ActionPayload.IdOf(action);
        await store.EnqueueActionAsync(Record(id, "p1", null) with { Payload = ActionPayload.Serialize(action), Token = action.Token }, requeueFinished: false);
        // The process that ran the pre hook died before the snapshot and the post hook.
        await store.RecordHookAsync(new HookRunRecord("h1", id, "pre", "exec true", "succeeded", 1, 0, "", null, TimeSpan.Zero, Fire));

        var provider = new FakeProvider("r1");
        var executor = new ActionExecutor(provider, store, new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1)),
            new HookLeftoverReaper(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance), TimeProvider.System,
            new ExecutorOptions(), NullLogger<ActionExecutor>.Instance);
        await using var quartz = await TestQuartz.CreateAsync("p2");
        var dispatcher = new ActionDispatcher(store, new BackgroundJobClient(new InMemoryStorage()), TimeProvider.System);
        var runner = new ActionRunner(store, executor, new AppliedPolicies(store, parser), dispatcher, quartz.Factory, new NodeIdentity("test"),
            new SchedulingOptions { Store = database.Options }, TimeProvider.System, NullLogger<ActionRunner>.Instance);

        Assert.StartsWith("skipped", await runner.RunAsync(id), StringComparison.Ordinal);

        var finished = await store.GetActionAsync(id);
        Assert.Equal(ActionStates.Skipped, finished!.State);
        Assert.Contains("post hooks run after the policy was removed", finished.Error);
        Assert.Empty(provider.Snapshots);
        Assert.Equal("post", File.ReadAllText(marker).Trim());
        Assert.Equal(["pre", "post"], (await store.ListHooksAsync(id)).Select(h => h.Stage));
    }

    private async Task FinishAsync(string id, string state, long atMs)
    {
        await using var connection = await database.OpenAsync();
        await connection.ExecuteAsync("UPDATE actions SET state = @state, finished_at = @atMs WHERE id = @id", new { id, state, atMs });
    }

    private static ActionRecord Record(string id, string policy, string? job) => new(
        id, "run-1", policy, "s1", "create", "r1", ["vol-1"], null, "token-" + id, Fire,
        ActionStates.Enqueued, 0, null, null, null, null, Fire, null, null, "{}") { Job = job };

    private static PlannedAction Create(string volume) => SchedulingTestData.Create(volume, Fire);

    private static SnapshotPolicy Policy(string name) => new()
    {
        Name = name,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };

    /// <summary>A source's text is the name of a known policy.</summary>
    private sealed class NamedPolicyParser(params SnapshotPolicy[] known) : IPolicySetParser
    {
        public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources) => new(
            new PolicySet([.. sources.Select(s => known.FirstOrDefault(p => p.Name == s.Text) ?? Policy(s.Text))]), []);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed class FailingCreatesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 30, TimeSpan.Zero);

    [Theory]
    [InlineData(90, true, false)]    // last success 90 s ago, minute schedule: within 2 × 1 min
    [InlineData(150, true, true)]    // 150 s ago: failing
    [InlineData(150, false, true)]   // never succeeded, first failure 150 s ago
    [InlineData(100, false, false)]
    public void Evaluate_FlagsAPolicyWhoseCreatesFailedForLongerThanTwiceItsInterval(int secondsAgo, bool succeededBefore, bool failing)
    {
        var set = new PolicySet([Minutely("p1")]);
        var at = Now.AddSeconds(-secondsAgo);
        var failures = new CreateFailures("p1", succeededBefore ? at : null, 2, succeededBefore ? at.AddSeconds(10) : at, Now.AddSeconds(-5));

        var problems = FailingCreates.Evaluate(set, [failures], new HashSet<string>(), Now);

        Assert.Equal(failing, problems.Count == 1);
        if (failing)
        {
            Assert.StartsWith("p1: 2 create(s) failed", problems[0]);
        }
    }

    [Fact]
    public void Evaluate_IgnoresPausedAndRemovedPolicies()
    {
        var old = new CreateFailures("p1", null, 3, Now.AddHours(-1), Now.AddMinutes(-1));

        Assert.Empty(FailingCreates.Evaluate(new PolicySet([Minutely("p1")]), [old], new HashSet<string> { "p1" }, Now));
        Assert.Empty(FailingCreates.Evaluate(new PolicySet([Minutely("p2")]), [old], new HashSet<string>(), Now));
    }

    private static SnapshotPolicy Minutely(string name) => new()
    {
        Name = name,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };
}
