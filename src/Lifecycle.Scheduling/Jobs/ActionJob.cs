using Hangfire;
using Lifecycle.Scheduling.Execution;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// The Hangfire job of one action: it carries only the action id; the run store has the rest and decides, through
/// its leased claim, whether this delivery runs the action (a duplicate or late one does nothing). One method per
/// queue (the queue of a delayed job comes from its method). The job's state follows the action's outcome: a failed
/// action is a failed job with the provider's error as its message. Hangfire does not retry: the executor's retry
/// policy (backoff for throttling and transient faults, retry-later for limits that clear by themselves) is the only
/// one, and an operator's retry goes through the run store (<c>POST /api/v1/actions/{id}:retry</c>).
/// </summary>
[AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
public sealed class ActionJob
{
    private readonly ActionRunner runner;

    public ActionJob(ActionRunner runner) => this.runner = runner;

    [Queue(ActionQueues.Creates)]
    [ActionJobName]
    public string Create(string actionId, CancellationToken cancellationToken) => Finish(runner.RunAsync(actionId, cancellationToken));

    [Queue(ActionQueues.Checks)]
    [ActionJobName]
    public string CheckCompletion(string actionId, CancellationToken cancellationToken) => Finish(runner.CheckCompletionAsync(actionId, cancellationToken));

    [Queue(ActionQueues.Copies)]
    [ActionJobName]
    public string Copy(string actionId, CancellationToken cancellationToken) => Finish(runner.RunAsync(actionId, cancellationToken));

    [Queue(ActionQueues.Changes)]
    [ActionJobName]
    public string Change(string actionId, CancellationToken cancellationToken) => Finish(runner.RunAsync(actionId, cancellationToken));

    [Queue(ActionQueues.Deletes)]
    [ActionJobName]
    public string Delete(string actionId, CancellationToken cancellationToken) => Finish(runner.RunAsync(actionId, cancellationToken));

    /// <summary>
    /// Blocks the Hangfire worker (a dedicated thread) until the delivery is done, without spinning first. The methods
    /// are synchronous for this: Hangfire waits on an asynchronous job's task with <c>Task.Wait</c>, which spins and
    /// yields before it blocks, and 20 create workers doing so took 3% of a fire's CPU samples on two cores, from the
    /// work they wait for. Hangfire finds a job by its method's name and parameters, so jobs stored before stay valid.
    /// </summary>
    private static string Finish(Task<string> delivery)
    {
        if (!delivery.IsCompleted)
        {
            using var done = new ManualResetEventSlim(initialState: false, spinCount: 0);
            delivery.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(done.Set);
            done.Wait();
        }

        return delivery.GetAwaiter().GetResult();
    }
}

/// <summary>A failed action: the job fails with the action's error as its message (and no stack trace of ours).</summary>
public sealed class ActionFailedException(string message) : Exception(message)
{
    public override string? StackTrace => null;
}
