using System.Collections.Immutable;
using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// A run's actions are enqueued in one batch (rows in one transaction, jobs in one ScheduleJobs call): every queued
/// action ends with exactly one job and one trigger, also when the batch meets a job that still exists, and enqueuing
/// the same fire again never adds a second trigger. The scheduler is not started, so the jobs are only inspected.
/// </summary>
public sealed class ActionQueueTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Fire = new(2026, 11, 22, 3, 0, 0, TimeSpan.Zero);
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-queue-" + Guid.NewGuid().ToString("N")[..10]);
    private ServiceProvider services = null!;
    private IScheduler scheduler = null!;
    private RunStore store = null!;
    private ActionQueue queue = null!;

    public async Task InitializeAsync()
    {
        var database = new LifecycleDatabase(StoreOptions.From(directory, null));
        await SchemaMigrator.MigrateAsync(database);
        store = new RunStore(database, TimeProvider.System);
        queue = new ActionQueue(store, TimeProvider.System);
        var collection = new ServiceCollection();
        collection.AddQuartz(q =>
        {
            q.ConfigureScheduler(s => s.InstanceName = "queue-test-" + Guid.NewGuid().ToString("N")[..8]);
            q.UseInMemoryStore(_ => { });
        });
        services = collection.BuildServiceProvider();
        scheduler = await services.GetRequiredService<ISchedulerFactory>().GetScheduler();
    }

    public async Task DisposeAsync()
    {
        await scheduler.Shutdown(false);
        await services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private static PlannedAction Create(string volume)
    {
        var token = CreationToken.ForCreate("p1", "s1", Fire, volume);
        return new PlannedAction
        {
            Kind = ActionKind.Create, Policy = "p1", Schedule = "s1", Region = "r1", VolumeIds = [volume], FireTime = Fire, Token = token,
            Tags = ImmutableSortedDictionary<string, string>.Empty.Add(OwnershipTags.Token, token), Reason = "due",
        };
    }

    private static PlannedAction Delete(string snapshot) =>
        new() { Kind = ActionKind.Delete, Policy = "p1", Region = "r1", SnapshotId = snapshot, Reason = "expired" };

    private async Task<int> TriggerCountAsync(PlannedAction action) =>
        (await scheduler.GetTriggersOfJob(JobKeys.Action(ActionPayload.IdOf(action)))).Count;

    [Fact]
    public async Task EnqueueMany_GivesEveryActionOneJobAndOneTrigger_AndARepeatAddsNone()
    {
        var actions = Enumerable.Range(0, 30).Select(i => Create($"vol-{i}")).ToList();

        Assert.Equal(30, await queue.EnqueueManyAsync(scheduler, "run-1", actions));
        foreach (var action in actions)
        {
            Assert.Equal(1, await TriggerCountAsync(action));
            Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync(ActionPayload.IdOf(action)))!.State);
        }

        // the same fire planned again (another wake-up before the jobs ran): nothing new, still one trigger each
        Assert.Equal(0, await queue.EnqueueManyAsync(scheduler, "run-2", actions));
        foreach (var action in actions)
        {
            Assert.Equal(1, await TriggerCountAsync(action));
        }
    }

    [Fact]
    public async Task EnqueueMany_RestoresAMissingJob_AndFallsBackOneByOne_WhenAJobStillExists()
    {
        var create = Create("vol-a");
        var delete = Delete("snap-old");
        Assert.Equal(2, await queue.EnqueueManyAsync(scheduler, "run-1", [create, delete]));

        // A crash between the row and the job: the create's row is queued but its job is gone.
        await scheduler.DeleteJob(JobKeys.Action(ActionPayload.IdOf(create)));
        // The delete failed, but its job is still stored (its trigger not yet cleaned up): a requeue of it makes the
        // batch call meet an existing job.
        await store.FinishActionAsync(ActionPayload.IdOf(delete), ActionStates.Failed, null, null, "throttled");
        var fresh = Create("vol-b");

        Assert.Equal(2, await queue.EnqueueManyAsync(scheduler, "run-2", [create, delete, fresh]));
        Assert.Equal(1, await TriggerCountAsync(create));
        Assert.Equal(1, await TriggerCountAsync(delete));
        Assert.Equal(1, await TriggerCountAsync(fresh));
        Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync(ActionPayload.IdOf(delete)))!.State);
    }
}
