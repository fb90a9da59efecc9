using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Testing.Waiting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// A crashed server is simulated with a real store and real hook processes: the hook is started through the runner,
/// its record written the way the executor writes it but owned by a server process that no longer exists, and then
/// abandoned (never awaited until the restart step ran).
/// </summary>
public sealed class HookLeftoverTests : IDisposable
{
    private static readonly HookContext Context = new("db", "daily", HookStage.Pre, ["vol-1"], null, new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero));
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-leftover-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly RunStore store;
    private readonly HookRunner runner = new(TimeProvider.System, TimeSpan.FromMilliseconds(1));
    private readonly List<int> groupsToClean = [];

    /// <summary>The crashed server: this machine and boot, a pid that cannot exist.</summary>
    private readonly HookOwner crashed = new(Environment.MachineName, ProcessGroups.BootId, int.MaxValue, 12345);

    public HookLeftoverTests()
    {
        Directory.CreateDirectory(directory);
        var database = new LifecycleDatabase(StoreOptions.From(directory, null));
        SchemaMigrator.MigrateAsync(database).GetAwaiter().GetResult();
        store = new RunStore(database, TimeProvider.System);
    }

    public void Dispose()
    {
        foreach (var group in groupsToClean)
        {
            ProcessGroups.Kill(group);
        }

        runner.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Reap_KillsTheGroupACrashedServerLeftRunning_AndClosesItsRecord()
    {
        var (run, hookId, pids) = await StartAbandonedHookAsync("action-1", crashed);
        Assert.All(pids, pid => Assert.True(HookRunnerTests.IsAlive(pid)));

        var closed = await Restarted().ReapAsync();

        Assert.Equal(1, closed);
        foreach (var pid in pids)
        {
            Assert.True(await PollAsync(() => !HookRunnerTests.IsAlive(pid)), $"process {pid} of the abandoned hook survived the restart");
        }

        var record = Assert.Single(await store.ListHooksAsync("action-1"));
        Assert.Equal(HookRunStates.Killed, record.Outcome);
        Assert.StartsWith(HookLeftoverReaper.KilledReason, record.Error);
        Assert.NotNull(record.FinishedAt);

        // The abandoned runner (the crashed server's) sees its process die; a late finish cannot rewrite the record.
        var result = await run;
        Assert.NotEqual(HookOutcome.Succeeded, result.Outcome);
        Assert.False(await store.FinishHookAsync(new HookRunRecord(hookId, "action-1", "pre", "x", "failed", 1, 137, "", null, TimeSpan.Zero, DateTimeOffset.UtcNow)));
        Assert.Equal(HookRunStates.Killed, Assert.Single(await store.ListHooksAsync("action-1")).Outcome);
    }

    [Fact]
    public async Task Reap_DoesNotKillAProcessWhosePidWasReused_AndClosesTheRecordAsInterrupted()
    {
        // Recorded with another start time: the pid now belongs to a process that is not the hook.
        var (_, _, pids) = await StartAbandonedHookAsync("action-2", crashed, recordedTicks: ticks => ticks + 1);

        var closed = await Restarted().ReapAsync();

        Assert.Equal(1, closed);
        Assert.All(pids, pid => Assert.True(HookRunnerTests.IsAlive(pid), $"process {pid} with another start time was killed"));
        var record = Assert.Single(await store.ListHooksAsync("action-2"));
        Assert.Equal(HookRunStates.Interrupted, record.Outcome);
    }

    [Fact]
    public async Task Reap_LeavesTheHooksOfALiveServerAlone()
    {
        // Owned by this test process, which is alive: another server on this machine, not a crashed one.
        var (_, _, pids) = await StartAbandonedHookAsync("action-3", HookLeftoverReaper.ThisProcess());

        var closed = await Restarted().ReapAsync();

        Assert.Equal(0, closed);
        Assert.All(pids, pid => Assert.True(HookRunnerTests.IsAlive(pid)));
        Assert.Equal(HookRunStates.Running, Assert.Single(await store.ListHooksAsync("action-3")).Outcome);
    }

    [Fact]
    public async Task Executor_KillsALeftoverHookOfTheAction_BeforeRunningItsHooksAgain_AndRecordsEachAttemptAtItsStart()
    {
        var provider = new FakeProvider("r1");
        var executor = new ActionExecutor(provider, store, runner, Restarted(), TimeProvider.System,
            new ExecutorOptions(), NullLogger<ActionExecutor>.Instance);
        var action = SchedulingTestData.Create("vol-1", Context.FireTime);
        var actionId = ActionPayload.IdOf(action);
        var (_, leftoverId, leftoverPids) = await StartAbandonedHookAsync(actionId, crashed);
        var gate = Path.Combine(directory, "gate");
        var policy = new SnapshotPolicy
        {
            Name = "p1",
            Regions = ["r1"],
            Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
            Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
            Hooks = new HookSet { Pre = [new ExecHook(["/bin/sh", "-c", $"while [ ! -e {gate} ]; do sleep 0.05; done"])] },
        };

        var execution = executor.ExecuteAsync(actionId, action, policy);

        // This attempt's record exists while its hook still runs, with its process group...
        var running = await PollAsync(async () => (await store.ListHooksAsync(actionId)).FirstOrDefault(h => h.Id != leftoverId && h.Process is not null));
        Assert.Equal(HookRunStates.Running, running!.Outcome);
        Assert.Null(running.FinishedAt);
        Assert.True(HookRunnerTests.IsAlive(running.Process!.ProcessGroupId));

        // ...and the leftover of the crashed attempt was killed before it started.
        Assert.All(leftoverPids, pid => Assert.False(HookRunnerTests.IsAlive(pid), $"leftover process {pid} survived"));
        Assert.Equal(HookRunStates.Killed, (await store.ListHooksAsync(actionId)).Single(h => h.Id == leftoverId).Outcome);

        await File.WriteAllTextAsync(gate, "go");
        var outcome = await execution;

        Assert.Equal(ActionStates.Succeeded, outcome.State);
        var finished = (await store.ListHooksAsync(actionId)).Single(h => h.Id == running.Id);
        Assert.Equal("succeeded", finished.Outcome);
        Assert.NotNull(finished.FinishedAt);
    }

    [Fact]
    public async Task Executor_Cancelled_KillsTheHooksGroup_AndRecordsItAsCancelled()
    {
        var executor = new ActionExecutor(new FakeProvider("r1"), store, runner, Restarted(), TimeProvider.System,
            new ExecutorOptions(), NullLogger<ActionExecutor>.Instance);
        var action = SchedulingTestData.Create("vol-1", Context.FireTime);
        var actionId = ActionPayload.IdOf(action);
        var pidFile = Path.Combine(directory, "cancel.pids");
        var policy = new SnapshotPolicy
        {
            Name = "p1",
            Regions = ["r1"],
            Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
            Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("* * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
            Hooks = new HookSet
            {
                Pre = [new ExecHook(["/bin/sh", "-c", $"echo $$ > {pidFile}.tmp; (sleep 300 & echo $! >> {pidFile}.tmp); mv {pidFile}.tmp {pidFile}; sleep 300"])],
            },
        };
        using var shutdown = new CancellationTokenSource();

        var execution = executor.ExecuteAsync(actionId, action, policy, cancellationToken: shutdown.Token);
        var pids = await PollAsync(() => File.Exists(pidFile) ? File.ReadAllLines(pidFile).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray() : null);
        groupsToClean.Add(pids![0]);
        await shutdown.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => execution);
        foreach (var pid in pids)
        {
            Assert.True(await PollAsync(() => !HookRunnerTests.IsAlive(pid)), $"process {pid} survived the cancellation");
        }

        var record = Assert.Single(await store.ListHooksAsync(actionId));
        Assert.Equal(HookRunStates.Cancelled, record.Outcome);
        Assert.NotNull(record.FinishedAt);
    }

    /// <summary>A new server process on this machine (another pid than the crashed one).</summary>
    private HookLeftoverReaper Restarted() => new(store, TimeProvider.System, NullLogger<HookLeftoverReaper>.Instance);

    /// <summary>
    /// Starts a hook that double-forks a sleeping grandchild, through the runner, with its record written as the
    /// executor writes it, owned by <paramref name="owner"/>; returns once the record names the process group.
    /// </summary>
    private async Task<(Task<HookResult> Run, string HookId, int[] Pids)> StartAbandonedHookAsync(string actionId, HookOwner owner, Func<long, long>? recordedTicks = null)
    {
        var hookId = Guid.NewGuid().ToString("N");
        var pidFile = Path.Combine(directory, hookId + ".pids");
        await store.StartHookAsync(new HookRunRecord(hookId, actionId, "pre", "exec freeze", HookRunStates.Running, 0, null, "", null, TimeSpan.Zero, null)
        {
            StartedAt = DateTimeOffset.UtcNow,
            Owner = owner,
        });
        var hook = new ExecHook(["/bin/sh", "-c", $"echo $$ > {pidFile}.tmp; (sleep 300 & echo $! >> {pidFile}.tmp); mv {pidFile}.tmp {pidFile}; sleep 300"])
        {
            Timeout = TimeSpan.FromMinutes(10),
        };
        var observer = new StoreObserver(store, hookId, recordedTicks ?? (t => t));
        var run = runner.RunAsync(hook, Context, observer);
        var pids = await PollAsync(() => File.Exists(pidFile) ? File.ReadAllLines(pidFile).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray() : null);
        groupsToClean.Add(pids![0]);
        Assert.True(await PollAsync(async () => (await store.ListHooksAsync(actionId)).Single(h => h.Id == hookId).Process is not null));
        return (run, hookId, pids);
    }

    private static async Task<bool> PollAsync(Func<bool> condition) => await PollAsync(() => Task.FromResult(condition()));

    private static async Task<bool> PollAsync(Func<Task<bool>> condition) =>
        await PollAsync<object>(async () => await condition() ? new object() : null) is not null;

    private static async Task<T?> PollAsync<T>(Func<T?> probe)
        where T : class => await PollAsync(() => Task.FromResult(probe()));

    private static async Task<T?> PollAsync<T>(Func<Task<T?>> probe)
        where T : class
    {
        try
        {
            return await Eventually.UntilAsync(probe, value => value is not null, "the probed state", TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));
        }
        catch (EventuallyTimeoutException)
        {
            return null; // the caller's assertion says what was missing
        }
    }

    /// <summary>Writes the process group on the record, as the executor's observer does (optionally with a wrong start time).</summary>
    private sealed class StoreObserver(RunStore store, string hookId, Func<long, long> ticks) : IHookProcessObserver
    {
        public Task ProcessStartedAsync(HookProcess process, CancellationToken cancellationToken = default) =>
            store.SetHookProcessAsync(hookId, new HookProcessRecord(process.ProcessGroupId, process.StartTicks is { } t ? ticks(t) : null, process.BootId), CancellationToken.None);
    }
}
