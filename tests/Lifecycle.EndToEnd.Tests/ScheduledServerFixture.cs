using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.LocalEngine;
using Lifecycle.LocalEngine.Encryption;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// One real server running many minute-level policies side by side (so the slow part, waiting for real minute
/// fires, is paid once): basic create/copy/fast-restore/retention, archive moves, and each hook failure mode.
/// It runs through three minute fires after the start, then stops and keeps what the API and the engine show. The
/// server runs on an accelerated clock (<see cref="TestClock"/>, <see cref="ClockFactor"/>): its minutes last 20 real
/// seconds, and every time this fixture keeps (start, stop, fire times) is on that clock.
/// <see cref="ScheduledServerOnEndpointFixture"/> runs the same policies on a node with <c>--engine aws</c> that reaches
/// the engine through another server's EC2-compatible endpoint.
/// </summary>
public class ScheduledServerFixture : IAsyncLifetime
{
    public const string Region = "e2e-a";
    public const string CopyRegion = "e2e-b";
    /// <summary>Named as EC2 names zones (region + letter): the EC2 endpoint accepts only those.</summary>
    public const string Zone = "e2e-aa";

    /// <summary>
    /// Three: a minute in 20 real seconds. Hook timeouts and the on-time bound of the checks are set in real seconds
    /// (as many of the server's as that takes), so a loaded machine gets the slack it had at real speed.
    /// </summary>
    public const double ClockFactor = 3;

    /// <summary>The pre hook timeout of the hanging hook, on the server's clock (two real seconds).</summary>
    public static readonly TimeSpan HangTimeout = TimeSpan.FromSeconds(2 * ClockFactor);

    /// <summary>The other hooks' timeout (ten real seconds), as policy text.</summary>
    private static readonly string HookTimeout = string.Create(CultureInfo.InvariantCulture, $"{10 * ClockFactor}s");

    private static readonly string HangTimeoutText = string.Create(CultureInfo.InvariantCulture, $"{HangTimeout.TotalSeconds}s");

    public ScheduledServerFixture()
        : this("sched")
    {
    }

    protected ScheduledServerFixture(string name)
    {
        Environment = new TestEnvironment(name);
    }

    public TestEnvironment Environment { get; }

    /// <summary>The clock the server (and an engine host) run on.</summary>
    public TestClock Clock { get; } = new(ClockFactor);

    public DateTimeOffset StartedAt { get; private set; }

    public DateTimeOffset StoppedAt { get; private set; }

    /// <summary>The one fire of the hourly interval policy inside the run (its startAt is set to that minute).</summary>
    public DateTimeOffset IntervalFire { get; private set; }

    public ImmutableDictionary<string, ImmutableArray<string>> VolumesBySuite { get; private set; } = ImmutableDictionary<string, ImmutableArray<string>>.Empty;

    /// <summary>Every action the server recorded (from GET /api/v1/actions) just before it stopped.</summary>
    public ImmutableArray<JsonElement> Actions { get; private set; } = [];

    /// <summary>What /api/v1/snapshots showed just before the stop (fast-restore states as the engine reports them live).</summary>
    public ImmutableArray<JsonElement> LiveSnapshots { get; private set; } = [];

    public ImmutableArray<SnapshotInfo> SourceSnapshots { get; private set; } = [];

    public ImmutableArray<SnapshotInfo> CopySnapshots { get; private set; } = [];

    public ImmutableArray<VolumeInfo> Volumes { get; private set; } = [];

    public string ServerLog { get; private set; } = "";

    public ImmutableDictionary<string, JsonElement> HooksByAction { get; private set; } = ImmutableDictionary<string, JsonElement>.Empty;

