using System.Text.Json;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.States;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// Two nodes on one real PostgreSQL (Hangfire.PostgreSql) share a local engine through its EC2-compatible endpoint.
/// Hangfire is made to deliver every create job again, twice, from outside the nodes (as a "Requeue" in the dashboard
/// does): once while the creates are still queued or running, once after they finished. Each action must run once:
/// one snapshot per token, one attempt per action, and every extra delivery ends as a job that did nothing.
/// </summary>
public sealed class DuplicateDeliveryTests
{
    private const string Region = "dd-a";
    private const int VolumeCount = 12;

    [Fact]
    public async Task TwoNodesOnPostgres_EveryCreateJobDeliveredTwiceMore_MidRunAndAfter_EachActionRunsOnce()
    {
        using var postgres = PostgresServer.Start();
        using var environment = new TestEnvironment("duplicates");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, "dd-a-1", VolumeCount, new Dictionary<string, string> { ["suite"] = "duplicates" });
        }

        // A yearly schedule: its only work is the catch-up of the last fire when the nodes start.
        environment.WritePolicy("duplicates.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-duplicates }
            spec:
              engine: local
              regions: [dd-a]
              targets: { tags: { suite: duplicates } }
              schedules:
                - name: yearly
                  cron: "0 0 1 1 *"
                  retain: { count: 5 }
            """);

        await using var engineHost = await EndpointNodes.StartEngineHostAsync(environment.DataDirectory, [Region]);
        await using var nodeA = await EndpointNodes.StartNodeAsync(engineHost, Path.Combine(environment.Root, "node-a"),
            ["--database", postgres.Url, "--policies", environment.PoliciesDirectory, "--node", "node-a"]);
        await using var nodeB = await EndpointNodes.StartNodeAsync(engineHost, Path.Combine(environment.Root, "node-b"),
            ["--database", postgres.Url, "--policies", environment.PoliciesDirectory, "--node", "node-b"]);

        var storage = (PostgreSqlStorage)GlobalConfiguration.Configuration.UsePostgreSqlStorage(
            o => o.UseNpgsqlConnection(StoreOptions.ForPostgres(postgres.Url).ConnectionString),
            new PostgreSqlStorageOptions { SchemaName = SchedulingServiceCollectionExtensions.HangfireSchema, PrepareSchemaIfNecessary = false }).Entry;
        var client = new BackgroundJobClient(storage);

        // 1. As soon as the creates have jobs: deliver each one again while it is queued or running.
        List<JsonElement> creates = [];
        try
        {
            await nodeA.WaitUntilAsync(async () => (creates = await CreatesAsync(nodeA)).Count == VolumeCount && creates.All(a => a.TryGetProperty("job", out var j) && j.ValueKind == JsonValueKind.String),
                TimeSpan.FromSeconds(90), "a job for each create");
        }
        catch (EventuallyTimeoutException e)
        {
            throw new EventuallyTimeoutException($"the creates last seen: {Describe(creates)}\n{e.Message}");
        }

        var requeued = creates.Select(a => a.GetProperty("job").GetString()!).ToList();
        foreach (var job in requeued)
        {
            client.Requeue(job);
        }

        // 2. Once every create finished: deliver each create's job again.
        await nodeA.WaitUntilAsync(async () => (creates = await CreatesAsync(nodeA)).All(a => a.GetProperty("state").GetString() == "succeeded"),
            TimeSpan.FromSeconds(120), "every create to succeed");
        var createJobs = requeued.ToHashSet();
        var requeuedAt = DateTime.UtcNow;
        foreach (var job in createJobs)
        {
            client.Requeue(job);
        }

        // Every extra delivery ran and ended as a succeeded job that did nothing, on either node.
        var monitoring = storage.GetMonitoringApi();
        await nodeA.WaitUntilAsync(() => Task.FromResult(createJobs.All(job =>
                monitoring.JobDetails(job).History.Any(h => h.StateName == SucceededState.StateName && h.CreatedAt > requeuedAt))),
            TimeSpan.FromSeconds(120), "each create job delivered again to succeed");
        foreach (var job in createJobs)
        {
            // Delivered again after the action finished (a job requeued in step 1 may not have run in between: a
            // requeue of a job still waiting in its queue is not a second delivery).
            var history = monitoring.JobDetails(job).History;
            Assert.True(history.Any(h => h.StateName == ProcessingState.StateName && h.CreatedAt > requeuedAt),
                $"job {job}: {string.Join(", ", history.Select(h => $"{h.StateName} {h.CreatedAt:O}"))}");
        }

        // Each action ran once: one attempt, one snapshot per token, no snapshot left over.
        creates = await CreatesAsync(nodeA);
        Assert.Equal(VolumeCount, creates.Count);
        Assert.All(creates, a => Assert.Equal(("succeeded", 1), (a.GetProperty("state").GetString(), a.GetProperty("attempts").GetInt32())));
        var snapshots = (await engineHost.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy=e2e-duplicates")).EnumerateArray().ToList();
        Assert.Equal(VolumeCount, snapshots.Count);
        Assert.All(snapshots.GroupBy(s => s.GetProperty("tags").GetProperty("lifecycle:token").GetString()), g => Assert.Single(g));
        Assert.Equal(creates.Select(a => a.GetProperty("resultSnapshotId").GetString()).Order(), snapshots.Select(s => s.GetProperty("id").GetString()).Order());
        Assert.False(nodeA.HasExited || nodeB.HasExited, "a node exited");
    }

    private static string Describe(IEnumerable<JsonElement> actions) => string.Join("; ", actions.Select(a =>
        $"{a.GetProperty("id").GetString()} {a.GetProperty("state").GetString()} job={(a.TryGetProperty("job", out var j) ? j.ToString() : "-")}"));

    private static async Task<List<JsonElement>> CreatesAsync(ServerProcess node) =>
        [.. (await node.GetJsonAsync("/api/v1/actions?policy=e2e-duplicates&kind=create&limit=1000")).EnumerateArray()];
}
