using Hangfire.States;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// A global Hangfire filter: a job that moves to Failed keeps its exception's type and message, and loses its stack
/// trace and inner exceptions, so the dashboard (which every read token sees) shows what failed and never the code's
/// internals. The failed state stays a <see cref="FailedState"/> carrying the original exception, so other filters
/// (retries, the run store's record) still see it whole; only what is stored is cut.
/// </summary>
public sealed class FailedStateRedaction : IElectStateFilter
{
    /// <summary>After every other election filter (automatic retries elect Scheduled instead, and nothing is cut).</summary>
    public const int Order = int.MaxValue - 1;

    public void OnStateElection(ElectStateContext context)
    {
        if (context.CandidateState is FailedState failed and not RedactedFailedState)
        {
            context.CandidateState = new RedactedFailedState(failed);
        }
    }

    /// <summary>
    /// <see cref="FailedState"/> with stored data that is type and message only. It re-implements <see cref="IState"/>,
    /// so storages, which serialize through the interface, get this data.
    /// </summary>
    public sealed class RedactedFailedState : FailedState, IState
    {
        public RedactedFailedState(FailedState failed)
            : base(failed.Exception, failed.ServerId)
        {
            Reason = failed.Reason;
            MaxLinesInStackTrace = 1;
            IncludeFileInfo = false;
        }

        public new Dictionary<string, string> SerializeData()
        {
            var data = base.SerializeData();
            data["ExceptionDetails"] = $"{Exception.GetType().FullName}: {Exception.Message}";
            return data;
        }

        Dictionary<string, string> IState.SerializeData() => SerializeData();
    }
}
