using System.Globalization;
using System.Text.RegularExpressions;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// Converts between AWS's 6-field <c>cron(minute hour day-of-month month day-of-week year)</c> (DLM and AWS Backup,
/// always UTC, 1 = Sunday, one of the day fields '?') and the policy language's 5-field cron (0 = Sunday, '*' for
/// "any day"). What one side can say and the other cannot (L, W, #, a year, cron's day-of-month OR day-of-week rule)
/// is reported as a problem instead of being approximated.
/// </summary>
public static partial class AwsCron
{
    [GeneratedRegex(@"^cron\((?<body>[^()]*)\)$", RegexOptions.CultureInvariant)]
    private static partial Regex Wrapper();

    [GeneratedRegex(@"^(?<start>[0-9]+)/(?<step>[0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex StartStep();

    [GeneratedRegex("[0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex Number();

    /// <summary>AWS <c>cron(...)</c> to a 5-field cron in UTC; null and a problem when it has no 5-field form.</summary>
    public static string? ToLifecycle(string expression, out string? problem)
    {
        problem = null;
        var match = Wrapper().Match(expression.Trim());
        if (!match.Success)
        {
            problem = $"'{expression}' is not an AWS cron expression; expected cron(minutes hours day-of-month month day-of-week year)";
            return null;
        }

        var fields = match.Groups["body"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 6)
        {
            problem = $"'{expression}' has {fields.Length} fields; AWS cron has 6 (minutes hours day-of-month month day-of-week year)";
            return null;
        }

        if (fields[5] is not ("*" or "?"))
        {
            problem = $"the year field '{fields[5]}' of '{expression}' has no counterpart in a 5-field cron";
            return null;
        }

        if (fields.Take(5).Any(f => f.IndexOfAny(['L', 'W', '#']) >= 0 && !IsNameList(f)))
        {
            problem = $"'{expression}' uses L, W or #, which a 5-field cron cannot say";
            return null;
        }

        var minute = Steps(fields[0], 59);
        var hour = Steps(fields[1], 23);
        var dom = fields[2] == "?" ? "*" : Steps(fields[2], 31);
        var month = Steps(fields[3], 12);
        var dow = fields[4] == "?" ? "*" : fields[4];
        if (dow != "*" && Number().IsMatch(dow))
        {
            if (dow.Contains('/', StringComparison.Ordinal))
            {
                problem = $"the stepped day-of-week '{dow}' of '{expression}' has no 5-field form here";
                return null;
            }

            // AWS counts 1 = Sunday; 5-field cron 0 = Sunday.
            dow = Number().Replace(dow, m => (int.Parse(m.Value, CultureInfo.InvariantCulture) - 1).ToString(CultureInfo.InvariantCulture));
        }

        var cron = string.Join(' ', minute, hour, dom, month, dow);
        if (!CronSchedule.TryParse(cron, "UTC", out _, out var error))
        {
            problem = $"'{expression}' converts to '{cron}', which is not valid: {error}";
            return null;
        }

        return cron;
    }

    /// <summary>A 5-field cron to AWS <c>cron(...)</c>; null and a problem when AWS cannot say it.</summary>
    public static string? FromLifecycle(string cron, out string? problem)
    {
        problem = null;
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            problem = $"'{cron}' is not a 5-field cron expression";
            return null;
        }

        var (minute, hour, dom, month, dow) = (fields[0], fields[1], fields[2], fields[3], fields[4]);
        minute = minute.Replace("*/", "0/", StringComparison.Ordinal);
        hour = hour.Replace("*/", "0/", StringComparison.Ordinal);
        dom = dom.Replace("*/", "1/", StringComparison.Ordinal);
        month = month.Replace("*/", "1/", StringComparison.Ordinal);
        if (dow == "*")
        {
            dow = "?";
        }
        else if (dom == "*")
        {
            dom = "?";
            if (Number().IsMatch(dow))
            {
                if (dow.Contains('/', StringComparison.Ordinal))
                {
                    problem = $"the stepped day-of-week '{dow}' has no AWS cron form";
                    return null;
                }

                dow = Number().Replace(dow, m => (int.Parse(m.Value, CultureInfo.InvariantCulture) % 7 + 1).ToString(CultureInfo.InvariantCulture));
            }
        }
        else
        {
            problem = $"'{cron}' restricts both day-of-month and day-of-week (cron fires when either matches); AWS cron restricts only one of them";
            return null;
        }

        return $"cron({minute} {hour} {dom} {month} {dow} *)";
    }

    private static bool IsNameList(string field) =>
        field.Split(',', '-').All(part => part.Length == 3 && part.All(char.IsAsciiLetterUpper));

    private static string Steps(string field, int max) =>
        string.Join(',', field.Split(',').Select(item => StartStep().Match(item) is { Success: true } m
            ? $"{m.Groups["start"].Value}-{max.ToString(CultureInfo.InvariantCulture)}/{m.Groups["step"].Value}"
            : item));
}
