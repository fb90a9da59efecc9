using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.AspNetCore.Http;
using Quartz;

namespace Lifecycle.Server.Api;

/// <summary>
/// The outcome of an operation: an HTTP status, and for a refusal a title and a detail naming what is wrong.
/// <see cref="Result"/> is what the REST API returns as the body (or as the problem's <c>result</c>).
/// </summary>
public sealed record OperationOutcome(int Status, string? Title, string? Detail, object? Result)
{
    public bool Succeeded => Status is >= 200 and < 300;

    /// <summary>The REST answer: the body with <paramref name="location"/> for 202, a problem for a refusal.</summary>
    public IResult ToResult(string? location = null) => Status switch
    {
        StatusCodes.Status200OK => Results.Ok(Result),
        StatusCodes.Status202Accepted => Results.Accepted(location, Result),
        StatusCodes.Status404NotFound => Problems.NotFound(Detail ?? ""),
        StatusCodes.Status409Conflict => Problems.Conflict(Title ?? "Conflict", Detail ?? "", Result),
        _ => Results.Problem(title: Title, detail: Detail, statusCode: Status),
    };
}

/// <summary>
/// The day-to-day operations (trigger a policy, pause, resume, retry an action), one implementation for every caller:
/// the REST API (<see cref="PolicyEndpoints"/>, <see cref="RunEndpoints"/>) and the backup views' buttons. Each checks
/// what it needs (the policy is applied, not paused, the action failed), acts, and writes the audit log with
/// <paramref name="actor"/>.
/// </summary>
public sealed class PolicyOperations(AppliedPolicies applied, RunStore store, PolicyPauses pauses, ActionDispatcher dispatcher, ISchedulerFactory schedulers)
{
    /// <summary>Wakes the policy now (a manual run), for one schedule or all. 404 unknown or disabled, 409 paused.</summary>
    public async Task<OperationOutcome> TriggerAsync(string name, string? schedule, string actor, CancellationToken cancellationToken = default)
    {
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        if (set.Policies.Find(name) is not { Enabled: true } policy)
        {
            return new(StatusCodes.Status404NotFound, "Not found", $"policy '{name}' is not applied or is disabled", null);
        }

        if (schedule is not null && !policy.Schedules.Any(s => s.Name == schedule))
        {
            return new(StatusCodes.Status404NotFound, "Not found", $"schedule: policy '{name}' has no schedule '{schedule}'", null);
        }

        if (await store.IsPausedAsync(name, cancellationToken).ConfigureAwait(false))
        {
            return new(StatusCodes.Status409Conflict, "the policy is paused", $"policy '{name}' is paused; resume it to run it", null);
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken).ConfigureAwait(false);
        var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Manual };
        if (schedule is not null)
        {
            data[JobKeys.Schedule] = schedule;
        }

        await scheduler.TriggerJob(JobKeys.Policy(name), data, cancellationToken).ConfigureAwait(false);
        await store.AuditAsync(actor, "policy.triggered", schedule is null ? name : $"{name} schedule {schedule}", cancellationToken).ConfigureAwait(false);
        return new(StatusCodes.Status202Accepted, null, null, new { policy = name, triggered = true });
    }

    /// <summary>Pauses or resumes a policy in the store (the truth) and in Quartz. 404 when it is not applied.</summary>
    public async Task<OperationOutcome> SetPausedAsync(string name, bool pause, string actor, CancellationToken cancellationToken = default)
    {
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        if (set.Policies.Find(name) is null)
        {
            return new(StatusCodes.Status404NotFound, "Not found", $"policy '{name}' is not applied", null);
        }

        // The store is the truth (kept across schedule edits and restarts, audited); Quartz's pause follows it.
        var scheduler = await schedulers.GetScheduler(cancellationToken).ConfigureAwait(false);
        var changed = pause
            ? await pauses.PauseAsync(scheduler, name, actor, cancellationToken).ConfigureAwait(false)
            : await pauses.ResumeAsync(scheduler, name, actor, cancellationToken).ConfigureAwait(false);
        return new(StatusCodes.Status200OK, null, null, new { policy = name, paused = pause, changed });
    }

    /// <summary>Delivers a failed or skipped action again. 404 unknown, 409 not failed or its policy paused.</summary>
    public async Task<OperationOutcome> RetryAsync(string id, string actor, CancellationToken cancellationToken = default)
    {
        var action = await store.GetActionAsync(id, cancellationToken).ConfigureAwait(false);
        if (action is null)
        {
            return new(StatusCodes.Status404NotFound, "Not found", $"action '{id}' does not exist", null);
        }

        if (action.State != ActionStates.Failed && action.State != ActionStates.Skipped)
        {
            return new(StatusCodes.Status409Conflict, "only failed or skipped actions can be retried", $"action '{id}' is {action.State}", action);
        }

        if (await store.IsPausedAsync(action.Policy, cancellationToken).ConfigureAwait(false))
        {
            return new(StatusCodes.Status409Conflict, "the policy is paused", $"policy '{action.Policy}' is paused; resume it to retry action '{id}'", action);
        }

        await dispatcher.EnqueueAsync(action.RunId, ActionPayload.Deserialize(action.Payload), retry: true, cancellationToken).ConfigureAwait(false);
        await store.AuditAsync(actor, "action.retried", id, cancellationToken).ConfigureAwait(false);
        return new(StatusCodes.Status202Accepted, null, null, await store.GetActionAsync(id, cancellationToken).ConfigureAwait(false));
    }
}
