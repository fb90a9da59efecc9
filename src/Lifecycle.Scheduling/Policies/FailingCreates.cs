using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Policies;

/// <summary>
/// The /healthz rule for creates: a policy is failing when it has creates that failed since its last successful
/// create and that success (or, if none ever succeeded, its first failure) is older than twice its shortest schedule
/// interval. Removed, disabled and paused policies are not judged. Pure: the caller passes the store's figures and now.
/// </summary>
public static class FailingCreates
{
    /// <summary>One reason per failing policy, ordered by policy name; empty when none fails.</summary>
    public static IReadOnlyList<string> Evaluate(PolicySet policies, IEnumerable<CreateFailures> failures, IReadOnlySet<string> paused, DateTimeOffset now)
    {
        var problems = new List<string>();
        foreach (var failure in failures.OrderBy(f => f.Policy, StringComparer.Ordinal))
        {
            if (policies.Find(failure.Policy) is not { Enabled: true } policy || paused.Contains(policy.Name))
            {
                continue;
            }

            var interval = policy.Schedules.Select(s => IntervalOf(s.Trigger, now)).Where(i => i > TimeSpan.Zero).DefaultIfEmpty(TimeSpan.Zero).Min();
            var since = failure.LastSucceeded ?? failure.FirstFailed;
            if (interval > TimeSpan.Zero && now - since > 2 * interval)
            {
                problems.Add(failure.LastSucceeded is null
                    ? $"{policy.Name}: {failure.Failed} create(s) failed since {failure.FirstFailed:u} and none ever succeeded (schedule interval {interval})"
                    : $"{policy.Name}: {failure.Failed} create(s) failed since its last successful create at {failure.LastSucceeded:u}, more than twice its schedule interval ({interval}) ago");
            }
        }

        return problems;
    }

    /// <summary>The gap between the schedule's next two fire times (zero when it has none).</summary>
    private static TimeSpan IntervalOf(ScheduleTrigger trigger, DateTimeOffset now)
    {
        var calendar = ScheduleCalendar.For(trigger);
        return calendar.NextAfter(now) is { } first && calendar.NextAfter(first) is { } second ? second - first : TimeSpan.Zero;
    }
}
