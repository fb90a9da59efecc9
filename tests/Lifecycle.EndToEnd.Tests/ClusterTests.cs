using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// Three server nodes on one real PostgreSQL (Quartz clustering) share one local engine, hosted by a fourth process
/// and reached through its EC2-compatible endpoint (<c>--engine aws --aws-endpoint-url</c>: AWSSDK.EC2 and SigV4), and run a minute-level schedule for five minutes over 50 volumes. One node is
/// SIGKILLed mid-run, just after a fire, with two fires still to come. Every fire must create exactly one snapshot per
/// volume, and the work must spread over nodes. The nodes share an accelerated clock (<see cref="TestClock"/>, factor
/// <see cref="ClockFactor"/>): their five minutes, triggers, misfire threshold and cluster check-ins included, take a
/// fifth of the real time; the engine host keeps the real clock, as EC2 does.
/// </summary>
public sealed class ClusterTests
{
    private const string Region = "cl-a";
    private const int VolumeCount = 50;

    /// <summary>A minute in 12 real seconds: a fire's 50 creates take well under one on 2 loaded cores, and a node
    /// still gets 3 real seconds (15 s of its time) of silence before the others take its triggers over.</summary>
    private const double ClockFactor = 5;

    private static readonly TimeSpan RunFor = TimeSpan.FromMinutes(5);

    /// <summary>What Hangfire holds for an action's recorded job: its states (newest first) and any queue row.</summary>
    private static string HangfireJob(PostgresServer postgres, JsonElement action)
    {
        if (!action.TryGetProperty("job", out var job) || job.ValueKind != JsonValueKind.String)
        {
            return "no job";
        }

        try
        {
            using var connection = new Npgsql.NpgsqlConnection(StoreOptions.ForPostgres(postgres.Url).ConnectionString);
            connection.Open();
            using var states = new Npgsql.NpgsqlCommand(
                "SELECT string_agg(name || ' ' || to_char(createdat, 'HH24:MI:SS.MS') || coalesce(' ' || reason, ''), ' < ' ORDER BY id DESC) FROM hangfire.state WHERE jobid = @id", connection);
            states.Parameters.AddWithValue("id", long.Parse(job.GetString()!, CultureInfo.InvariantCulture));
            var history = states.ExecuteScalar();
            using var queue = new Npgsql.NpgsqlCommand(
                "SELECT string_agg(queue || ' fetched ' || coalesce(to_char(fetchedat, 'HH24:MI:SS.MS'), 'never'), ', ') FROM hangfire.jobqueue WHERE jobid = @id", connection);
            queue.Parameters.AddWithValue("id", long.Parse(job.GetString()!, CultureInfo.InvariantCulture));
            return $"job {job.GetString()}: {history}; queue: {queue.ExecuteScalar()}";
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or FormatException or InvalidOperationException)
        {
            return $"job {job.GetString()}: not read ({e.Message})";
        }
    }

