using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Quartz;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// Nodes of a cluster sync one Quartz store from what each has read of the applied revision. Seen starting three
/// nodes on a fresh database: one node synced an empty set (it read before the first revision was stored) and deleted
/// the job another node had just added, whose catch-up trigger then failed ("the job referenced by the trigger does not
/// exist") and stopped that node.
/// </summary>
public sealed class PolicySchedulerTests
{
    private static SnapshotPolicy Policy(string name) => new()
    {
        Name = name,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
        Schedules = [new Schedule { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };

    [Fact]
    public async Task ASyncThatMayBeStale_AddsAndUpdates_ButDeletesNoOtherPolicysJob_WhileAnApplysSyncDoes()
    {
        await using var quartz = await TestQuartz.CreateAsync();
        var scheduler = quartz.Scheduler;
        await PolicyScheduler.SyncAsync(scheduler, new PolicySet([Policy("a"), Policy("b")]), paused: null, removeOthers: true);

        // A node that read an older revision (only "a"): its start or an unchanged re-apply leaves "b" alone.
        await PolicyScheduler.SyncAsync(scheduler, new PolicySet([Policy("a")]), paused: null, removeOthers: false);
        Assert.NotNull(await scheduler.GetJobDetail(JobKeys.Policy("b")));
        Assert.Single(await scheduler.GetTriggersOfJob(JobKeys.Policy("b")));

        // The apply that stored a revision without "b" removes it.
        await PolicyScheduler.SyncAsync(scheduler, new PolicySet([Policy("a")]), paused: null, removeOthers: true);
        Assert.Null(await scheduler.GetJobDetail(JobKeys.Policy("b")));
        Assert.NotNull(await scheduler.GetJobDetail(JobKeys.Policy("a")));
    }

    [Fact]
    public async Task ACatchUpOfAPolicyWhoseJobAnotherNodeJustDeleted_SyncsTheJobBack_AndFires()
    {
        await using var quartz = await TestQuartz.CreateAsync();
        var scheduler = quartz.Scheduler;
        var set = new PolicySet([Policy("a")]);
        await PolicyScheduler.SyncAsync(scheduler, set, paused: null, removeOthers: true);
        await scheduler.DeleteJob(JobKeys.Policy("a"));
        await Assert.ThrowsAsync<JobPersistenceException>(async () => await scheduler.TriggerJob(JobKeys.Policy("a"), new JobDataMap()));

        await PolicyScheduler.TriggerAsync(scheduler, "a", new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Startup }, set, paused: null);

        var triggers = await scheduler.GetTriggersOfJob(JobKeys.Policy("a"));
        Assert.Contains(triggers, t => t.Key.Group == JobKeys.ScheduleTriggerGroup);
        var catchUp = Assert.Single(triggers, t => t.Key.Group != JobKeys.ScheduleTriggerGroup);
        Assert.Equal(PolicyRunMode.Startup, catchUp.JobDataMap.GetString(JobKeys.Mode));
    }

    [Fact]
    public async Task ACatchUpOfAPolicyNotInTheSet_StillFails()
    {
        await using var quartz = await TestQuartz.CreateAsync();
        await Assert.ThrowsAsync<JobPersistenceException>(async () =>
            await PolicyScheduler.TriggerAsync(quartz.Scheduler, "gone", new JobDataMap(), new PolicySet([Policy("a")]), paused: null));
    }
}
