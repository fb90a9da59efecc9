using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Language;

/// <summary>Semantic checks of single values, each returning an error message or null.</summary>
internal static class ValueChecks
{
    /// <summary>The intervals `every` accepts in hours (DLM's set); days and weeks take any count.</summary>
    public static readonly int[] EveryHours = [1, 2, 3, 4, 6, 8, 12];

    public const int MaxEveryDays = 366;
    public const int MaxEveryWeeks = 52;

    public static string? Duration(string text) => PolicyDuration.TryParse(text, out _, out var error) ? null : error;

    public static string? Every(string text)
    {
        if (!PolicyDuration.TryParse(text, out var every, out var error))
        {
            return error;
        }

        var valid = every.Unit switch
        {
            DurationUnit.Hours => EveryHours.Contains(every.Value),
            DurationUnit.Days => every.Value <= MaxEveryDays,
            DurationUnit.Weeks => every.Value <= MaxEveryWeeks,
            _ => false,
        };
        return valid
            ? null
            : $"'{text}' is not a supported interval; use 1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d to {MaxEveryDays}d or 1w to {MaxEveryWeeks}w (cron for anything else)";
    }

    /// <summary>An IANA time zone id known to this machine ("UTC", "Europe/Berlin"); Windows ids are refused.</summary>
    public static string? TimeZone(string id)
    {
        if (id == "UTC")
        {
            return null;
        }

        return TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) && zone.HasIanaId && id.Contains('/', StringComparison.Ordinal)
            ? null
            : $"'{id}' is not an IANA time zone id (such as UTC, Europe/Berlin or America/New_York)";
    }

    /// <summary>Cron syntax, checked by the one cron parser of the project (see <see cref="CronCheck"/>).</summary>
    public static string? Cron(string expression) => CronCheck.Validate(expression, "UTC");
}