    [Fact]
    public async Task ThreeNodesOnPostgres_FiveMinutesOfMinuteFires_EachFireCreatesExactlyOneSnapshotPerVolume_AndAKilledNodeLosesNoFire()
    {
        using var postgres = PostgresServer.Start();
        using var environment = new TestEnvironment("cluster");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, "cl-a-1", VolumeCount, new Dictionary<string, string> { ["suite"] = "cluster" });
        }

        environment.WritePolicy("cluster.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-cluster }
            spec:
              engine: local
              regions: [cl-a]
              targets: { tags: { suite: cluster } }
              schedules:
                - name: minutely
                  cron: "* * * * *"
                  retain: { count: 30 }
            """);

        await using var engineHost = await EndpointNodes.StartEngineHostAsync(environment.DataDirectory, [Region]);
        var clock = new TestClock(ClockFactor);
        var nodes = new List<ServerProcess>();
        try
        {
            // Started together: the nodes' clock runs while they start, and the run is counted from when all are up.
            var starting = new[] { "node-a", "node-b", "node-c" }.Select(name => EndpointNodes.StartNodeAsync(engineHost, Path.Combine(environment.Root, name),
                ["--database", postgres.Url, "--policies", environment.PoliciesDirectory, "--node", name], clock.Environment)).ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                nodes.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            Assert.Contains("TEST CLOCK", nodes[0].Log, StringComparison.Ordinal);
            var started = clock.Now;
            var firstFire = TestClock.Minute(started).AddMinutes(1);
            var lastFire = TestClock.Minute(started + RunFor);
            var killAt = firstFire.AddMinutes(2).AddSeconds(2); // just after a fire (0.4 real seconds), while its creates run
            var killed = false;
            void NodesRun()
            {
                if (!killed && clock.Now >= killAt)
                {
                    nodes[1].Kill();
                    killed = true;
                }

                foreach (var node in nodes.Where((_, i) => i != 1 || !killed))
                {
                    Assert.False(node.HasExited, "a node exited:\n" + node.Log);
                }
            }

            // Past the last fire by 45 s of the nodes' time: its work and the killed node's recovered work have run.
            await clock.UntilAsync(lastFire.AddSeconds(45), NodesRun);
            Assert.True(killed, "node-b was never killed");

            // Then until every action of the counted fires has finished (a loaded machine may need longer).
            var actions = await Eventually.UntilAsync(
                async () => (await nodes[0].GetJsonAsync("/api/v1/actions?policy=e2e-cluster&kind=create&limit=100000")).EnumerateArray()
                    .Where(a => a.GetProperty("fireTime").GetDateTimeOffset() <= lastFire).ToList(),
                counted => counted.All(a => ActionStates.IsFinished(a.GetProperty("state").GetString()!)),
                $"the creates of the fires up to {lastFire:HH:mm} (node clock) to finish",
                timeout: TimeSpan.FromSeconds(180), // the killed node's fetched jobs come back after Hangfire's invisibility timeout
                describe: counted => string.Join(", ", counted.GroupBy(a => a.GetProperty("state").GetString()).Select(g => $"{g.Key}={g.Count()}"))
                    + "; unfinished: " + string.Join("; ", counted.Where(a => !ActionStates.IsFinished(a.GetProperty("state").GetString()!)).Take(5)
                        .Select(a => a.GetRawText() + " hangfire: " + HangfireJob(postgres, a))));
            var snapshots = (await engineHost.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy=e2e-cluster")).EnumerateArray().ToList();

            // Each fire from the first full minute to the last: exactly one snapshot per volume, none in error.
            var byFire = snapshots.GroupBy(s => s.GetProperty("tags").GetProperty("lifecycle:fire-time").GetString()!).ToDictionary(g => g.Key, g => g.ToList());
            for (var fire = firstFire; fire <= lastFire; fire = fire.AddMinutes(1))
            {
                var key = OwnershipTags.FormatFireTime(fire);
                Assert.True(byFire.ContainsKey(key), $"no snapshot for the fire at {key}");
                Assert.Equal(VolumeCount, byFire[key].Count);
                Assert.Equal(VolumeCount, byFire[key].Select(s => s.GetProperty("volumeId").GetString()).Distinct().Count());
                Assert.All(byFire[key], s => Assert.Equal("completed", s.GetProperty("state").GetString()));
            }

            foreach (var token in snapshots.GroupBy(s => s.GetProperty("tags").GetProperty("lifecycle:token").GetString()))
            {
                Assert.Single(token);
            }

            // Work spread: creates ran on at least two nodes, each a real share; the killed node's unfinished work finished elsewhere.
            var perNode = actions.GroupBy(a => a.GetProperty("node").GetString()!).ToDictionary(g => g.Key, g => g.Count());
            var summary = string.Join(", ", perNode.Select(kv => $"{kv.Key}={kv.Value}"));
            Assert.True(perNode.Count >= 2, "creates ran on one node only: " + summary);
            Assert.True(perNode.Values.OrderDescending().Skip(1).First() >= actions.Count / 10, "work did not spread: " + summary);
            Assert.All(actions, a => Assert.Equal("succeeded", a.GetProperty("state").GetString()));
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "lifecycle-cluster-summary.txt"), string.Create(CultureInfo.InvariantCulture,
                $"fires {firstFire:HH:mm}..{lastFire:HH:mm} (x{clock.Factor} clock), {snapshots.Count} snapshots, creates per node: {summary}\n"));
        }
        finally
        {
            // The nodes' logs, for a failure that needs them (the assertion messages name fires, not causes).
            foreach (var (node, i) in nodes.Select((n, i) => (n, i)))
            {
                File.WriteAllText(Path.Combine(Path.GetTempPath(), $"lifecycle-cluster-node-{i}.log"), node.Log);
            }

            foreach (var node in nodes)
            {
                if (!node.HasExited)
                {
                    await node.StopAsync();
                }

                await node.DisposeAsync();
            }
        }
    }
}