    public async Task InitializeAsync()
    {
        var seedKeyRing = Path.Combine(Environment.Root, "seed-keyring.json");
        KeyRing.AddKey(seedKeyRing, "e2e-key-the-server-lacks");
        using (var engine = Environment.OpenEngine(seedKeyRing))
        {
            var suites = new Dictionary<string, ImmutableArray<string>>();
            foreach (var (suite, count) in new[] { ("basic", 2), ("archive", 1), ("hook-skip", 1), ("hook-crash", 1), ("hook-fail", 1), ("hook-hang", 1), ("interval", 1) })
            {
                suites[suite] = await TestEnvironment.SeedVolumesAsync(engine, Region, Zone, count, new Dictionary<string, string> { ["suite"] = suite });
            }

            // The server's key ring lacks this volume's key, so every snapshot of it fails inside the engine.
            suites["snapshot-fails"] = await TestEnvironment.SeedVolumesAsync(engine, Region, Zone, 1,
                new Dictionary<string, string> { ["suite"] = "snapshot-fails" }, keyId: "e2e-key-the-server-lacks");
            _ = engine.Region(CopyRegion);
            VolumesBySuite = suites.ToImmutableDictionary();
        }

        // What serves the engine starts first, so the interval policy's fire (written next, minutes ahead of the clock)
        // leaves the policy server's own start the whole margin, however long that other process took.
        await StartEngineAsync();
        WritePolicies();
        await using var server = await StartServerAsync();

        // The start is when the scheduler caught up (the startup run): its minute is the catch-up's fire, however long
        // the process took to start on a loaded machine (on this clock that can be most of a minute).
        var startup = await Eventually.UntilAsync(
            async () => (await server.GetJsonAsync("/api/v1/runs?policy=e2e-basic")).EnumerateArray().FirstOrDefault(r => r.GetProperty("kind").GetString() == "startup"),
            r => r.ValueKind == JsonValueKind.Object, "the startup catch-up run of e2e-basic", TimeSpan.FromSeconds(60));
        StartedAt = startup.GetProperty("startedAt").GetDateTimeOffset();

        // Three minute fires after the start (plus the start's catch-up), then time for copies and follow-ups (ten
        // real seconds), and the stop well before the next fire.
        var firstFire = TestClock.Minute(StartedAt).AddMinutes(1);
        await Clock.UntilAsync(firstFire.AddMinutes(2).AddSeconds(30), () => Assert.False(server.HasExited, "the server exited:\n" + server.Log));

        Actions = [.. (await server.GetJsonAsync("/api/v1/actions?limit=100000")).EnumerateArray()];
        LiveSnapshots = [.. (await server.GetJsonAsync("/api/v1/snapshots")).EnumerateArray()];
        var hooks = ImmutableDictionary.CreateBuilder<string, JsonElement>();
        foreach (var action in Actions.Where(a => a.GetProperty("kind").GetString() == "create"))
        {
            var id = action.GetProperty("id").GetString()!;
            hooks[id] = await server.GetJsonAsync("/api/v1/actions/" + id);
        }

        HooksByAction = hooks.ToImmutable();
        await server.StopAsync();
        StoppedAt = Clock.Now;
        Assert.True(StoppedAt < firstFire.AddMinutes(3), $"the server stopped at {StoppedAt:HH:mm:ss} (its clock), after a fourth fire the checks do not expect");
        ServerLog = server.Log;
        await StopEngineAsync();
        using (var engine = Environment.OpenEngine())
        {
            SourceSnapshots = await TestEnvironment.SnapshotsAsync(engine, Region);
            CopySnapshots = await TestEnvironment.SnapshotsAsync(engine, CopyRegion);
            Volumes = await engine.Region(Region).DescribeVolumesAsync();
        }
    }

