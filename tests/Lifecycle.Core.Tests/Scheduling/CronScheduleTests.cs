using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Tests.Scheduling;

public class CronScheduleTests
{
    private static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    private static string[] Fires(ScheduleCalendar calendar, string from, string to) =>
        [.. calendar.FireTimesBetween(Utc(from), Utc(to)).Select(OwnershipTagsFormat)];

    private static string OwnershipTagsFormat(DateTimeOffset t) => Lifecycle.Core.Planning.OwnershipTags.FormatFireTime(t);

    [Theory]
    [InlineData("61 * * * *", "minute field '61' is out of range 0-59")]
    [InlineData("0 24 * * *", "hour field '24' is out of range 0-23")]
    [InlineData("0 0 0 * *", "day-of-month field '0' is out of range 1-31")]
    [InlineData("0 0 * 13 *", "month field '13' is out of range 1-12")]
    [InlineData("0 0 * * 8", "day-of-week field '8' is out of range 0-7")]
    [InlineData("0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4")]
    [InlineData("0 0 0 * * *", "expected 6 fields (minute hour day-of-month month day-of-week), found 6")]
    [InlineData("*/0 * * * *", "minute field '*/0' has an invalid step '0' (use 1-59)")]
    [InlineData("0 5-2 * * *", "hour field '5-2' is a range that ends before it starts")]
    [InlineData("0 0 * FOO *", "month field 'FOO' is not a number or a name (JAN-DEC)")]
    [InlineData("0 0 L * *", "day-of-month field 'L' is not a number; L, W and # are not part of standard 5-field cron")]
    [InlineData("0 0 30 2 *", "day-of-month '30' never occurs in month '2', so the schedule never fires")]
    [InlineData("0 0 1,,2 * *", "day-of-month field '1,,2' has an empty list item")]
    public void TryParse_RejectsBadExpressions_WithAShortMessage(string expression, string expected)
    {
        if (expected.StartsWith("expected 6", StringComparison.Ordinal))
        {
            expected = "expected 5 fields (minute hour day-of-month month day-of-week), found 6";
        }

        Assert.False(CronSchedule.TryParse(expression, "UTC", out var schedule, out var error));
        Assert.Null(schedule);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void TryParse_RejectsAnUnknownTimeZone()
    {
        Assert.False(CronSchedule.TryParse("0 2 * * *", "Mars/Olympus", out _, out var error));
        Assert.Equal("time zone 'Mars/Olympus' is not a known IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)", error);
    }

    [Theory]
    [InlineData("0 2 * * *", "0 0 2 * * ?")]
    [InlineData("*/15 8-18 * * MON-FRI", "0 0,15,30,45 8,9,10,11,12,13,14,15,16,17,18 ? * 2,3,4,5,6")]
    [InlineData("0 0 * * 0", "0 0 0 ? * 1")]
    [InlineData("0 0 * * 7", "0 0 0 ? * 1")]
    [InlineData("0 3 1 JAN,jul *", "0 0 3 1 1,7 ?")]
    [InlineData("30 4 1-7/3 * *", "0 30 4 1,4,7 * ?")]
    public void TryParse_TranslatesToQuartz(string expression, string quartz)
    {
        var schedule = CronSchedule.Parse(expression, "UTC");
        Assert.Equal([quartz], schedule.QuartzExpressions.ToArray());
    }

    [Fact]
    public void BothDayFieldsRestricted_FireOnEitherDay_AsClassicCron()
    {
        // 1st and 15th of the month OR any Friday, at 00:00. November 2026: Fridays are 6, 13, 20, 27.
        var schedule = CronSchedule.Parse("0 0 1,15 * FRI", "UTC");
        Assert.Equal(2, schedule.QuartzExpressions.Length);
        Assert.Equal(
            ["2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-15T00:00:00Z",
             "2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z", "2026-12-01T00:00:00Z"],
            Fires(schedule, "2026-10-31T12:00:00Z", "2026-12-01T00:00:00Z"));
    }

    [Fact]
    public void SpringForward_InBerlin_SkipsTheNonexistentLocalTime()
    {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 local does not exist that day.
        var schedule = CronSchedule.Parse("30 2 * * *", "Europe/Berlin");
        Assert.Equal(
            ["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"],
            Fires(schedule, "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z"));
    }

    [Fact]
    public void FallBack_InBerlin_FiresTheRepeatedLocalTimeOnce_AtItsFirstOccurrence()
    {
        // 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 local happens at 00:30Z and again at 01:30Z.
        var schedule = CronSchedule.Parse("30 2 * * *", "Europe/Berlin");
        Assert.Equal(
            ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            Fires(schedule, "2026-10-24T00:00:00Z", "2026-10-26T12:00:00Z"));
    }

    [Fact]
    public void SpringForward_InNewYork_SkipsTheMissingHourOfAnHourlySchedule()
    {
        // 2026-03-08 02:00 EST jumps to 03:00 EDT. Hourly at :00 local: 01:00 EST (06:00Z), then 03:00 EDT (07:00Z).
        var schedule = CronSchedule.Parse("0 * * * *", "America/New_York");
        Assert.Equal(
            ["2026-03-08T05:00:00Z", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"],
            Fires(schedule, "2026-03-08T04:30:00Z", "2026-03-08T08:00:00Z"));
    }

    [Fact]
    public void FallBack_InNewYork_FiresAnHourlyScheduleOncePerLocalTime()
    {
        // 2026-11-01 02:00 EDT falls back to 01:00 EST. 01:00 local happens at 05:00Z and 06:00Z; it fires once (05:00Z).
        var schedule = CronSchedule.Parse("0 * * * *", "America/New_York");
        Assert.Equal(
            ["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"],
            Fires(schedule, "2026-11-01T03:30:00Z", "2026-11-01T08:00:00Z"));
    }

    [Fact]
    public void NextAfter_InsideTheRepeatedHour_DoesNotFireTheRepeatAgain()
    {
        var schedule = CronSchedule.Parse("30 1 * * *", "America/New_York");
        // 06:10Z is 01:10 EST, the second pass; 01:30 already fired at 05:30Z, next is tomorrow 01:30 EST = 06:30Z.
        Assert.Equal(Utc("2026-11-02T06:30:00Z"), schedule.NextAfter(Utc("2026-11-01T06:10:00Z")));
        Assert.Equal(Utc("2026-11-01T05:30:00Z"), schedule.LatestAtOrBefore(Utc("2026-11-01T06:40:00Z")));
        Assert.Equal(Utc("2026-11-01T05:30:00Z"), schedule.NextAfter(Utc("2026-11-01T05:00:00Z")));
    }

    [Fact]
    public void QuartzAlone_ShiftsANonexistentTimeForward_WhichIsWhyWeMapWallClockTimesOurselves()
    {
        // The canary for our correction: evaluated in the zone, Quartz fires 02:30 Berlin on the spring-forward day
        // at 03:00 CEST (01:00Z). Our rule skips it (see SpringForward_InBerlin_SkipsTheNonexistentLocalTime).
        var quartz = new Quartz.CronExpression("0 30 2 * * ?", TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
        Assert.Equal(Utc("2026-03-29T01:00:00Z"), quartz.GetNextValidTimeAfter(Utc("2026-03-28T12:00:00Z")));
        Assert.Equal(Utc("2026-03-30T00:30:00Z"), CronSchedule.Parse("30 2 * * *", "Europe/Berlin").NextAfter(Utc("2026-03-28T12:00:00Z")));
    }

    [Fact]
    public void LatestAtOrBefore_IncludesAFireTimeExactlyAtT()
    {
        var schedule = CronSchedule.Parse("0 2 * * *", "UTC");
        Assert.Equal(Utc("2026-11-21T02:00:00Z"), schedule.LatestAtOrBefore(Utc("2026-11-21T02:00:00Z")));
        Assert.Equal(Utc("2026-11-20T02:00:00Z"), schedule.LatestAtOrBefore(Utc("2026-11-21T01:59:59Z")));
        Assert.Equal(Utc("2026-11-22T02:00:00Z"), schedule.NextAfter(Utc("2026-11-21T02:00:00Z")));
    }

    [Fact]
    public void LeapDaySchedule_FiresOnlyInLeapYears()
    {
        var schedule = CronSchedule.Parse("0 12 29 2 *", "UTC");
        Assert.Equal(Utc("2028-02-29T12:00:00Z"), schedule.NextAfter(Utc("2026-11-21T00:00:00Z")));
        Assert.Equal(Utc("2024-02-29T12:00:00Z"), schedule.LatestAtOrBefore(Utc("2026-11-21T00:00:00Z")));
        Assert.Equal(["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"], Fires(schedule, "2025-01-01T00:00:00Z", "2035-01-01T00:00:00Z"));
    }

    [Fact]
    public void LatestAtOrBefore_FindsAMonthlyFireFarBack()
    {
        var schedule = CronSchedule.Parse("0 3 1 * *", "Europe/Berlin");
        // 1 November 03:00 CET = 02:00Z.
        Assert.Equal(Utc("2026-11-01T02:00:00Z"), schedule.LatestAtOrBefore(Utc("2026-11-30T23:00:00Z")));
    }
}

public class IntervalScheduleTests
{
    private static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Hourly_Interval_FiresAtStartAtPlusMultiples()
    {
        var calendar = ScheduleCalendar.For(new IntervalTrigger(PolicyDuration.Hours(4), new TimeOnly(1, 0)));
        Assert.Equal(
            [Utc("2026-11-21T01:00:00Z"), Utc("2026-11-21T05:00:00Z"), Utc("2026-11-21T09:00:00Z")],
            calendar.FireTimesBetween(Utc("2026-11-20T21:00:00Z"), Utc("2026-11-21T09:00:00Z")).ToArray());
        Assert.Equal(Utc("2026-11-21T05:00:00Z"), calendar.LatestAtOrBefore(Utc("2026-11-21T08:59:59Z")));
        Assert.Equal(Utc("2026-11-21T09:00:00Z"), calendar.LatestAtOrBefore(Utc("2026-11-21T09:00:00Z")));
        Assert.Equal(Utc("2026-11-21T13:00:00Z"), calendar.NextAfter(Utc("2026-11-21T09:00:00Z")));
    }

    [Fact]
    public void TwoWeekly_Interval_CountsFromTheFixedMondayEpoch()
    {
        // The fire days are the Mondays whose distance from the epoch Monday 2000-01-03 is a multiple of 14 days.
        var calendar = new IntervalSchedule(PolicyDuration.Parse("2w"), new TimeOnly(2, 0));
        var next = calendar.NextAfter(Utc("2026-11-21T00:00:00Z"))!.Value;
        Assert.Equal(DayOfWeek.Monday, next.DayOfWeek);
        Assert.Equal(0, (next.UtcDateTime.Date - new DateTime(2000, 1, 3)).Days % 14);
        Assert.Equal(new TimeSpan(2, 0, 0), next.TimeOfDay);
        Assert.Equal(next.AddDays(-14), calendar.LatestAtOrBefore(next.AddTicks(-1)));
    }

    [Fact]
    public void ThreeDaily_Interval_IsStableAcrossTheLeapDay()
    {
        var calendar = new IntervalSchedule(PolicyDuration.Days(3), new TimeOnly(0, 0));
        var fires = calendar.FireTimesBetween(Utc("2028-02-25T00:00:00Z"), Utc("2028-03-06T00:00:00Z")).ToArray();
        Assert.All(fires.Zip(fires.Skip(1)), pair => Assert.Equal(TimeSpan.FromDays(3), pair.Second - pair.First));
        Assert.Contains(fires, f => f.UtcDateTime.Date == new DateTime(2028, 2, 29) || f.UtcDateTime.Date == new DateTime(2028, 3, 1) || f.UtcDateTime.Date == new DateTime(2028, 2, 28));
    }

    [Fact]
    public void Interval_BeforeTheEpoch_StillAligns()
    {
        var calendar = new IntervalSchedule(PolicyDuration.Hours(6), new TimeOnly(3, 0));
        Assert.Equal(Utc("1999-12-31T21:00:00Z"), calendar.LatestAtOrBefore(Utc("1999-12-31T23:59:00Z")));
        Assert.Equal(Utc("2000-01-01T03:00:00Z"), calendar.NextAfter(Utc("1999-12-31T23:59:00Z")));
    }
}
