namespace Lifecycle.Policies.Language;

/// <summary>
/// The single place where policies validate cron expressions. It defers to the planner's parser
/// (Lifecycle.Core.Time.CronSchedule) so a policy that validates is one the scheduler can run.
/// </summary>
internal static class CronCheck
{
    public static string? Validate(string expression, string timeZone)
    {
        // Interim check until CronSchedule lands: five space-separated fields of cron characters.
        var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            return $"'{expression}' has {fields.Length} fields; a cron expression has 5: minute hour day-of-month month day-of-week";
        }

        foreach (var field in fields)
        {
            if (!field.All(c => char.IsAsciiLetterOrDigit(c) || c is '*' or ',' or '-' or '/' or '?' or '#'))
            {
                return $"'{expression}' is not a valid cron expression: field '{field}'";
            }
        }

        return ValueChecks.TimeZone(timeZone);
    }
}