    public virtual Task DisposeAsync()
    {
        Environment.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>The server that runs the policies; the engine is in <see cref="TestEnvironment.DataDirectory"/>.</summary>
    protected virtual Task<ServerProcess> StartServerAsync() =>
        ServerProcess.StartAsync(["--data", Environment.DataDirectory, "--policies", Environment.PoliciesDirectory], environment: Clock.Environment);

    /// <summary>Starts what serves the engine when that is not the policy server itself (before the policies are written).</summary>
    protected virtual Task StartEngineAsync() => Task.CompletedTask;

    /// <summary>Stops what serves the engine when that is not the policy server itself (before the engine is opened here).</summary>
    protected virtual Task StopEngineAsync() => Task.CompletedTask;

    public IEnumerable<JsonElement> ActionsOf(string policy, string? kind = null) =>
        Actions.Where(a => a.GetProperty("policy").GetString() == policy && (kind is null || a.GetProperty("kind").GetString() == kind));

    public IEnumerable<SnapshotInfo> SnapshotsOf(string policy) =>
        SourceSnapshots.Where(s => s.Tags.GetValueOrDefault("lifecycle:policy") == policy);

    private void WritePolicies()
    {
        // Three minutes ahead: after the server has started (up to two of its minutes), before the run ends (three
        // fires and 40 s after the start's minute); the catch-up takes the hour before.
        IntervalFire = TestClock.Minute(Clock.Now).AddMinutes(3);
        Environment.WritePolicy("interval.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-interval }
            spec:
              engine: local
              regions: [e2e-a]
              targets: { tags: { suite: interval } }
              schedules:
                - name: hourly
                  every: 1h
                  startAt: "00:{{IntervalFire.Minute:00}}"
                  retain: { count: 5 }
            """);
        Environment.WritePolicy("basic.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-basic }
            spec:
              engine: local
              regions: [e2e-a]
              targets: { tags: { suite: basic } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 2 }
                  copies:
                    - region: e2e-b
                      retain: { count: 1 }
                  fastRestore: { zones: [e2e-aa], count: 1 }
              hooks:
                pre:  [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE $LIFECYCLE_POLICY $LIFECYCLE_SCHEDULE $LIFECYCLE_VOLUME_IDS >> MARK/basic.log"], timeout: {{HookTimeout}} }]
                post: [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE $LIFECYCLE_POLICY $LIFECYCLE_SCHEDULE $LIFECYCLE_VOLUME_IDS >> MARK/basic.log"], timeout: {{HookTimeout}} }]
              tags: { team: e2e, volume: $(volume-id) }
            """);
        Environment.WritePolicy("archive.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-archive }
            spec:
              engine: local
              regions: [e2e-a]
              targets: { tags: { suite: archive } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 1 }
                  archive:
                    after: { count: 1 }
                    retain: { age: 1y }
            """);
        foreach (var (suite, mode) in new[] { ("hook-skip", "skip"), ("hook-crash", "crash-consistent"), ("hook-fail", "fail") })
        {
            Environment.WritePolicy(suite + ".yaml", $$"""
                apiVersion: lifecycle/v1
                kind: SnapshotPolicy
                metadata: { name: e2e-{{suite}} }
                spec:
                  engine: local
                  regions: [e2e-a]
                  targets: { tags: { suite: {{suite}} } }
                  schedules:
                    - name: minutely
                      cron: "* * * * *"
                      retain: { count: 5 }
                  hooks:
                    pre:  [{ exec: [/bin/sh, -c, "echo frozen-fails; exit 3"], timeout: {{HookTimeout}} }]
                    post: [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE $LIFECYCLE_VOLUME_IDS >> MARK/{{suite}}.log"], timeout: {{HookTimeout}} }]
                    onFailure: {{mode}}
                """);
        }

        Environment.WritePolicy("hook-hang.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-hook-hang }
            spec:
              engine: local
              regions: [e2e-a]
              targets: { tags: { suite: hook-hang } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 5 }
              hooks:
                pre:  [{ exec: [/bin/sh, -c, "echo $$ > MARK/hang-shell.pid; sleep 6001 & echo $! > MARK/hang-child.pid; wait"], timeout: {{HangTimeoutText}} }]
                post: [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE >> MARK/hook-hang.log"], timeout: {{HookTimeout}} }]
                onFailure: crash-consistent
            """);
        Environment.WritePolicy("snapshot-fails.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-snapshot-fails }
            spec:
              engine: local
              regions: [e2e-a]
              targets: { tags: { suite: snapshot-fails } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 5 }
              hooks:
                pre:  [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE >> MARK/snapshot-fails.log"], timeout: {{HookTimeout}} }]
                post: [{ exec: [/bin/sh, -c, "echo $LIFECYCLE_STAGE >> MARK/snapshot-fails.log"], timeout: {{HookTimeout}} }]
                onFailure: fail
            """);
    }
}
