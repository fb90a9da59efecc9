using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Language;

/// <summary>Semantic checks of single values, each returning an error message or null.</summary>
internal static partial class ValueChecks
{
    /// <summary>The intervals `every` accepts in hours (DLM's set); days and weeks take any count.</summary>
    public static readonly int[] EveryHours = [1, 2, 3, 4, 6, 8, 12];

    public const int MaxEveryDays = 366;
    public const int MaxEveryWeeks = 52;

    /// <summary>Area/Location[/Sub], the shape of IANA ids; keeps paths such as "../x" away from the zone lookup.</summary>
    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){1,2}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex IanaIdSyntax();

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

        var problem = $"'{id}' is not an IANA time zone id (such as UTC, Europe/Berlin or America/New_York)";
        if (!IanaIdSyntax().IsMatch(id))
        {
            return problem;
        }

        // The planner's zone lookup, plus: an IANA id (Region/City), not a Windows name the runtime would also accept.
        // The runtime reads the id as a path under /usr/share/zoneinfo: a directory ("Europe") throws
        // SecurityException or an IO error instead of "not found" (found by the fuzz test).
        try
        {
            return CronSchedule.TryFindZone(id, out var zone, out _) && zone!.HasIanaId ? null : problem;
        }
        catch (Exception exception) when (exception is System.Security.SecurityException or UnauthorizedAccessException or IOException or ArgumentException)
        {
            return problem;
        }
    }

    /// <summary>Cron syntax, checked by the one cron parser of the project (see <see cref="CronCheck"/>).</summary>
    public static string? Cron(string expression) => CronCheck.Validate(expression, "UTC");
}
