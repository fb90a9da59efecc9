using System.Collections.Immutable;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quartz;

namespace Lifecycle.Server.Api;

/// <summary>/api/v1/policies: list, show with next fire times, plan and apply a set, trigger, pause, resume.</summary>
internal static class PolicyEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/policies", async (AppliedPolicies applied, RunStore store, PolicySourceStatus source, ISchedulerFactory factory, TimeProvider time, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            var pauses = await store.ListPausesAsync(ct).ConfigureAwait(false);
            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var views = new List<PolicyView>();
            foreach (var policy in set.Policies.Policies)
            {
                views.Add(await ViewAsync(scheduler, policy, pauses.GetValueOrDefault(policy.Name), time.GetUtcNow(), ct).ConfigureAwait(false));
            }

            return Results.Ok(new
            {
                revision = set.Revision is null ? null : new { set.Revision.Seq, set.Revision.Revision, set.Revision.Author, set.Revision.AppliedAt },
                source = source.Current,
                policies = views,
            });
        });

        api.MapGet("/policies/{name}", async (string name, AppliedPolicies applied, RunStore store, ISchedulerFactory factory, TimeProvider time, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            var policy = set.Policies.Find(name);
            if (policy is null)
            {
                return Problems.NotFound($"policy '{name}' is not applied");
            }

            var pauses = await store.ListPausesAsync(ct).ConfigureAwait(false);
            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            return Results.Ok(await ViewAsync(scheduler, policy, pauses.GetValueOrDefault(name), time.GetUtcNow(), ct).ConfigureAwait(false));
        });

        api.MapPost("/policies:plan", async (PolicySetRequest request, PolicyApplier applier, CancellationToken ct) =>
        {
            var result = await applier.PlanAsync(ToApply(request), ct).ConfigureAwait(false);
            return result.Status == ApplyResult.Invalid
                ? Problems.Invalid("the policy set is invalid", result)
                : Results.Ok(result);
        });

        api.MapPost("/policies:apply", async (PolicySetRequest request, PolicyApplier applier, PolicySourceStatus source, ISchedulerFactory factory, CancellationToken ct) =>
        {
            // One source of truth: in directory mode an API revision would silently last only until the next change
            // of the directory (or restart), so it is refused; plan stays allowed.
            if (source.Current is { Mode: PolicySourceStatus.DirectoryMode } directory)
            {
                return Results.Problem(title: "the server runs in directory mode",
                    detail: $"the server runs in directory mode from {directory.Path}: change the files there (policies:plan still works)",
                    statusCode: StatusCodes.Status409Conflict, extensions: new Dictionary<string, object?> { ["source"] = directory });
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var result = await applier.ApplyAsync(scheduler, ToApply(request), ct).ConfigureAwait(false);
            return result.Status switch
            {
                ApplyResult.Invalid => Problems.Invalid("the policy set is invalid", result),
                ApplyResult.Refused => Problems.Conflict("the revision is destructive", result.Refusal ?? "", result),
                ApplyResult.Conflict => Problems.Conflict("another revision was applied concurrently", result.Refusal ?? "", result),
                _ => Results.Ok(result),
            };
        });

        api.MapPost("/policies/{name}:trigger", async (string name, string? schedule, AppliedPolicies applied, RunStore store, ISchedulerFactory factory, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            if (set.Policies.Find(name) is not { Enabled: true })
            {
                return Problems.NotFound($"policy '{name}' is not applied or is disabled");
            }

            if (await store.IsPausedAsync(name, ct).ConfigureAwait(false))
            {
                return Results.Problem(title: "the policy is paused", detail: $"policy '{name}' is paused; resume it to run it",
                    statusCode: StatusCodes.Status409Conflict);
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Manual };
            if (schedule is not null)
            {
                data[JobKeys.Schedule] = schedule;
            }

            await scheduler.TriggerJob(JobKeys.Policy(name), data, ct).ConfigureAwait(false);
            return Results.Accepted($"/api/v1/runs?policy={Uri.EscapeDataString(name)}", new { policy = name, triggered = true });
        });

        api.MapPost("/policies/{name}:pause", (string name, AppliedPolicies applied, PolicyPauses pauses, ISchedulerFactory factory, CancellationToken ct) =>
            PauseAsync(name, pause: true, applied, pauses, factory, ct));
        api.MapPost("/policies/{name}:resume", (string name, AppliedPolicies applied, PolicyPauses pauses, ISchedulerFactory factory, CancellationToken ct) =>
            PauseAsync(name, pause: false, applied, pauses, factory, ct));
    }

    private static async Task<IResult> PauseAsync(string name, bool pause, AppliedPolicies applied, PolicyPauses pauses, ISchedulerFactory factory, CancellationToken ct)
    {
        var set = await applied.GetAsync(ct).ConfigureAwait(false);
        if (set.Policies.Find(name) is null)
        {
            return Problems.NotFound($"policy '{name}' is not applied");
        }

        // The store is the truth (kept across schedule edits and restarts, audited); Quartz's pause follows it.
        var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
        var changed = pause
            ? await pauses.PauseAsync(scheduler, name, "api", ct).ConfigureAwait(false)
            : await pauses.ResumeAsync(scheduler, name, "api", ct).ConfigureAwait(false);
        return Results.Ok(new { policy = name, paused = pause, changed });
    }

    private static ApplyRequest ToApply(PolicySetRequest request) => new()
    {
        Sources = request.Files.IsDefault ? [] : request.Files,
        Revision = request.Revision,
        Author = request.Author,
        AllowDestructive = request.AllowDestructive,
    };

    private static async Task<PolicyView> ViewAsync(
        IScheduler scheduler, Lifecycle.Core.Policies.SnapshotPolicy policy, PolicyPause? pause, DateTimeOffset now, CancellationToken ct)
    {
        var triggers = await scheduler.GetTriggersOfJob(JobKeys.Policy(policy.Name), ct).ConfigureAwait(false);
        var schedules = ImmutableArray.CreateBuilder<ScheduleView>();
        foreach (var schedule in policy.Schedules)
        {
            var calendar = ScheduleCalendar.For(schedule.Trigger);
            var next = ImmutableArray.CreateBuilder<DateTimeOffset>();
            var t = now;
            for (var i = 0; i < 3 && calendar.NextAfter(t) is { } fire; i++)
            {
                next.Add(fire);
                t = fire;
            }

            var trigger = triggers.FirstOrDefault(x => x.Key.Equals(JobKeys.ScheduleTrigger(policy.Name, schedule.Name)));

            schedules.Add(new ScheduleView(schedule.Name, PolicyScheduler.Describe(schedule.Trigger), next.ToImmutable(), trigger?.NextFireTimeUtc));
        }

        return new PolicyView(policy.Name, policy.Description, policy.Enabled, pause is not null, policy.Engine.ToString().ToLowerInvariant(), policy.Regions,
            policy.Source.ToString(), schedules.ToImmutable())
        {
            PausedAt = pause?.PausedAt,
            PausedBy = pause?.PausedBy,
        };
    }
}
