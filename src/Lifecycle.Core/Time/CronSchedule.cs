using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Lifecycle.Core.Scheduling;
using Quartz;

namespace Lifecycle.Core.Time;

/// <summary>
/// A standard 5-field cron expression (minute hour day-of-month month day-of-week) in an IANA time zone.
/// Ranges, lists, steps, month and weekday names, 0 and 7 for Sunday; when both day fields are restricted a day
/// matches if either matches (the classic cron OR rule, which needs two Quartz expressions).
/// </summary>
/// <remarks>
/// DST rule: a local fire time that does not exist (spring forward) is skipped; a local time that occurs twice
/// (fall back) fires once, at its first occurrence. Quartz's own zone handling does not do that (it shifts
/// nonexistent times forward), so Quartz only enumerates wall-clock times here (evaluated in UTC, where no time is
/// missing or repeated) and this class maps each wall-clock time to an instant with the rule above.
/// </remarks>
public sealed class CronSchedule : ScheduleCalendar
{
    private static readonly string[] MonthNames =
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private static readonly int[] MaxDaysInMonth = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

    private readonly ImmutableArray<CronExpression> wallClockExpressions;

    private CronSchedule(string expression, TimeZoneInfo zone, ImmutableArray<string> quartzExpressions)
    {
        Expression = expression;
        Zone = zone;
        QuartzExpressions = quartzExpressions;
        wallClockExpressions = [.. quartzExpressions.Select(q => new CronExpression(q, TimeZoneInfo.Utc))];
    }

    /// <summary>The 5-field expression as written.</summary>
    public string Expression { get; }

    public TimeZoneInfo Zone { get; }

    /// <summary>
    /// The equivalent Quartz expressions (seconds field first, 1 = Sunday); two when both day fields are restricted.
    /// A scheduler may use them for display; fire times must come from this class because of the DST rule.
    /// </summary>
    public ImmutableArray<string> QuartzExpressions { get; }

    /// <summary>Parses a 5-field cron expression and an IANA time zone id. On failure <paramref name="error"/> is a short message.</summary>
    public static bool TryParse(string expression, string timeZone, out CronSchedule? schedule, out string? error)
    {
        schedule = null;
        if (!TryFindZone(timeZone, out var zone, out error))
        {
            return false;
        }

        var fields = (expression ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            error = $"expected 5 fields (minute hour day-of-month month day-of-week), found {fields.Length}";
            return false;
        }

        var minutes = ParseField(fields[0], "minute", 0, 59, null, out error);
        var hours = error is null ? ParseField(fields[1], "hour", 0, 23, null, out error) : null;
        var daysOfMonth = error is null ? ParseField(fields[2], "day-of-month", 1, 31, null, out error) : null;
        var months = error is null ? ParseField(fields[3], "month", 1, 12, MonthNames, out error) : null;
        var daysOfWeek = error is null ? ParseField(fields[4], "day-of-week", 0, 7, DayNames, out error) : null;
        if (error is not null || minutes is null || hours is null || daysOfMonth is null || months is null || daysOfWeek is null)
        {
            return false;
        }

        // 7 is Sunday too.
        if (daysOfWeek.Remove(7))
        {
            daysOfWeek.Add(0);
        }

        // Classic cron: when both day fields are restricted, a day matches if either matches. (Unlike Vixie cron, a
        // stepped wildcard such as "*/2" counts as restricted: the AND it would imply cannot be said in Quartz.)
        var domRestricted = daysOfMonth.Count != 31;
        var dowRestricted = daysOfWeek.Count != 7;
        if (domRestricted && !dowRestricted && !months.Any(m => daysOfMonth.Any(d => d <= MaxDaysInMonth[m - 1])))
        {
            error = $"day-of-month '{fields[2]}' never occurs in month '{fields[3]}', so the schedule never fires";
            return false;
        }

        var seconds = "0";
        var minute = Render(minutes, 0, 59, v => v);
        var hour = Render(hours, 0, 23, v => v);
        var month = Render(months, 1, 12, v => v);
        var dom = Render(daysOfMonth, 1, 31, v => v);
        var dow = Render(daysOfWeek, 0, 6, v => v + 1); // Quartz: 1 = Sunday
        var quartz = (domRestricted, dowRestricted) switch
        {
            (true, true) => ImmutableArray.Create(
                $"{seconds} {minute} {hour} {dom} {month} ?",
                $"{seconds} {minute} {hour} ? {month} {dow}"),
            (false, true) => [$"{seconds} {minute} {hour} ? {month} {dow}"],
            _ => [$"{seconds} {minute} {hour} {dom} {month} ?"],
        };

        try
        {
            schedule = new CronSchedule(expression!.Trim(), zone!, quartz);
        }
        catch (FormatException e)
        {
            error = $"cron expression '{expression}' is not valid: {e.Message}";
            return false;
        }

        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with the error message.</summary>
    public static CronSchedule Parse(string expression, string timeZone) =>
        TryParse(expression, timeZone, out var schedule, out var error) ? schedule! : throw new FormatException(error);

    /// <summary>Finds an IANA time zone; the message names the bad id.</summary>
    public static bool TryFindZone(string? timeZone, out TimeZoneInfo? zone, out string? error)
    {
        zone = null;
        error = null;
        if (string.IsNullOrWhiteSpace(timeZone))
        {
            error = "time zone is empty; use an IANA id such as UTC or Europe/Berlin";
            return false;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
            return true;
        }
        // A name that is a directory of the zone database ("Europe") or unreadable surfaces as SecurityException or an
        // I/O error rather than TimeZoneNotFoundException; all of them mean "not a zone".
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException or System.Security.SecurityException
                                      or IOException or UnauthorizedAccessException or ArgumentException)
        {
            error = $"time zone '{timeZone}' is not a known IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)";
            return false;
        }
    }

