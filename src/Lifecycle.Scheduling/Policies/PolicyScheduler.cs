using System.Globalization;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Jobs;
using Quartz;

namespace Lifecycle.Scheduling.Policies;

/// <summary>
/// Keeps Quartz in step with a policy set: one durable job per enabled policy, one trigger per schedule (cron in its
/// time zone, or the interval from its start time). Nothing else lives in Quartz (the reconcile pass is a Hangfire
/// recurring job, actions are Hangfire jobs). Triggers whose definition did not change are left alone, so their fire
/// history and misfire state survive a re-apply.
/// </summary>
public static class PolicyScheduler
{
    /// <summary>
    /// Fires a policy's job once now (a catch-up). In a cluster, another node's sync may have just removed the job: a
    /// node that started on a fresh database before the first revision was stored syncs Quartz to an empty set. The
    /// job is then synced back from <paramref name="policies"/> and fired again, instead of failing the apply (which
    /// stopped the starting node: "the job referenced by the trigger does not exist").
    /// </summary>
    public static async Task TriggerAsync(
        IScheduler scheduler, string policy, JobDataMap data, PolicySet policies, IReadOnlySet<string>? paused, CancellationToken cancellationToken = default)
    {
        var key = JobKeys.Policy(policy);
        try
        {
            await scheduler.TriggerJob(key, data, cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (JobPersistenceException)
        {
            if (await scheduler.GetJobDetail(key, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw;
            }
        }

        await SyncAsync(scheduler, policies, paused, removeOthers: false, cancellationToken).ConfigureAwait(false);
        await scheduler.TriggerJob(key, data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Also pauses the triggers of the <paramref name="paused"/> policies: a rebuilt trigger starts unpaused in Quartz,
    /// and the store's pause (the truth, checked by every policy run) should show in Quartz too. Only schedule
    /// triggers are replaced or removed; one-off triggers (a startup catch-up, a manual trigger, a follow-up) are left
    /// to fire.
    /// </summary>
    /// <param name="removeOthers">
    /// Also delete the jobs of policies not in <paramref name="policies"/> (removed or disabled). Only an apply that has
    /// just stored its revision knows that for sure: a node's start or a re-apply of unchanged files may read an older
    /// revision than another node just stored, and deleting then removed that node's new jobs (and their catch-up).
    /// A job left behind by an apply that stopped halfway finds its policy gone when it fires, does nothing, and the
    /// next apply deletes it.
    /// </param>
    public static async Task SyncAsync(
        IScheduler scheduler, PolicySet policies, IReadOnlySet<string>? paused, bool removeOthers, CancellationToken cancellationToken = default)
    {
        var now = scheduler.TimeProvider.GetUtcNow();
        var wanted = policies.Policies.Where(p => p.Enabled).ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var key in removeOthers ? await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(JobKeys.PolicyGroup), cancellationToken).ConfigureAwait(false) : [])
        {
            if (!wanted.ContainsKey(key.Name))
            {
                await DeleteJobAsync(scheduler, key, cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var policy in wanted.Values)
        {
            var jobKey = JobKeys.Policy(policy.Name);
            var job = JobBuilder.Create<PolicyJob>()
                .WithIdentity(jobKey)
                .WithDescription(policy.Description ?? policy.Name)
                .StoreDurably(true)
                .RequestRecovery(true)
                .Build();
            await scheduler.AddJob(job, AddJobOptions.Replacing, cancellationToken).ConfigureAwait(false);

            var existing = await scheduler.GetTriggersOfJob(jobKey, cancellationToken).ConfigureAwait(false);
            var wantedTriggers = policy.Schedules.ToDictionary(s => JobKeys.ScheduleTrigger(policy.Name, s.Name));
            // A TriggerJob trigger (a startup catch-up fired a moment ago) is not a schedule: removing it here silently
            // dropped the catch-up whenever the watched directory was applied after the start.
            foreach (var trigger in existing.Where(t => t.Key.Group == JobKeys.ScheduleTriggerGroup && !wantedTriggers.ContainsKey(t.Key)))
            {
                await scheduler.UnscheduleJob(trigger.Key, cancellationToken).ConfigureAwait(false);
            }

            foreach (var (key, schedule) in wantedTriggers)
            {
                var description = Describe(schedule.Trigger);
                var current = existing.FirstOrDefault(t => t.Key.Equals(key));
                if (current is not null && current.Description == description)
                {
                    continue;
                }

                var trigger = Build(scheduler.TimeProvider, key, jobKey, schedule, description, now);
                if (current is null)
                {
                    try
                    {
                        await scheduler.ScheduleJob(trigger, default, cancellationToken).ConfigureAwait(false);
                    }
                    catch (ObjectAlreadyExistsException)
                    {
                        await scheduler.RescheduleJob(key, trigger, cancellationToken).ConfigureAwait(false);
                    }
                }
                else
                {
                    await scheduler.RescheduleJob(key, trigger, cancellationToken).ConfigureAwait(false);
                }
            }

            if (paused is not null && paused.Contains(policy.Name))
            {
                await scheduler.PauseJob(jobKey, cancellationToken).ConfigureAwait(false);
            }
        }

    }

    /// <summary>
    /// Deletes a removed policy's job. A one-off trigger of it (a catch-up, a manual run) may complete and vanish
    /// while Quartz unschedules it, which Quartz reports as a SchedulerException; the delete is tried again and is
    /// done once the job is gone.
    /// </summary>
    private static async Task DeleteJobAsync(IScheduler scheduler, JobKey key, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await scheduler.DeleteJob(key, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (SchedulerException) when (attempt < 5)
            {
                if (!await scheduler.Exists(key, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), scheduler.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A stable text of a trigger's definition; a changed text means the trigger is rebuilt.</summary>
    public static string Describe(ScheduleTrigger trigger) => trigger switch
    {
        CronTrigger cron => $"cron {cron.Expression} {cron.TimeZone}",
        IntervalTrigger interval => string.Create(CultureInfo.InvariantCulture, $"every {interval.Every} from {interval.StartAt:HH\\:mm}"),
        _ => trigger.ToString() ?? "",
    };

    private static ITrigger Build(TimeProvider timeProvider, TriggerKey key, JobKey jobKey, Schedule schedule, string description, DateTimeOffset now)
    {
        var builder = TriggerBuilder.Create(timeProvider)
            .WithIdentity(key)
            .ForJob(jobKey)
            .WithDescription(description)
            .UsingJobData(JobKeys.Schedule, schedule.Name)
            .UsingJobData(JobKeys.Mode, PolicyRunMode.Fire);
        switch (schedule.Trigger)
        {
            case CronTrigger cron:
                // Quartz only wakes the policy; which fire times are due (DST gaps and repeats included) is the
                // planner's schedule math. A missed wake fires once on start (FireAndProceed), never a burst.
                builder = builder
                    .StartAt(now)
                    .WithSchedule(CronScheduleBuilder.Create(cron.Expression, CronFormat.Unix)
                        .InTimeZone(TimeZoneInfo.FindSystemTimeZoneById(cron.TimeZone))
                        .WithMisfireInstruction(CronTriggerMisfireInstruction.FireAndProceed));
                break;
            case IntervalTrigger interval:
                var calendar = ScheduleCalendar.For(interval);
                var first = calendar.NextAfter(now) ?? now;
                // Every fire time of N days or weeks falls on the daily wake-up at startAt; the planner decides which are due.
                var every = interval.Every.Approximate <= TimeSpan.FromDays(1) ? interval.Every.Approximate : TimeSpan.FromDays(1);
                builder = builder
                    .StartAt(first)
                    .WithSimpleSchedule(x => x.WithInterval(every).RepeatForever().WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount));
                break;
            default:
                throw new NotSupportedException($"unknown trigger {schedule.Trigger.GetType().Name}");
        }

        return builder.Build();
    }
}
