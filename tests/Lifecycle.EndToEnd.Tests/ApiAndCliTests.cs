using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>The GitOps path through the real CLI and server: apply, unchanged re-apply, invalid sets, pause/resume, trigger, runs.</summary>
public sealed class ApiAndCliTests
{
    private const string Policy = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: api-daily }
        spec:
          engine: local
          regions: [api-a]
          targets: { tags: { suite: api } }
          schedules:
            - name: daily
              cron: "0 3 * * *"
              timezone: Europe/Paris
              retain: { count: 3 }
        """;

    [Fact]
    public async Task Apply_ThroughTheCli_AppliesOnce_ReportsUnchanged_RejectsInvalidSets_AndRunsAreListed()
    {
        using var environment = new TestEnvironment("api");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "api-a", "api-a-1", 2, new Dictionary<string, string> { ["suite"] = "api" });
        }

        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory]);
        var server1 = server.BaseAddress.ToString();
        environment.WritePolicy("daily.yaml", Policy);

        // The pull-request step: `plan --server` shows the diff and the next runs' actions, and changes nothing.
        var revisionsBefore = (await server.GetJsonAsync("/api/v1/revisions")).GetArrayLength();
        var planned = await CliAsync(server.AdminToken, "plan", "--server", server1, "--policies", environment.PoliciesDirectory);
        Assert.True(planned.Exit == 0, planned.Stderr + planned.Stdout);
        Assert.Contains("added    api-daily", planned.Stdout);
        Assert.Equal(2, planned.Stdout.Split('\n').Count(line => line.Contains(" create ", StringComparison.Ordinal)));
        Assert.Equal(revisionsBefore, (await server.GetJsonAsync("/api/v1/revisions")).GetArrayLength());
        var planUsage = await CliAsync(server.AdminToken, "plan", "--server", server1, "--policies", environment.PoliciesDirectory, "--inventory", "x.json");
        Assert.Equal(2, planUsage.Exit);

        var applied = await CliAsync(server.AdminToken, "apply", "--server", server1, "--policies", environment.PoliciesDirectory, "--revision", "abc123", "--author", "ci");
        Assert.Equal(0, applied.Exit);
        Assert.Contains("status: applied", applied.Stdout);
        Assert.Contains("added    api-daily", applied.Stdout);

        var again = await CliAsync(server.AdminToken, "apply", "--server", server1, "--policies", environment.PoliciesDirectory, "--output", "json");
        Assert.Equal(0, again.Exit);
        Assert.Equal("unchanged", JsonDocument.Parse(again.Stdout).RootElement.GetProperty("status").GetString());

        File.WriteAllText(Path.Combine(environment.PoliciesDirectory, "broken.yaml"), Policy.Replace("api-daily", "api-broken").Replace("count: 3", "count: three"));
        var invalid = await CliAsync(server.AdminToken, "apply", "--server", server1, "--policies", environment.PoliciesDirectory);
        Assert.Equal(1, invalid.Exit);
        Assert.Matches(@"broken\.yaml:\d+:\d+: error: ", invalid.Stderr);
        File.Delete(Path.Combine(environment.PoliciesDirectory, "broken.yaml"));

        // The applied revision carries its git revision and author; next fire times come from the schedule math.
        var policy = await server.GetJsonAsync("/api/v1/policies/api-daily");
        var next = policy.GetProperty("schedules")[0].GetProperty("nextFireTimes")[0].GetDateTimeOffset();
        Assert.Equal(3, TimeZoneInfo.ConvertTime(next, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris")).Hour);
        var revisions = await server.GetJsonAsync("/api/v1/revisions");
        Assert.Equal("abc123", revisions[0].GetProperty("revision").GetString());
        Assert.Equal("ci (token admin)", revisions[0].GetProperty("author").GetString()); // the token that applied it, not only what the client says

        // Pause and resume.
        using (var pause = await server.PostJsonAsync("/api/v1/policies/api-daily:pause"))
        {
            Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        }

        Assert.True((await server.GetJsonAsync("/api/v1/policies/api-daily")).GetProperty("paused").GetBoolean());
        using (var resume = await server.PostJsonAsync("/api/v1/policies/api-daily:resume"))
        {
            Assert.Equal(HttpStatusCode.OK, resume.StatusCode);
        }

        Assert.False((await server.GetJsonAsync("/api/v1/policies/api-daily")).GetProperty("paused").GetBoolean());

        // Trigger now: the latest daily fire has no snapshot yet, so one create per volume (not more on a second trigger).
        for (var i = 0; i < 2; i++)
        {
            using var trigger = await server.PostJsonAsync("/api/v1/policies/api-daily:trigger");
            Assert.Equal(HttpStatusCode.Accepted, trigger.StatusCode);
            var manualRuns = i + 1;
            await server.WaitUntilAsync(async () =>
            {
                var runs = (await server.GetJsonAsync("/api/v1/runs?policy=api-daily")).EnumerateArray().ToList();
                var actions = (await server.GetJsonAsync("/api/v1/actions?policy=api-daily&limit=1000")).EnumerateArray();
                return runs.Count(r => r.GetProperty("kind").GetString() == "manual") == manualRuns
                    && runs.All(r => r.GetProperty("state").GetString() != "running")
                    && actions.All(a => a.GetProperty("state").GetString() is "succeeded" or "failed" or "skipped");
            }, TimeSpan.FromSeconds(60), $"manual run {manualRuns} and its actions to finish");
        }

        var snapshots = (await server.GetJsonAsync("/api/v1/snapshots?policy=api-daily")).EnumerateArray().ToList();
        Assert.Equal(2, snapshots.Count);

        var runs = await CliAsync(server.AdminToken, "runs", "list", "--server", server1, "--policy", "api-daily", "--output", "json");
        Assert.Equal(0, runs.Exit);
        var runList = JsonDocument.Parse(runs.Stdout).RootElement.EnumerateArray().ToList();
        Assert.Contains(runList, r => r.GetProperty("kind").GetString() == "manual");
        var shown = await CliAsync(server.AdminToken, "runs", "show", runList.Last().GetProperty("id").GetString()!, "--server", server1);
        Assert.Equal(0, shown.Exit);
        Assert.Contains("policy api-daily", shown.Stdout);

        // Unknown things are problem details with 404.
        using var missing = await server.Http.GetAsync("/api/v1/runs/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        var notRunning = await CliAsync(server.AdminToken, "runs", "list", "--server", "http://127.0.0.1:" + ServerProcess.FreePort());
        Assert.Equal(1, notRunning.Exit);
        await server.StopAsync();
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> CliAsync(string token, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["LIFECYCLE_TOKEN"] = token;
        start.ArgumentList.Add(ServerProcess.LifecycleDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
