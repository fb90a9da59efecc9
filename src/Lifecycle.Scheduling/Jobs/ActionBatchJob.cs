using Lifecycle.Scheduling.Execution;
using Microsoft.Extensions.Logging;
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
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(15);
    private readonly ActionRunner runner;
    private readonly ILogger<ActionBatchJob> logger;

    public ActionBatchJob(ActionRunner runner, ILogger<ActionBatchJob> logger)
    {
        this.runner = runner;
        this.logger = logger;
    }

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var batch = context.JobDetail.Key.Name;
        var ids = context.MergedJobDataMap.TryGetValue(JobKeys.ActionIds, out var value) && value is string text
            ? text.Split(',', StringSplitOptions.RemoveEmptyEntries)
            : [];
        IReadOnlyList<(string RunId, string Policy)> ran;
        try
        {
            ran = await runner.RunBatchAsync(ids, batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The store failed (a connection lost, a pool exhausted). Quartz would drop this non-durable job with its
            // trigger and strand the batch's actions: give it another trigger first; the re-run resumes what is left.
            logger.LogWarning(e, "batch {Batch} failed: {Error}; it runs again in {Delay}", batch, e.Message, RetryDelay);
            await context.Scheduler.ScheduleJob(TriggerBuilder.Create(context.Scheduler.TimeProvider)
                .WithIdentity(batch + "/retry-" + Guid.NewGuid().ToString("N")[..8], JobKeys.ActionBatchGroup)
                .ForJob(context.JobDetail.Key)
                .StartAt(context.Scheduler.TimeProvider.GetUtcNow() + RetryDelay)
                .Build(), default, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        // One follow-up check per run of the batch (not per action).
        foreach (var (runId, policy) in ran.Distinct())
        {
            await runner.FollowUpAsync(context.Scheduler, runId, policy, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
