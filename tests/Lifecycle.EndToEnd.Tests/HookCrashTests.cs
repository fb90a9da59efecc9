using System.Globalization;
using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// A server SIGKILLed during a pre hook leaves the hook running (it leads its own process group, so the kill of the
/// server does not reach it). The restarted server must kill that group, grandchildren that double-forked out of the
/// process tree included, before it runs the action's hooks again, and keep the first attempt's record.
/// </summary>
public sealed class HookCrashTests
{
    private const string Region = "hk-a";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AHookLeftByAKilledServer_IsKilledWithItsGroupAtRestart_BeforeTheActionRunsAgain_AndBothAttemptsAreRecorded()
    {
        using var environment = new TestEnvironment("hookcrash");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, "hk-a-1", 1, new Dictionary<string, string> { ["suite"] = "hooks" });
        }

        var marker = environment.MarkerDirectory;
        var script = Path.Combine(environment.Root, "freeze.sh");
        // The first attempt records its pid, leaves a child and a double-forked grandchild, and hangs; later ones succeed.
        File.WriteAllText(script, """
            #!/bin/sh
            if [ ! -e "$HOOK_DIR/first" ]; then
              echo $$ > "$HOOK_DIR/first.tmp"
              sleep 600 &
              echo $! > "$HOOK_DIR/child"
              (sleep 600 & echo $! > "$HOOK_DIR/grandchild")
              mv "$HOOK_DIR/first.tmp" "$HOOK_DIR/first"
              wait
            fi
            echo "pre ok" >> "$HOOK_DIR/log"
            """);
        environment.WritePolicy("hooks.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-hooks }
            spec:
              engine: local
              regions: [hk-a]
              targets: { tags: { suite: hooks } }
              schedules:
                - name: daily
                  cron: "0 3 * * *"
                  retain: { count: 5 }
              hooks:
                pre:  [{ exec: [/bin/sh, "{{script}}"], timeout: 10m, env: { HOOK_DIR: "{{marker}}" } }]
                onFailure: fail
            """);
        string[] arguments = ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory];

        int[] leftovers;
        await using (var server = await ServerProcess.StartAsync(arguments))
        {
            // Applying the directory catches up the latest fire: its create runs the pre hook, which hangs.
            await server.WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(marker, "first")) && File.Exists(Path.Combine(marker, "grandchild"))), Timeout, "the first pre hook to start");
            leftovers = new[] { "first", "child", "grandchild" }.Select(f => int.Parse(File.ReadAllText(Path.Combine(marker, f)).Trim(), CultureInfo.InvariantCulture)).ToArray();
            Assert.All(leftovers, pid => Assert.True(Alive(pid), $"process {pid} should be running"));

            // The crash this test is about comes after the server recorded the hook's process group (the record is
            // written as the process starts; the marker files can appear a moment before it commits).
            await server.WaitUntilAsync(async () =>
            {
                foreach (var action in (await server.GetJsonAsync("/api/v1/actions?policy=e2e-hooks&kind=create")).EnumerateArray())
                {
                    var detail = await server.GetJsonAsync("/api/v1/actions/" + action.GetProperty("id").GetString());
                    if (detail.GetProperty("hooks").EnumerateArray().Any(h => h.TryGetProperty("process", out var p) && p.ValueKind == JsonValueKind.Object))
                    {
                        return true;
                    }
                }

                return false;
            }, Timeout, "the hook's process group to be recorded");
            server.Kill();
        }

        // The hook outlived its server: nothing killed it yet.
        Assert.All(leftovers, pid => Assert.True(Alive(pid), $"process {pid} died with the server; the test would prove nothing"));

        await using (var server = await ServerProcess.StartAsync(arguments))
        {
            await server.WaitUntilAsync(() => Task.FromResult(leftovers.All(pid => !Alive(pid))), Timeout, "the leftover hook group to be killed");
            await server.WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(marker, "log"))), Timeout, "the action's pre hook to run again");
            JsonElement create = default;
            await server.WaitUntilAsync(async () =>
            {
                var creates = (await server.GetJsonAsync("/api/v1/actions?policy=e2e-hooks&kind=create")).EnumerateArray().ToList();
                create = creates.FirstOrDefault();
                return creates.Count == 1 && create.GetProperty("state").GetString() == "succeeded";
            }, Timeout, "the create to succeed");

            var detail = await server.GetJsonAsync("/api/v1/actions/" + create.GetProperty("id").GetString());
            var outcomes = detail.GetProperty("hooks").EnumerateArray().Where(h => h.GetProperty("stage").GetString() == "pre")
                .Select(h => h.GetProperty("outcome").GetString()).ToList();
            Assert.Contains("killed", outcomes);
            Assert.Contains("succeeded", outcomes);
            var snapshots = (await server.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy=e2e-hooks")).EnumerateArray().ToList();
            Assert.Single(snapshots);
            Assert.Single(File.ReadAllLines(Path.Combine(marker, "log")));
        }
    }

    /// <summary>Running, not a zombie (an orphan's zombie lingers until PID 1 reaps it).</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
