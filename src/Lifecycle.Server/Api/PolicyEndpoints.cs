using System.Collections.Immutable;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Hosting;
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
        }).RequireScope(AccessScope.Read);

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

        api.MapPost("/policies:apply", async (PolicySetRequest request, HttpContext http, PolicyApplier applier, PolicySourceStatus source, ISchedulerFactory factory, CancellationToken ct) =>
        {
            if (BadRequest(request) is { } bad)
            {
                return bad;
            }

            // One source of truth: in directory mode an API revision would silently last only until the next change
            // of the directory (or restart), so it is refused; plan stays allowed.
            if (source.Current is { Mode: PolicySourceStatus.DirectoryMode } directory)
            {
                return Results.Problem(title: "the server runs in directory mode",
                    detail: $"the server runs in directory mode from {directory.Path}: change the files there (policies:plan still works)",
                    statusCode: StatusCodes.Status409Conflict, extensions: new Dictionary<string, object?> { ["source"] = directory });
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

        // One implementation for the API and the backup views' buttons (PolicyOperations).
        api.MapPost("/policies/{name}:trigger", async (string name, string? schedule, HttpContext http, PolicyOperations operations, CancellationToken ct) =>
            (await operations.TriggerAsync(name, schedule, http.Actor(), ct).ConfigureAwait(false)).ToResult($"/api/v1/runs?policy={Uri.EscapeDataString(name)}"))
            .RequireScope(AccessScope.Operate);
        api.MapPost("/policies/{name}:pause", async (string name, HttpContext http, PolicyOperations operations, CancellationToken ct) =>
            (await operations.SetPausedAsync(name, pause: true, http.Actor(), ct).ConfigureAwait(false)).ToResult()).RequireScope(AccessScope.Operate);
        api.MapPost("/policies/{name}:resume", async (string name, HttpContext http, PolicyOperations operations, CancellationToken ct) =>
            (await operations.SetPausedAsync(name, pause: false, http.Actor(), ct).ConfigureAwait(false)).ToResult()).RequireScope(AccessScope.Operate);
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
            var problem = file switch
            {
                null => $"files[{i}]: must be an object {{path, text}}, not null",
                { Path: null or "" } => $"files[{i}].path: required (the file's path in the repository, e.g. policies/prod.yaml)",
                { Text: null } => $"files[{i}].text: required (the file's YAML)",
                _ when file.Path.Length > 1024 || file.Path.Any(char.IsControl) => $"files[{i}].path: at most 1,024 printable characters",
                _ when !paths.Add(file.Path) => $"files[{i}].path: '{file.Path}' appears twice",
                _ => null,
            };
            if (problem is not null)
            {
                return Problems.BadRequest(problem);
            }
        }

        return request.Revision is { Length: > 200 } ? Problems.BadRequest("revision: at most 200 characters")
            : request.Author is { Length: > 200 } ? Problems.BadRequest("author: at most 200 characters")
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
