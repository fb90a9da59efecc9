using System.Collections.Concurrent;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Scheduling;

/// <summary>
/// The fire times of a schedule trigger (cron or interval): the one schedule math that the planner, simulate and the
/// scheduler share. Instances are immutable and thread-safe.
/// </summary>
public abstract class ScheduleCalendar
{
    private static readonly ConcurrentDictionary<ScheduleTrigger, ScheduleCalendar> Cache = new();

    /// <summary>Fire times t with <paramref name="fromExclusive"/> &lt; t ≤ <paramref name="toInclusive"/>, ascending.</summary>
    public abstract IEnumerable<DateTimeOffset> FireTimesBetween(DateTimeOffset fromExclusive, DateTimeOffset toInclusive);

    /// <summary>The latest fire time at or before <paramref name="t"/>, or null if there is none (in the searched past).</summary>
    public abstract DateTimeOffset? LatestAtOrBefore(DateTimeOffset t);

    /// <summary>The first fire time strictly after <paramref name="t"/>, or null if it never fires again.</summary>
    public abstract DateTimeOffset? NextAfter(DateTimeOffset t);

    /// <summary>
    /// The calendar of a validated trigger. Throws <see cref="FormatException"/> for an invalid cron expression or
    /// zone and <see cref="NotSupportedException"/> for an interval in months or years (the loader rejects both).
    /// </summary>
    public static ScheduleCalendar For(ScheduleTrigger trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        return Cache.GetOrAdd(trigger, static t => t switch
        {
            CronTrigger cron => CronSchedule.Parse(cron.Expression, cron.TimeZone),
            IntervalTrigger interval => new IntervalSchedule(interval.Every, interval.StartAt),
            _ => throw new NotSupportedException($"unknown trigger {t.GetType().Name}"),
        });
    }
}
