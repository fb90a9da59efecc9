using System.Collections.Immutable;
using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// A run's actions are enqueued together (rows in one transaction, batch jobs in one ScheduleJobs call): every queued
/// action is carried by exactly one job with one trigger, which its row names as its owner; an action whose batch is
/// gone gets a job of its own; enqueuing the same fire again adds nothing. The scheduler is not started, so the jobs
/// are only inspected.
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

    /// <summary>The jobs that carry an action: its batch job listing it, or its own job; with their trigger counts.</summary>
    private async Task<List<(JobKey Job, int Triggers)>> CarriersAsync(PlannedAction action)
    {
        var id = ActionPayload.IdOf(action);
        var carriers = new List<(JobKey, int)>();
        foreach (var key in await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(JobKeys.ActionBatchGroup)))
        {
            var detail = await scheduler.GetJobDetail(key);
            if (((string)detail!.JobDataMap[JobKeys.ActionIds]!).Split(',').Contains(id))
            {
                carriers.Add((key, (await scheduler.GetTriggersOfJob(key)).Count));
            }
        }

        if (await scheduler.Exists(JobKeys.Action(id)))
        {
            carriers.Add((JobKeys.Action(id), (await scheduler.GetTriggersOfJob(JobKeys.Action(id))).Count));
        }

        return carriers;
    }

    [Fact]
    public async Task EnqueueMany_PutsEveryActionInExactlyOneTriggeredBatchJob_ThatOwnsIt_AndARepeatAddsNone()
    {
        var actions = Enumerable.Range(0, 30).Select(i => Create($"vol-{i}")).ToList();

        Assert.Equal(30, await queue.EnqueueManyAsync(scheduler, "run-1", actions));
        Assert.Equal(2, (await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(JobKeys.ActionBatchGroup))).Count); // 25 + 5
        foreach (var action in actions)
        {
            var carrier = Assert.Single(await CarriersAsync(action));
            Assert.Equal(1, carrier.Triggers);
            var row = (await store.GetActionAsync(ActionPayload.IdOf(action)))!;
            Assert.Equal((ActionStates.Enqueued, carrier.Job.Name), (row.State, row.Job));
        }

        // the same fire planned again (another wake-up before the jobs ran): nothing new, still one carrier each
        Assert.Equal(0, await queue.EnqueueManyAsync(scheduler, "run-2", actions));
        Assert.Equal(2, (await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(JobKeys.ActionBatchGroup))).Count);
        foreach (var action in actions)
        {
            Assert.Equal(1, Assert.Single(await CarriersAsync(action)).Triggers);
        }
    }

    [Fact]
    public async Task EnqueueMany_GivesAnActionWhoseBatchIsGoneAJobOfItsOwn_AndBatchesWhatIsQueuedAgain()
    {
        var create = Create("vol-a");
        var delete = Delete("snap-old");
        Assert.Equal(2, await queue.EnqueueManyAsync(scheduler, "run-1", [create, delete]));

        // A shutdown cancelled the batch: its job is gone, the create's row is still unfinished; the delete failed.
        var batch = (await store.GetActionAsync(ActionPayload.IdOf(create)))!.Job!;
        await scheduler.DeleteJob(JobKeys.ActionBatch(batch));
        await store.FinishActionAsync(ActionPayload.IdOf(delete), ActionStates.Failed, null, null, "throttled");
        var fresh = Create("vol-b");

        Assert.Equal(2, await queue.EnqueueManyAsync(scheduler, "run-2", [create, delete, fresh]));
        Assert.Equal((JobKeys.Action(ActionPayload.IdOf(create)), 1), Assert.Single(await CarriersAsync(create)));
        Assert.Null((await store.GetActionAsync(ActionPayload.IdOf(create)))!.Job);
        var requeued = Assert.Single(await CarriersAsync(delete));
        Assert.Equal(requeued, Assert.Single(await CarriersAsync(fresh))); // both in the new run's batch
        Assert.Equal(1, requeued.Triggers);
        Assert.StartsWith("run-2/", requeued.Job.Name, StringComparison.Ordinal);
        Assert.Equal(ActionStates.Enqueued, (await store.GetActionAsync(ActionPayload.IdOf(delete)))!.State);
    }
}
