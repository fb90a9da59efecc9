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
    public Task<string> Create(string actionId, CancellationToken cancellationToken) => runner.RunAsync(actionId, cancellationToken);

    [Queue(ActionQueues.Checks)]
    [ActionJobName]
    public Task<string> CheckCompletion(string actionId, CancellationToken cancellationToken) => runner.CheckCompletionAsync(actionId, cancellationToken);

    [Queue(ActionQueues.Copies)]
    [ActionJobName]
    public Task<string> Copy(string actionId, CancellationToken cancellationToken) => runner.RunAsync(actionId, cancellationToken);

    [Queue(ActionQueues.Changes)]
    [ActionJobName]
    public Task<string> Change(string actionId, CancellationToken cancellationToken) => runner.RunAsync(actionId, cancellationToken);

    [Queue(ActionQueues.Deletes)]
    [ActionJobName]
    public Task<string> Delete(string actionId, CancellationToken cancellationToken) => runner.RunAsync(actionId, cancellationToken);
}

/// <summary>A failed action: the job fails with the action's error as its message (and no stack trace of ours).</summary>
public sealed class ActionFailedException(string message) : Exception(message)
{
    public override string? StackTrace => null;
}