    /// <inheritdoc />
    public override DateTimeOffset? NextAfter(DateTimeOffset t)
    {
        // Wall-clock to instant is monotonic under the first-occurrence rule, and the wall clock of t maps to an
        // instant at or before t, so every candidate after t lies after t's wall clock.
        var wallClock = TimeZoneInfo.ConvertTime(t, Zone).DateTime;
        foreach (var candidate in WallClockTimesAfter(wallClock))
        {
            var instant = ToInstant(candidate);
            if (instant is { } i && i > t)
            {
                return i;
            }

            if (candidate.Year > t.Year + 30)
            {
                return null;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public override DateTimeOffset? LatestAtOrBefore(DateTimeOffset t)
    {
        // Quartz cannot search backwards: look forward from ever earlier starting points.
        var wallClock = TimeZoneInfo.ConvertTime(t, Zone).DateTime;
        foreach (var lookBack in LookBackWindows)
        {
            DateTimeOffset? latest = null;
            foreach (var candidate in WallClockTimesAfter(wallClock - lookBack))
            {
                if (ToInstant(candidate) is not { } instant)
                {
                    continue;
                }

                if (instant > t)
                {
                    break;
                }

                latest = instant;
            }

            if (latest is not null)
            {
                return latest;
            }
        }

        return null;
    }

    private static readonly TimeSpan[] LookBackWindows =
        [TimeSpan.FromHours(2), TimeSpan.FromDays(2), TimeSpan.FromDays(40), TimeSpan.FromDays(400), TimeSpan.FromDays(366 * 30)];

    /// <inheritdoc />
    public override IEnumerable<DateTimeOffset> FireTimesBetween(DateTimeOffset fromExclusive, DateTimeOffset toInclusive)
    {
        var wallClock = TimeZoneInfo.ConvertTime(fromExclusive, Zone).DateTime;
        foreach (var candidate in WallClockTimesAfter(wallClock))
        {
            if (ToInstant(candidate) is not { } instant || instant <= fromExclusive)
            {
                continue;
            }

            if (instant > toInclusive)
            {
                yield break;
            }

            yield return instant;
        }
    }

    public override string ToString() => $"cron '{Expression}' in {Zone.Id}";

    /// <summary>Wall-clock times strictly after <paramref name="start"/>, ascending, merged over the Quartz expressions.</summary>
    private IEnumerable<DateTime> WallClockTimesAfter(DateTime start)
    {
        var next = new DateTime?[wallClockExpressions.Length];
        var asUtc = new DateTimeOffset(DateTime.SpecifyKind(start, DateTimeKind.Unspecified), TimeSpan.Zero);
        for (var i = 0; i < next.Length; i++)
        {
            next[i] = wallClockExpressions[i].GetNextValidTimeAfter(asUtc)?.UtcDateTime;
        }

        while (true)
        {
            DateTime? smallest = null;
            foreach (var candidate in next)
            {
                if (candidate is { } c && (smallest is null || c < smallest))
                {
                    smallest = c;
                }
            }

            if (smallest is not { } value)
            {
                yield break;
            }

            yield return DateTime.SpecifyKind(value, DateTimeKind.Unspecified);
            var after = new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Unspecified), TimeSpan.Zero);
            for (var i = 0; i < next.Length; i++)
            {
                if (next[i] == value)
                {
                    next[i] = wallClockExpressions[i].GetNextValidTimeAfter(after)?.UtcDateTime;
                }
            }
        }
    }

    /// <summary>The instant of a local wall-clock time: null when it does not exist, the first occurrence when repeated.</summary>
    private DateTimeOffset? ToInstant(DateTime wallClock)
    {
        if (Zone.IsInvalidTime(wallClock))
        {
            return null;
        }

        var offset = Zone.IsAmbiguousTime(wallClock)
            ? Zone.GetAmbiguousTimeOffsets(wallClock).Max() // the larger offset is the earlier instant
            : Zone.GetUtcOffset(wallClock);
        return new DateTimeOffset(wallClock, offset).ToUniversalTime();
    }

    private static string Render(SortedSet<int> values, int min, int max, Func<int, int> map) =>
        values.Count == max - min + 1
            ? "*"
            : string.Join(',', values.Select(v => map(v).ToString(CultureInfo.InvariantCulture)));

    private static SortedSet<int>? ParseField(string field, string name, int min, int max, string[]? names, out string? error)
    {
        error = null;
        var values = new SortedSet<int>();
        foreach (var item in field.Split(','))
        {
            if (item.Length == 0)
            {
                error = $"{name} field '{field}' has an empty list item";
                return null;
            }

            var rangeText = item;
            var step = 1;
            var slash = item.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0)
            {
                rangeText = item[..slash];
                var stepText = item[(slash + 1)..];
                if (!int.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out step) || step < 1 || step > max)
                {
                    error = $"{name} field '{item}' has an invalid step '{stepText}' (use 1-{max})";
                    return null;
                }
            }

            int low, high;
            if (rangeText is "*" or "?")
            {
                if (rangeText == "?" && name is not ("day-of-month" or "day-of-week"))
                {
                    error = $"{name} field '{item}': '?' is only allowed in the day fields";
                    return null;
                }

                (low, high) = (min, name == "day-of-week" ? 6 : max);
            }
            else
            {
                var dash = rangeText.IndexOf('-', StringComparison.Ordinal);
                var lowText = dash >= 0 ? rangeText[..dash] : rangeText;
                if (!TryValue(lowText, name, min, max, names, out low, out error))
                {
                    return null;
                }

                if (dash >= 0)
                {
                    if (!TryValue(rangeText[(dash + 1)..], name, min, max, names, out high, out error))
                    {
                        return null;
                    }

                    if (high < low)
                    {
                        error = $"{name} field '{item}' is a range that ends before it starts";
                        return null;
                    }
                }
                else
                {
                    // "5/15" means from 5 to the end in steps of 15.
                    high = slash >= 0 ? max : low;
                }
            }

            for (var v = low; v <= high; v += step)
            {
                values.Add(v);
            }
        }

        return values;
    }

    private static bool TryValue(string text, string name, int min, int max, string[]? names, out int value, out string? error)
    {
        error = null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            if (value < min || value > max)
            {
                error = $"{name} field '{text}' is out of range {min}-{max}";
                return false;
            }

            return true;
        }

        if (names is not null)
        {
            var index = Array.FindIndex(names, n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
            {
                value = index + (name == "month" ? 1 : 0);
                return true;
            }
        }

        var hint = new StringBuilder($"{name} field '{text}' is not a number");
        if (names is not null)
        {
            hint.Append(CultureInfo.InvariantCulture, $" or a name ({names[0]}-{names[^1]})");
        }

        if (text.Contains('L', StringComparison.OrdinalIgnoreCase) || text.Contains('W', StringComparison.OrdinalIgnoreCase) || text.Contains('#', StringComparison.Ordinal))
        {
            hint.Append("; L, W and # are not part of standard 5-field cron");
        }

        error = hint.ToString();
        return false;
    }
}
