using Dapper;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quartz;

namespace Lifecycle.Server.Hosting;

/// <summary>/healthz: the store answers and the scheduler runs. 200 when healthy, 503 otherwise.</summary>
internal static class HealthEndpoint
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", async (LifecycleDatabase database, ISchedulerFactory factory, AppliedPolicies applied, CancellationToken ct) =>
        {
            string store;
            var healthy = true;
            try
            {
                await using var connection = await database.OpenAsync(ct).ConfigureAwait(false);
                await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: ct)).ConfigureAwait(false);
                store = "ok";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                store = "error: " + e.Message;
                healthy = false;
            }

            var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
            var metadata = await scheduler.GetMetadata(ct).ConfigureAwait(false);
            var running = metadata.Status == SchedulerStatus.Running;
            healthy &= running;
            var policies = healthy ? await applied.GetAsync(ct).ConfigureAwait(false) : AppliedPolicySet.None;
            var body = new
            {
                status = healthy ? "healthy" : "unhealthy",
                store = new { database = database.Options.Describe(), state = store },
                scheduler = new
                {
                    instanceId = metadata.SchedulerInstanceId,
                    status = metadata.Status.ToString().ToLowerInvariant(),
                    clustered = metadata.JobStoreClustered,
                    threads = metadata.ThreadPoolSize,
                },
                policies = new { revision = policies.Seq, count = policies.Policies.Policies.Length, diagnostics = policies.Diagnostics },
            };
            return Results.Json(body, statusCode: healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).AllowAnonymous();
    }
}
