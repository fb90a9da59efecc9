using System.Globalization;
using System.Text.RegularExpressions;

namespace Lifecycle.Core.Time;

/// <summary>Units of the one duration syntax used everywhere in policies: 30s, 30m, 4h, 7d, 2w, 6mo, 3y.</summary>
public enum DurationUnit
{
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,

    /// <summary>Seconds (added after the others so existing values keep their numbers); used by hook timeouts.</summary>
    Seconds,
}

/// <summary>
/// A calendar-aware duration. Months and years are calendar units (3y back from 2028-02-29 is 2025-02-28),
/// so "keep 12 months" means what a person means, not 360 days.
/// </summary>
public readonly partial record struct PolicyDuration(int Value, DurationUnit Unit) : IComparable<PolicyDuration>
{
    [GeneratedRegex(@"^(?<n>[0-9]{1,6})(?<u>mo|m|h|d|w|y|s)$", RegexOptions.CultureInvariant)]
    private static partial Regex Syntax();

    /// <summary>Parses "30s", "30m", "4h", "7d", "2w", "6mo", "3y". Returns false with a message on anything else.</summary>
    public static bool TryParse(string? text, out PolicyDuration duration, out string? error)
    {
        duration = default;
        error = null;
        var match = text is null ? Match.Empty : Syntax().Match(text.Trim());
        if (!match.Success)
        {
            error = $"'{text}' is not a duration; use a whole number and a unit: 30s, 30m, 4h, 7d, 2w, 6mo or 3y";
            return false;
        }

        var value = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
        if (value == 0)
        {
            error = $"'{text}' is zero; a duration must be positive";
            return false;
        }

        var unit = match.Groups["u"].Value switch
        {
            "s" => DurationUnit.Seconds,
            "m" => DurationUnit.Minutes,
            "h" => DurationUnit.Hours,
            "d" => DurationUnit.Days,
            "w" => DurationUnit.Weeks,
            "mo" => DurationUnit.Months,
            _ => DurationUnit.Years,
        };
        duration = new PolicyDuration(value, unit);
        return true;
    }

    public static PolicyDuration Parse(string text) =>
        TryParse(text, out var d, out var error) ? d : throw new FormatException(error);

    public static PolicyDuration Days(int n) => new(n, DurationUnit.Days);

    public static PolicyDuration Hours(int n) => new(n, DurationUnit.Hours);

    /// <summary>The instant this duration before <paramref name="instant"/>, in calendar terms for months and years.</summary>
    public DateTimeOffset SubtractFrom(DateTimeOffset instant) => AddTo(instant, -Value);

    public DateTimeOffset AddTo(DateTimeOffset instant) => AddTo(instant, Value);

    private DateTimeOffset AddTo(DateTimeOffset instant, int n) => Unit switch
    {
        DurationUnit.Seconds => instant.AddSeconds(n),
        DurationUnit.Minutes => instant.AddMinutes(n),
        DurationUnit.Hours => instant.AddHours(n),
        DurationUnit.Days => instant.AddDays(n),
        DurationUnit.Weeks => instant.AddDays(7 * n),
        DurationUnit.Months => instant.AddMonths(n),
        _ => instant.AddYears(n),
    };

    /// <summary>Length for comparisons (months as 30 days, years as 365); never use it for calendar arithmetic.</summary>
    public TimeSpan Approximate => Unit switch
    {
        DurationUnit.Seconds => TimeSpan.FromSeconds(Value),
        DurationUnit.Minutes => TimeSpan.FromMinutes(Value),
        DurationUnit.Hours => TimeSpan.FromHours(Value),
        DurationUnit.Days => TimeSpan.FromDays(Value),
        DurationUnit.Weeks => TimeSpan.FromDays(7 * Value),
        DurationUnit.Months => TimeSpan.FromDays(30 * Value),
        _ => TimeSpan.FromDays(365 * Value),
    };

    public int CompareTo(PolicyDuration other) => Approximate.CompareTo(other.Approximate);

    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture) + Unit switch
    {
        DurationUnit.Seconds => "s",
        DurationUnit.Minutes => "m",
        DurationUnit.Hours => "h",
        DurationUnit.Days => "d",
        DurationUnit.Weeks => "w",
        DurationUnit.Months => "mo",
        _ => "y",
    };
}
