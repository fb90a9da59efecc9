using System.Text.Json;
using Lifecycle.Core.Diagnostics;
using Lifecycle.Core.Inventory;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The server is SIGKILLed during a pre hook, right after the hooks (while the snapshot is created), and during a copy;
/// after each kill it is restarted on the same data (the copy is held at a failpoint, see <see cref="Failpoints"/>).
/// At the end every token has exactly one snapshot, nothing owned is lost and every interrupted action completed.
/// </summary>
public sealed class RestartTests
{
    private const string Region = "rs-a";
    private const string CopyRegion = "rs-b";

    [Fact]
    public async Task KilledDuringHooksSnapshotAndCopy_EveryTokenEndsWithExactlyOneSnapshot_AndInterruptedActionsComplete()
    {
        using var environment = new TestEnvironment("restart");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, "rs-a-1", 3, new Dictionary<string, string> { ["suite"] = "restart" }, sizeBytes: 64L * 1024 * 1024);
            _ = engine.Region(CopyRegion);
        }

        environment.WritePolicy("restart.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-restart }
            spec:
              engine: local
              regions: [rs-a]
              targets: { tags: { suite: restart } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 20 }
                  copies:
                    - region: rs-b
                      retain: { count: 20 }
              hooks:
                pre:  [{ exec: [/bin/sh, -c, "echo pre $LIFECYCLE_VOLUME_IDS >> MARK/restart.log; sleep 6"], timeout: 30s }]
                post: [{ exec: [/bin/sh, -c, "echo post $LIFECYCLE_VOLUME_IDS >> MARK/restart.log"], timeout: 30s }]
                onFailure: fail
            """);
        string[] arguments = ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory];

        // A snapshot or a copy of these small, mostly empty volumes takes milliseconds; failpoints hold each snapshot
        // pending for 5 s before its build, and each copy for 5 s after its blocks are sent and before its catalog
        // commit, so the kills during a snapshot and during a copy land there instead of racing them.
        var slowSteps = new Dictionary<string, string>
        {
            [Failpoints.EnvironmentVariable] = "engine.snapshot.before-build=sleep(5000);engine.copy.before-commit=sleep(5000)",
        };
        var kills = new List<string>();
        var interrupted = new List<string>();

        // 1. During a pre hook: a create is running and its pre hook has started but cannot have finished (it sleeps 6 s).
        await using (var server = await ServerProcess.StartAsync(arguments, environment: slowSteps))
        {
            await server.WaitUntilAsync(() => PreHookStarted(environment), TimeSpan.FromSeconds(90), "a pre hook to start");
            var running = await Eventually.UntilAsync(() => ActionsAsync(server, "running", "create"), r => r.Count > 0,
                "the create whose pre hook started to be recorded as running", TimeSpan.FromSeconds(5));
            server.Kill();
            interrupted.AddRange(running.Select(a => a.GetProperty("id").GetString()!));
            kills.Add($"during hooks: {running.Count} create(s) running");
        }

        // 2. During snapshot creation: a create the engine accepted whose snapshot is still pending (held 5 s), waiting
        //    for its completion check (state completing).
        await using (var server = await ServerProcess.StartAsync(arguments, environment: slowSteps))
        {
            var pending = new List<string>();
            await server.WaitUntilAsync(async () =>
            {
                pending = [.. (await ActionsAsync(server, "completing", "create")).Select(a => a.GetProperty("id").GetString()!)];
                return pending.Count > 0;
            }, TimeSpan.FromSeconds(90), "a create whose snapshot is pending");
            server.Kill();
            interrupted.AddRange(pending);
            kills.Add("after the hooks, during the snapshot");
        }

        // 3. During a copy (running, or accepted and completing).
        await using (var server = await ServerProcess.StartAsync(arguments, environment: slowSteps))
        {
            var copying = new List<string>();
            await server.WaitUntilAsync(async () =>
            {
                copying = [.. (await ActionsAsync(server, "running", "copy")).Concat(await ActionsAsync(server, "completing", "copy")).Select(a => a.GetProperty("id").GetString()!)];
                return copying.Count > 0;
            }, TimeSpan.FromSeconds(120), "a copy to run");
            server.Kill();
            interrupted.AddRange(copying);
            kills.Add("during a copy");
        }

        // 4. Restart and let everything finish.
        IReadOnlyList<JsonElement> actions;
        await using (var server = await ServerProcess.StartAsync(arguments, environment: slowSteps))
        {
            await server.WaitUntilAsync(async () =>
            {
                var all = await ActionsAsync(server, null, null);
                return all.Count > 0 && all.All(a => a.GetProperty("state").GetString() is "succeeded" or "failed" or "skipped")
                    && all.Any(a => a.GetProperty("kind").GetString() == "copy");
            }, TimeSpan.FromSeconds(120), "every action to finish");

            // No new minute fire may start while the final state is read: pause, then let a fire that raced the
            // pause finish too. A paused policy's queued actions are deferred (they stay enqueued, never start), so
            // those are left out of the final state.
            using (var pause = await server.PostJsonAsync("/api/v1/policies/e2e-restart:pause"))
            {
                Assert.True(pause.IsSuccessStatusCode, await pause.Content.ReadAsStringAsync());
            }

            // What is still open (actions not finished nor deferred, runs running), named in a timeout's message.
            async Task<List<string>> OpenAsync() =>
            [
                .. (await ActionsAsync(server, null, null)).Where(a => a.GetProperty("state").GetString() is not ("succeeded" or "failed" or "skipped" or "enqueued"))
                    .Select(a => $"action {a.GetProperty("id").GetString()} {a.GetProperty("state").GetString()}"),
                .. (await server.GetJsonAsync("/api/v1/runs?policy=e2e-restart")).EnumerateArray().Where(r => r.GetProperty("state").GetString() == "running")
                    .Select(r => $"run {r.GetProperty("id").GetString()} {r.GetProperty("kind").GetString()} running"),
            ];
            await Eventually.UntilAsync(OpenAsync, open => open.Count == 0, "every run to end and every action to finish after the pause",
                TimeSpan.FromSeconds(120), describe: open => string.Join("; ", open) + "\n" + server.Log);
            actions = [.. (await ActionsAsync(server, null, null)).Where(a => a.GetProperty("state").GetString() != "enqueued")];
            await server.StopAsync();
        }

        using var final = environment.OpenEngine();
        var snapshots = (await TestEnvironment.SnapshotsAsync(final, Region)).AddRange(await TestEnvironment.SnapshotsAsync(final, CopyRegion));
        var owned = snapshots.Where(s => s.Tags.GetValueOrDefault("lifecycle:policy") == "e2e-restart").ToList();

        // Every token: exactly one snapshot, completed.
        foreach (var group in owned.GroupBy(s => (s.Region, Token: s.Tags["lifecycle:token"])))
        {
            Assert.True(group.Count() == 1, $"token {group.Key.Token} in {group.Key.Region} has {group.Count()} snapshots");
            Assert.Equal(SnapshotState.Completed, group.Single().State);
        }

        // Every interrupted action completed: all creates and copies succeeded, none is left running.
        var creates = actions.Where(a => a.GetProperty("kind").GetString() == "create").ToList();
        var copies = actions.Where(a => a.GetProperty("kind").GetString() == "copy").ToList();
        Assert.NotEmpty(creates);
        Assert.All(creates.Concat(copies), a => Assert.Equal("succeeded", a.GetProperty("state").GetString()));
        Assert.Contains(creates, a => a.GetProperty("attempts").GetInt32() > 1); // the create killed in its pre hook ran again

        // Every action a kill interrupted finished after a restart (its lease expired, or the restart delivered it again).
        var byId = actions.ToDictionary(a => a.GetProperty("id").GetString()!);
        Assert.All(interrupted.Distinct(), id => Assert.Equal("succeeded", byId[id].GetProperty("state").GetString()));

        // Nothing owned is lost: every snapshot a create or copy reported exists, one per token.
        foreach (var action in creates.Concat(copies))
        {
            var id = action.GetProperty("resultSnapshotId").GetString();
            Assert.Contains(owned, s => s.Id == id);
        }

        Assert.Equal(creates.Count, owned.Count(s => s.Region == Region));
        Assert.Equal(copies.Count, owned.Count(s => s.Region == CopyRegion));
        Assert.Equal(3, kills.Count);
    }

    private static bool PreHookStarted(TestEnvironment environment)
    {
        var log = Path.Combine(environment.MarkerDirectory, "restart.log");
        return File.Exists(log) && File.ReadAllLines(log).Any(l => l.StartsWith("pre ", StringComparison.Ordinal));
    }

    private static async Task<IReadOnlyList<JsonElement>> ActionsAsync(ServerProcess server, string? state, string? kind)
    {
        var query = "/api/v1/actions?policy=e2e-restart&limit=100000" + (state is null ? "" : "&state=" + state) + (kind is null ? "" : "&kind=" + kind);
        return [.. (await server.GetJsonAsync(query)).EnumerateArray()];
    }
}
