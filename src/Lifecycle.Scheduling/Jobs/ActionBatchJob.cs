using Lifecycle.Scheduling.Execution;
using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// A batch of one run's actions as one durable job: its actions run concurrently in this process. A fire of 1,000
/// creates is a few dozen Quartz jobs instead of 1,000, so the job store's per-job dispatch cost no longer delays the
/// snapshots' start, and a batch waits for its snapshots without holding a scheduler thread per snapshot. Requests
/// recovery: a node that dies mid-batch has the batch re-run elsewhere, which resumes exactly its unfinished actions
/// (each action belongs to its batch in the store, so it never also runs in another job).
/// </summary>
[DisallowConcurrentExecution]
public sealed class ActionBatchJob : IJob
{
    private readonly ActionRunner runner;

    public ActionBatchJob(ActionRunner runner) => this.runner = runner;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var batch = context.JobDetail.Key.Name;
        var ids = context.MergedJobDataMap.TryGetValue(JobKeys.ActionIds, out var value) && value is string text
            ? text.Split(',', StringSplitOptions.RemoveEmptyEntries)
            : [];
        var ran = await runner.RunBatchAsync(ids, batch, cancellationToken).ConfigureAwait(false);

        // One follow-up check per run of the batch (not per action).
        foreach (var (runId, policy) in ran.Distinct())
        {
            await runner.FollowUpAsync(context.Scheduler, runId, policy, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
