using Lifecycle.Scheduling.Execution;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// One provider action as its own durable job (a retry, or an action whose batch job is gone). Requests recovery: a
/// node that dies mid-action has it re-run elsewhere. The runner does the work.
/// </summary>
[DisallowConcurrentExecution]
public sealed class ActionJob : IJob
{
    private readonly ActionRunner runner;

    public ActionJob(ActionRunner runner) => this.runner = runner;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        if (context.MergedJobDataMap.TryGetValue(JobKeys.ActionId, out var value) && value is string actionId
            && await runner.RunAsync(actionId, cancellationToken).ConfigureAwait(false) is { } ran)
        {
            await runner.FollowUpAsync(context.Scheduler, ran.RunId, ran.Policy, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
