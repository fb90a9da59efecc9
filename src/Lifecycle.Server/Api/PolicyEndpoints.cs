using System.Collections.Immutable;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Server.Security;
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
        api.MapGet("/policies", async (AppliedPolicies applied, ISchedulerFactory factory, TimeProvider time, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var views = new List<PolicyView>();
            foreach (var policy in set.Policies.Policies)
            {
                views.Add(await ViewAsync(scheduler, policy, time.GetUtcNow(), ct).ConfigureAwait(false));
            }

            return Results.Ok(new { revision = set.Revision is null ? null : new { set.Revision.Seq, set.Revision.Revision, set.Revision.Author, set.Revision.AppliedAt }, policies = views });
        }).RequireScope(AccessScope.Read);

        api.MapGet("/policies/{name}", async (string name, AppliedPolicies applied, ISchedulerFactory factory, TimeProvider time, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            var policy = set.Policies.Find(name);
            if (policy is null)
            {
                return Problems.NotFound($"policy '{name}' is not applied");
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            return Results.Ok(await ViewAsync(scheduler, policy, time.GetUtcNow(), ct).ConfigureAwait(false));
        }).RequireScope(AccessScope.Read);

        api.MapPost("/policies:plan", async (PolicySetRequest request, HttpContext http, PolicyApplier applier, CancellationToken ct) =>
        {
            if (BadRequest(request) is { } bad)
            {
                return bad;
            }

            var result = await applier.PlanAsync(ToApply(request, http.Actor()), ct).ConfigureAwait(false);
            return result.Status == ApplyResult.Invalid
                ? Problems.Invalid("the policy set is invalid", result)
                : Results.Ok(result);
        }).RequireScope(AccessScope.Read);

        api.MapPost("/policies:apply", async (PolicySetRequest request, HttpContext http, PolicyApplier applier, ISchedulerFactory factory, CancellationToken ct) =>
        {
            if (BadRequest(request) is { } bad)
            {
                return bad;
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var result = await applier.ApplyAsync(scheduler, ToApply(request, http.Actor()), ct).ConfigureAwait(false);
            return result.Status switch
            {
                ApplyResult.Invalid => Problems.Invalid("the policy set is invalid", result),
                ApplyResult.Refused => Problems.Conflict("the revision is destructive", result.Refusal ?? "", result),
                ApplyResult.Conflict => Problems.Conflict("another revision was applied concurrently", result.Refusal ?? "", result),
                _ => Results.Ok(result),
            };
        }).RequireScope(AccessScope.Admin);

        api.MapPost("/policies/{name}:trigger", async (string name, string? schedule, HttpContext http, AppliedPolicies applied, ISchedulerFactory factory, Lifecycle.Scheduling.Storage.RunStore store, CancellationToken ct) =>
        {
            var set = await applied.GetAsync(ct).ConfigureAwait(false);
            if (set.Policies.Find(name) is not { Enabled: true })
            {
                return Problems.NotFound($"policy '{name}' is not applied or is disabled");
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var data = new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Manual };
            if (schedule is not null)
            {
                data[JobKeys.Schedule] = schedule;
            }

            await scheduler.TriggerJob(JobKeys.Policy(name), data, ct).ConfigureAwait(false);
            await store.AuditAsync(http.Actor(), "policy.triggered", schedule is null ? name : $"{name} schedule {schedule}", ct).ConfigureAwait(false);
            return Results.Accepted($"/api/v1/runs?policy={Uri.EscapeDataString(name)}", new { policy = name, triggered = true });
        }).RequireScope(AccessScope.Operate);

        api.MapPost("/policies/{name}:pause", (string name, HttpContext http, ISchedulerFactory factory, Lifecycle.Scheduling.Storage.RunStore store, CancellationToken ct) =>
            PauseAsync(name, pause: true, http.Actor(), factory, store, ct)).RequireScope(AccessScope.Operate);
        api.MapPost("/policies/{name}:resume", (string name, HttpContext http, ISchedulerFactory factory, Lifecycle.Scheduling.Storage.RunStore store, CancellationToken ct) =>
            PauseAsync(name, pause: false, http.Actor(), factory, store, ct)).RequireScope(AccessScope.Operate);
    }

    private static async Task<IResult> PauseAsync(string name, bool pause, string actor, ISchedulerFactory factory, Lifecycle.Scheduling.Storage.RunStore store, CancellationToken ct)
    {
        var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
        var key = JobKeys.Policy(name);
        if (!await scheduler.Exists(key, ct).ConfigureAwait(false))
        {
            return Problems.NotFound($"policy '{name}' is not scheduled");
        }

        if (pause)
        {
            await scheduler.PauseJob(key, ct).ConfigureAwait(false);
        }
        else
        {
            await scheduler.ResumeJob(key, ct).ConfigureAwait(false);
        }

        await store.AuditAsync(actor, pause ? "policy.paused" : "policy.resumed", name, ct).ConfigureAwait(false);
        return Results.Ok(new { policy = name, paused = pause });
    }

    /// <summary>Files in one policy set at most (the examples are a handful; a team's repository a few hundred).</summary>
    public const int MaxFiles = 2_000;

    /// <summary>A 400 naming the first malformed field of a plan or apply body, or null when it is well-formed.</summary>
    internal static IResult? BadRequest(PolicySetRequest? request)
    {
        if (request is null)
        {
            return Problems.BadRequest("body: expected a JSON object {files: [{path, text}], revision, author, allowDestructive}");
        }

        var files = request.Files.IsDefault ? [] : request.Files;
        if (files.Length > MaxFiles)
        {
            return Problems.BadRequest($"files: {files.Length} files, more than the {MaxFiles} a policy set may have");
        }

        var paths = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < files.Length; i++)
        {
            var file = files[i];
            string? problem = file switch
            {
                null => "must be an object {path, text}, not null",
                { Path: null or "" } => "path: required (the file's path in the repository, e.g. policies/prod.yaml)",
                { Text: null } => "text: required (the file's YAML)",
                _ when file.Path.Length > 1024 || file.Path.Any(char.IsControl) => "path: at most 1,024 printable characters",
                _ when !paths.Add(file.Path) => $"path: '{file.Path}' appears twice",
                _ => null,
            };
            if (problem is not null)
            {
                return Problems.BadRequest($"files[{i}].{problem}".Replace($"files[{i}].must", $"files[{i}]: must", StringComparison.Ordinal));
            }
        }

        return request.Revision is { Length: > 200 } || request.Author is { Length: > 200 }
            ? Problems.BadRequest(request.Revision is { Length: > 200 } ? "revision: at most 200 characters" : "author: at most 200 characters")
            : null;
    }

    /// <summary>The author recorded with the revision (and in the audit log) names the token that applied it.</summary>
    private static ApplyRequest ToApply(PolicySetRequest request, string actor) => new()
    {
        Sources = request.Files.IsDefault ? [] : request.Files,
        Revision = request.Revision,
        Author = request.Author is null ? $"token {actor}" : $"{request.Author} (token {actor})",
        AllowDestructive = request.AllowDestructive,
    };

    private static async Task<PolicyView> ViewAsync(IScheduler scheduler, Lifecycle.Core.Policies.SnapshotPolicy policy, DateTimeOffset now, CancellationToken ct)
    {
        var triggers = await scheduler.GetTriggersOfJob(JobKeys.Policy(policy.Name), ct).ConfigureAwait(false);
        var paused = false;
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
            if (trigger is not null && await scheduler.GetTriggerState(trigger.Key, ct).ConfigureAwait(false) == TriggerState.Paused)
            {
                paused = true;
            }

            schedules.Add(new ScheduleView(schedule.Name, PolicyScheduler.Describe(schedule.Trigger), next.ToImmutable(), trigger?.NextFireTimeUtc));
        }

        return new PolicyView(policy.Name, policy.Description, policy.Enabled, paused, policy.Engine.ToString().ToLowerInvariant(), policy.Regions,
            policy.Source.ToString(), schedules.ToImmutable());
    }
}
