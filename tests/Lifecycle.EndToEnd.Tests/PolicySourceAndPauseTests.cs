using System.Net;
using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// One source of truth for policies (API mode: the applied revision survives restarts; directory mode: the directory
/// is the truth, API applies are refused, a vanished or emptied directory keeps the running revision and makes
/// /healthz 503), nothing removed by accident, and a pause (in the store) honoured by every path that runs a policy.
/// Written as a client would: every request through <see cref="ServerProcess"/>.
/// </summary>
public sealed class PolicySourceAndPauseTests
{
    private static string Policy(string name, string suite, string cron = "0 3 * * *", string hooks = "") => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: {{name}} }
        spec:
          engine: local
          regions: [ps-a]
          targets: { tags: { suite: {{suite}} } }
          schedules:
            - name: main
              cron: "{{cron}}"
              retain: { count: 5 }
        {{hooks}}
        """;

    [Fact]
    public async Task ApiMode_AppliedRevisionSurvivesRestarts_EmptyApplyIsRefused_AndDirectoryModeRefusesApiApplies()
    {
        using var environment = new TestEnvironment("source-api");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "ps-a", "ps-a-1", 1, new Dictionary<string, string> { ["suite"] = "api" });
        }

        var files = new[]
        {
            new { path = "alpha.yaml", text = Policy("alpha", "api") },
            new { path = "beta.yaml", text = Policy("beta", "api") },
        };
        string[] apiMode = ["--data", environment.DataDirectory];
        await using (var server = await ServerProcess.StartAsync(apiMode))
        {
            using (var applied = await server.PostJsonAsync("/api/v1/policies:apply", new { files, revision = "c1", author = "ci" }))
            {
                Assert.True(applied.StatusCode == HttpStatusCode.OK, await applied.Content.ReadAsStringAsync());
            }

            // An empty set removes everything: destructive, refused without allowDestructive, nothing removed.
            using (var empty = await server.PostJsonAsync("/api/v1/policies:apply", new { files = Array.Empty<object>() }))
            {
                var text = await empty.Content.ReadAsStringAsync();
                Assert.True(empty.StatusCode == HttpStatusCode.Conflict, text);
                Assert.Contains("no policies", text);
            }

            Assert.Equal(["alpha", "beta"], await PolicyNamesAsync(server));
            var source = (await server.GetJsonAsync("/api/v1/policies")).GetProperty("source");
            Assert.Equal("api", source.GetProperty("mode").GetString());
            await server.StopAsync();
        }

        // Restart without --policies: nothing is applied on start, the API's revision runs.
        long seq;
        await using (var server = await ServerProcess.StartAsync(apiMode))
        {
            Assert.Equal(["alpha", "beta"], await PolicyNamesAsync(server));
            var listing = await server.GetJsonAsync("/api/v1/policies");
            seq = listing.GetProperty("revision").GetProperty("seq").GetInt64();
            Assert.Equal("c1", listing.GetProperty("revision").GetProperty("revision").GetString());
            Assert.Equal(HttpStatusCode.OK, (await server.GetHealthAsync()).Status);
            await server.StopAsync();
        }

        // Restart in directory mode on the same files: the directory is the truth (the same policies, unchanged), and
        // an API apply is refused with the reason; plan is still allowed.
        environment.WritePolicy("alpha.yaml", files[0].text);
        environment.WritePolicy("beta.yaml", files[1].text);
        await using (var server = await ServerProcess.StartAsync([.. apiMode, "--policies", environment.PoliciesDirectory]))
        {
            Assert.Equal(["alpha", "beta"], await PolicyNamesAsync(server));
            var listing = await server.GetJsonAsync("/api/v1/policies");
            Assert.Equal(seq, listing.GetProperty("revision").GetProperty("seq").GetInt64());
            Assert.Equal("directory", listing.GetProperty("source").GetProperty("mode").GetString());
            Assert.Equal("ok", listing.GetProperty("source").GetProperty("state").GetString());

            using (var refused = await server.PostJsonAsync("/api/v1/policies:apply", new { files = new[] { files[0] } }))
            {
                var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
                Assert.Contains("directory mode from " + Path.GetFullPath(environment.PoliciesDirectory), problem.GetProperty("detail").GetString());
            }

            using (var plan = await server.PostJsonAsync("/api/v1/policies:plan", new { files }))
            {
                Assert.Equal(HttpStatusCode.OK, plan.StatusCode);
            }

            Assert.Equal(["alpha", "beta"], await PolicyNamesAsync(server));
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task ApiMode_Demo_AppliesTheDemoPoliciesOnlyAsTheFirstRevision_NeverOverALaterOne()
    {
        using var environment = new TestEnvironment("source-demo");
        string[] arguments = ["--data", environment.DataDirectory, "--demo"];
        await using (var server = await ServerProcess.StartAsync(arguments))
        {
            var demo = await PolicyNamesAsync(server);
            Assert.Contains("demo-every-minute", demo);

            // The API revision keeps the demo's files and adds one.
            var sources = (await server.GetJsonAsync("/api/v1/revisions"))[0].GetProperty("sources").EnumerateArray()
                .Select(f => new { path = f.GetProperty("path").GetString()!, text = f.GetProperty("text").GetString()! })
                .Append(new { path = "epsilon.yaml", text = Policy("epsilon", "demo-extra") }).ToArray();
            using (var applied = await server.PostJsonAsync("/api/v1/policies:apply", new { files = sources, revision = "mine" }))
            {
                Assert.True(applied.StatusCode == HttpStatusCode.OK, await applied.Content.ReadAsStringAsync());
            }

            await server.StopAsync();
        }

        await using (var server = await ServerProcess.StartAsync(arguments))
        {
            var listing = await server.GetJsonAsync("/api/v1/policies");
            Assert.Equal("mine", listing.GetProperty("revision").GetProperty("revision").GetString());
            Assert.Contains("epsilon", Names(listing));
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task Healthz_IsUnhealthy_WhenTheAppliedPoliciesDropToZero_AndHealthyAgainWhenSomeAreApplied()
    {
        using var environment = new TestEnvironment("source-zero");
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory]);
        var one = new[] { new { path = "delta.yaml", text = Policy("delta", "zero") } };
        using (var applied = await server.PostJsonAsync("/api/v1/policies:apply", new { files = one }))
        {
            Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        }

        // Asked for explicitly, an empty set is applied; the server then says it backs up nothing.
        using (var emptied = await server.PostJsonAsync("/api/v1/policies:apply", new { files = Array.Empty<object>(), allowDestructive = true }))
        {
            Assert.True(emptied.StatusCode == HttpStatusCode.OK, await emptied.Content.ReadAsStringAsync() + "\n" + server.Log);
        }

        var (status, body) = await server.GetHealthAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains(body.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "policies" && c.GetProperty("state").GetString() == "failing");
        Assert.Contains(body.GetProperty("reasons").EnumerateArray(), r => r.GetString()!.Contains("has no policies", StringComparison.Ordinal));

        using (var again = await server.PostJsonAsync("/api/v1/policies:apply", new { files = one }))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await server.GetHealthAsync()).Status);
        await server.StopAsync();
    }

    [Fact]
    public async Task DirectoryMode_AVanishedOrEmptiedDirectory_KeepsThePolicies_MakesHealthz503WithTheReason_AndRecoversWhenRestored()
    {
        using var environment = new TestEnvironment("source-dir");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "ps-a", "ps-a-1", 1, new Dictionary<string, string> { ["suite"] = "dir" });
        }

        environment.WritePolicy("gamma.yaml", Policy("gamma", "dir"));
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory]);
        Assert.Equal(["gamma"], await PolicyNamesAsync(server));

        // A git-sync swap or an unmounted ConfigMap: the directory is gone.
        var away = environment.PoliciesDirectory + ".away";
        Directory.Move(environment.PoliciesDirectory, away);
        await WaitUnhealthyAsync(server, "policy source missing");
        var listing = await server.GetJsonAsync("/api/v1/policies");
        Assert.Equal(["gamma"], Names(listing));
        Assert.Equal("missing", listing.GetProperty("source").GetProperty("state").GetString());
        Assert.Contains("does not exist", listing.GetProperty("source").GetProperty("error").GetString());

        Directory.Move(away, environment.PoliciesDirectory);
        await server.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("ok", (await server.GetJsonAsync("/api/v1/policies")).GetProperty("source").GetProperty("state").GetString());

        // The directory is there but has no policy files.
        var file = Path.Combine(environment.PoliciesDirectory, "gamma.yaml");
        File.Move(file, Path.Combine(environment.Root, "gamma.yaml"));
        await WaitUnhealthyAsync(server, "policy source empty");
        Assert.Equal(["gamma"], await PolicyNamesAsync(server));

        File.Move(Path.Combine(environment.Root, "gamma.yaml"), file);
        await server.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["gamma"], await PolicyNamesAsync(server));
        Assert.DoesNotContain("removed gamma", server.Log);
        await server.StopAsync();
    }

    [Fact]
    public async Task Pause_IsHonouredByFiresStartupCatchUpTriggerAndRetry_AndSurvivesAScheduleEditAndARestart()
    {
        using var environment = new TestEnvironment("pause");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "ps-a", "ps-a-1", 1, new Dictionary<string, string> { ["suite"] = "held" });
            await TestEnvironment.SeedVolumesAsync(engine, "ps-a", "ps-a-1", 1, new Dictionary<string, string> { ["suite"] = "free" });
        }

        // The server's minutes last 15 real seconds (the waits for a minute fire); times compared with its runs' are
        // read on its clock. A second of slack is a second of real time.
        var clock = new TestClock(4);
        var second = TimeSpan.FromSeconds(clock.Factor);

        // "held" skips every create (its pre hook fails), so it has skipped actions to retry and never a snapshot.
        const string failingHook = """
              hooks:
                pre: [{ exec: [/bin/sh, -c, "exit 3"], timeout: 40s }]
                onFailure: skip
            """;
        environment.WritePolicy("held.yaml", Policy("held", "held", "* * * * *", failingHook));
        environment.WritePolicy("free.yaml", Policy("free", "free", "* * * * *"));
        string[] arguments = ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory];

        DateTimeOffset pausedAt;
        DateTimeOffset stoppedAt;
        int heldActions;
        await using (var server = await ServerProcess.StartAsync(arguments, environment: clock.Environment))
        {
            // The apply's catch-up runs both once.
            await server.WaitUntilAsync(async () => (await ActionsAsync(server, "held", "skipped")).Count > 0, TimeSpan.FromSeconds(60), "held's catch-up create to be skipped");
            var skipped = (await ActionsAsync(server, "held", "skipped"))[0].GetProperty("id").GetString()!;

            using (var pause = await server.PostJsonAsync("/api/v1/policies/held:pause"))
            {
                Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
            }

            // A run that checked the pause a moment before it was stored may still start: allow it a second.
            pausedAt = clock.Now + second;
            Assert.True((await server.GetJsonAsync("/api/v1/policies/held")).GetProperty("paused").GetBoolean());
            Assert.Contains((await server.GetJsonAsync("/api/v1/audit")).EnumerateArray(),
                e => e.GetProperty("event").GetString() == "policy.paused" && e.GetProperty("detail").GetString() == "held");

            using (var trigger = await server.PostJsonAsync("/api/v1/policies/held:trigger"))
            {
                Assert.Equal(HttpStatusCode.Conflict, trigger.StatusCode);
                Assert.Contains("paused", await trigger.Content.ReadAsStringAsync());
            }

            using (var retry = await server.PostJsonAsync($"/api/v1/actions/{skipped}:retry"))
            {
                Assert.Equal(HttpStatusCode.Conflict, retry.StatusCode);
                Assert.Contains("paused", await retry.Content.ReadAsStringAsync());
            }

            // A schedule edit rebuilds held's trigger: still paused. Then a minute fire of "free" proves the fire path ran.
            environment.WritePolicy("held.yaml", Policy("held", "held", "*/1 * * * *", failingHook));
            await server.WaitUntilAsync(async () => (await server.GetJsonAsync("/api/v1/policies/held")).GetProperty("schedules")[0]
                .GetProperty("trigger").GetString()!.Contains("*/1", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the schedule edit to be applied");
            Assert.True((await server.GetJsonAsync("/api/v1/policies/held")).GetProperty("paused").GetBoolean());
            var edited = clock.Now;
            await server.WaitUntilAsync(async () => (await RunsAsync(server, "free")).Any(r => Kind(r) == "fire" && Started(r) > edited),
                TimeSpan.FromSeconds(90), "a scheduled fire of free after the edit");
            Assert.DoesNotContain(await RunsAsync(server, "held"), r => Started(r) > pausedAt);
            heldActions = (await ActionsAsync(server, "held", null)).Count;
            await server.StopAsync();
            stoppedAt = clock.Now;
        }

        // Restart: the pause is kept, free's startup catch-up runs (also with --policies), held's does not.
        await using (var server = await ServerProcess.StartAsync(arguments, environment: clock.Environment))
        {
            await server.WaitUntilAsync(async () => (await RunsAsync(server, "free")).Any(r => Kind(r) == "startup" && Started(r) > stoppedAt),
                TimeSpan.FromSeconds(60), "free's startup catch-up run");
            Assert.True((await server.GetJsonAsync("/api/v1/policies/held")).GetProperty("paused").GetBoolean());
            Assert.DoesNotContain(await RunsAsync(server, "held"), r => Started(r) > pausedAt);
            Assert.Equal(heldActions, (await ActionsAsync(server, "held", null)).Count);
            Assert.Equal(0, (await server.GetJsonAsync("/api/v1/snapshots?policy=held")).GetArrayLength());

            // Resume: a manual trigger runs it again.
            using (var resume = await server.PostJsonAsync("/api/v1/policies/held:resume"))
            {
                Assert.Equal(HttpStatusCode.OK, resume.StatusCode);
            }

            var resumed = clock.Now;
            using (var trigger = await server.PostJsonAsync("/api/v1/policies/held:trigger"))
            {
                Assert.Equal(HttpStatusCode.Accepted, trigger.StatusCode);
            }

            await server.WaitUntilAsync(async () => (await RunsAsync(server, "held")).Any(r => Started(r) > resumed), TimeSpan.FromSeconds(30), "held to run once resumed");
            await server.StopAsync();
        }
    }

    private static async Task WaitUnhealthyAsync(ServerProcess server, string reason) =>
        await server.WaitUntilAsync(async () =>
        {
            var (status, body) = await server.GetHealthAsync();
            return status == HttpStatusCode.ServiceUnavailable
                && body.GetProperty("reasons").EnumerateArray().Any(r => r.GetString()!.Contains(reason, StringComparison.Ordinal))
                && body.GetProperty("checks").EnumerateArray().Any(c => c.GetProperty("name").GetString() == "policy-source" && c.GetProperty("state").GetString() == "failing");
        }, TimeSpan.FromSeconds(30), $"/healthz 503 with '{reason}'");

    private static async Task<string[]> PolicyNamesAsync(ServerProcess server) => Names(await server.GetJsonAsync("/api/v1/policies"));

    private static string[] Names(JsonElement listing) =>
        [.. listing.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()!).Order(StringComparer.Ordinal)];

    private static async Task<IReadOnlyList<JsonElement>> RunsAsync(ServerProcess server, string policy) =>
        [.. (await server.GetJsonAsync($"/api/v1/runs?policy={policy}&limit=1000")).EnumerateArray()];

    private static async Task<IReadOnlyList<JsonElement>> ActionsAsync(ServerProcess server, string policy, string? state) =>
        [.. (await server.GetJsonAsync($"/api/v1/actions?policy={policy}&limit=1000" + (state is null ? "" : "&state=" + state))).EnumerateArray()];

    private static string? Kind(JsonElement run) => run.GetProperty("kind").GetString();

    private static DateTimeOffset Started(JsonElement run) => run.GetProperty("startedAt").GetDateTimeOffset();
}
