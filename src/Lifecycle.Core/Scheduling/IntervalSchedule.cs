using Lifecycle.Core.Time;

namespace Lifecycle.Core.Scheduling;

/// <summary>
/// Fire times StartAt + k·Every on the UTC calendar. Counting starts at a fixed epoch (Monday 2000-01-03 at StartAt,
/// UTC), so "every 2w" and "every 3d" fire on the same days whenever the policy is loaded.
/// </summary>
public sealed class IntervalSchedule : ScheduleCalendar
{
    /// <summary>A Monday: weekly intervals fire on Mondays at StartAt.</summary>
    public static readonly DateOnly Epoch = new(2000, 1, 3);

    private readonly long periodTicks;
    private readonly long anchorTicks;

    public IntervalSchedule(PolicyDuration every, TimeOnly startAt)
    {
        if (every.Unit is DurationUnit.Months or DurationUnit.Years)
        {
            throw new NotSupportedException($"an interval of {every} is not supported; use hours, days or weeks, or a cron schedule");
        }

        Every = every;
        StartAt = startAt;
        periodTicks = every.Approximate.Ticks;
        anchorTicks = new DateTimeOffset(Epoch.ToDateTime(startAt), TimeSpan.Zero).UtcTicks;
    }

    public PolicyDuration Every { get; }

    public TimeOnly StartAt { get; }

    public override DateTimeOffset? LatestAtOrBefore(DateTimeOffset t) => At(FloorIndex(t.UtcTicks));

    public override DateTimeOffset? NextAfter(DateTimeOffset t) => At(FloorIndex(t.UtcTicks) + 1);

    public override IEnumerable<DateTimeOffset> FireTimesBetween(DateTimeOffset fromExclusive, DateTimeOffset toInclusive)
    {
        for (var k = FloorIndex(fromExclusive.UtcTicks) + 1; ; k++)
        {
            var fire = At(k);
            if (fire > toInclusive)
            {
                yield break;
            }

            yield return fire;
        }
    }

    public override string ToString() => $"every {Every} from {StartAt:HH\\:mm} UTC";

    /// <summary>The index k of the latest fire time at or before the instant (floor division, also before the epoch).</summary>
    private long FloorIndex(long utcTicks)
    {
        var elapsed = utcTicks - anchorTicks;
        var k = elapsed / periodTicks;
        return elapsed < 0 && elapsed % periodTicks != 0 ? k - 1 : k;
    }

    private DateTimeOffset At(long k) => new(anchorTicks + (k * periodTicks), TimeSpan.Zero);
}
