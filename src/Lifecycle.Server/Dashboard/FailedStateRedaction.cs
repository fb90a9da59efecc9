using Hangfire.States;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// A global Hangfire filter: a Failed state is stored with its exception's type and message and no stack trace, so the
/// dashboard (which every read token sees) shows what failed and never the code's internals. The state is trimmed in
/// place rather than replaced, because Hangfire stores a replaced candidate in the job's history as it was; for the
/// same reason a Failed state that another filter replaced (an automatic retry electing Scheduled) is trimmed too. The
/// exception object itself is untouched, so other filters and the run store see it whole.
/// </summary>
public sealed class FailedStateRedaction : IElectStateFilter
{
    /// <summary>After every other election filter, so it sees the states they replaced as well.</summary>
    public const int Order = int.MaxValue - 1;

    public void OnStateElection(ElectStateContext context)
    {
        foreach (var failed in context.TraversedStates.Append(context.CandidateState).OfType<FailedState>())
        {
            Trim(failed);
        }
    }

    /// <summary>
    /// Hangfire writes the details as "TYPE: MESSAGE" and then the stack traces; keeping as many lines as the first
    /// part has keeps the type and message (and an inner exception's first line: " ---> INNER-TYPE: …") only.
    /// </summary>
    public static void Trim(FailedState failed)
    {
        failed.IncludeFileInfo = false;
        failed.MaxLinesInStackTrace = LineCount($"{failed.Exception.GetType().FullName}: {failed.Exception.Message}");
    }

    private static int LineCount(string text)
    {
        using var reader = new StringReader(text);
        var lines = 0;
        while (reader.ReadLine() is not null)
        {
            lines++;
        }

        return Math.Max(lines, 1);
    }
}
