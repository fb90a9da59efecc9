using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Language;

/// <summary>
/// The single place where policies validate cron expressions. It uses the planner's parser
/// (<see cref="CronSchedule.TryParse"/>), so a policy that validates is one the scheduler can run; there is no
/// second cron grammar here.
/// </summary>
internal static class CronCheck
{
    public static string? Validate(string expression, string timeZone) =>
        CronSchedule.TryParse(expression, timeZone, out _, out var error)
            ? null
            : $"'{expression}' is not a valid cron expression: {error}";
}
