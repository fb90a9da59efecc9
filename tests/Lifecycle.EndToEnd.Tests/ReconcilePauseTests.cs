using System.Text.Json;
using Lifecycle.Scheduling.Policies;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The periodic reconcile (deletions, copies, archive moves) leaves a paused policy alone, and acts on it again once
/// it is resumed. The reconcile interval is shortened to seconds for the test (LIFECYCLE_RECONCILE_SECONDS).
/// </summary>
public sealed class ReconcilePauseTests
{
    private const string Region = "rc-a";

    private static string Policy(string name) => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: {{name}} }
        spec:
          engine: local
          regions: [rc-a]
          targets: { tags: { suite: {{name}} } }
          schedules:
            - name: daily
              cron: "0 3 * * *"
              retain: { count: 1 }
        """;

    [Fact]
    public async Task Reconcile_DeletesNothingOfAPausedPolicy_WhileItRunsTheOthers_AndDeletesOnceResumed()
    {
        using var environment = new TestEnvironment("reconcile-pause");
        string volume;
        using (var engine = environment.OpenEngine())
        {
            volume = (await TestEnvironment.SeedVolumesAsync(engine, Region, "rc-a-1", 1, new Dictionary<string, string> { ["suite"] = "held" }))[0];
            await TestEnvironment.SeedVolumesAsync(engine, Region, "rc-a-1", 1, new Dictionary<string, string> { ["suite"] = "other" });
        }

        environment.WritePolicy("held.yaml", Policy("held"));
        environment.WritePolicy("other.yaml", Policy("other"));
        await using var server = await ServerProcess.StartAsync(
            ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory],
            environment: new Dictionary<string, string> { [Lifecycle.Scheduling.Jobs.ReconcileJob.IntervalVariable] = "3" });

        // The apply's catch-up gives each policy its one snapshot.
        await server.WaitUntilAsync(async () => (await SnapshotsAsync(server, "held")).Count == 1 && (await SnapshotsAsync(server, "other")).Count == 1,
            TimeSpan.FromSeconds(60), "each policy's catch-up snapshot");
        using (var pause = await server.PostJsonAsync("/api/v1/policies/held:pause"))
        {
            Assert.True(pause.IsSuccessStatusCode, await pause.Content.ReadAsStringAsync());
        }

        // A run that read the pause a moment before it was stored may still start: count from a second later.
        var pausedAt = DateTimeOffset.UtcNow.AddSeconds(1);

        // A second snapshot owned by "held": with retain count 1, reconcile would delete one of the two
        // (through the server's EC2 endpoint, as any EC2 client would: creates may carry the ownership tags).
        var tags = "ResourceType=snapshot,Tags=[{Key=lifecycle:policy,Value=held},{Key=lifecycle:schedule,Value=daily},{Key=lifecycle:schedules,Value=daily},"
            + "{Key=lifecycle:fire-time,Value=2026-01-01T03:00:00Z},{Key=lifecycle:token,Value=injected-for-reconcile}]";
        (await AwsCli.Ec2Async(new Uri(server.BaseAddress, "/ec2").ToString(), EndpointNodes.CredentialsOf(server), Region,
            "create-snapshot", "--volume-id", volume, "--tag-specifications", tags)).Ok();

        // Two reconcile passes of "other" after the pause prove the reconcile path ran.
        await server.WaitUntilAsync(async () => (await ReconcileRunsSinceAsync(server, "other", pausedAt)) >= 2, TimeSpan.FromSeconds(60), "two reconcile runs of other");
        Assert.Equal(0, await ReconcileRunsSinceAsync(server, "held", pausedAt));
        Assert.Equal(2, (await SnapshotsAsync(server, "held")).Count);

        var resumedAt = DateTimeOffset.UtcNow;
        using (var resume = await server.PostJsonAsync("/api/v1/policies/held:resume"))
        {
            Assert.True(resume.IsSuccessStatusCode, await resume.Content.ReadAsStringAsync());
        }

        // Resumed, its retention applies and the reconcile passes run it again. The delete may come first from a run
        // that started just before the pause was stored and planned it after the injected snapshot existed: its
        // delivery waited for the resume (as deferred actions do), ahead of the next pass. So each is waited for.
        await server.WaitUntilAsync(async () => (await SnapshotsAsync(server, "held")).Count == 1, TimeSpan.FromSeconds(60), "held's extra snapshot to be deleted");
        await server.WaitUntilAsync(async () => await ReconcileRunsSinceAsync(server, "held", resumedAt) >= 1, TimeSpan.FromSeconds(60), "a reconcile run of held after the resume");
    }

    private static async Task<List<JsonElement>> SnapshotsAsync(ServerProcess server, string policy) =>
        [.. (await server.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy={policy}")).EnumerateArray().Where(s => s.GetProperty("state").GetString() == "completed")];

    private static async Task<int> ReconcileRunsSinceAsync(ServerProcess server, string policy, DateTimeOffset since) =>
        (await server.GetJsonAsync($"/api/v1/runs?policy={policy}&limit=1000")).EnumerateArray()
            .Count(r => r.GetProperty("kind").GetString() == "reconcile" && r.GetProperty("startedAt").GetDateTimeOffset() >= since);
}
