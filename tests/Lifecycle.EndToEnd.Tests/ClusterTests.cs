using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// Three server nodes on one real PostgreSQL (Quartz clustering) share one local engine, hosted by a fourth process
/// and reached through its EC2-compatible endpoint (<c>--engine aws --aws-endpoint-url</c>: AWSSDK.EC2 and SigV4), and run a minute-level schedule for five minutes over 50 volumes. One node is
/// SIGKILLed mid-run, just after a fire, with two fires still to come. Every fire must create exactly one snapshot per
/// volume, and the work must spread over nodes. (It ran ten minutes once; five keep a fire before, at and after the
/// kill, and the whole suite under ten minutes.)
/// </summary>
public sealed class ClusterTests
{
    private const string Region = "cl-a";
    private const int VolumeCount = 50;
    private static readonly TimeSpan RunFor = TimeSpan.FromMinutes(5);

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
        var nodes = new List<ServerProcess>();
        try
        {
            foreach (var name in new[] { "node-a", "node-b", "node-c" })
            {
                nodes.Add(await EndpointNodes.StartNodeAsync(engineHost, Path.Combine(environment.Root, name),
                    ["--database", postgres.Url, "--policies", environment.PoliciesDirectory, "--node", name]));
            }

            var started = DateTimeOffset.UtcNow;
            var firstFire = Minute(started).AddMinutes(1);
            var lastFire = Minute(started + RunFor);
            var killAt = firstFire.AddMinutes(2).AddSeconds(1); // just after a fire, while its creates run
            var killed = false;
            while (DateTimeOffset.UtcNow < lastFire.AddSeconds(45))
            {
                if (!killed && DateTimeOffset.UtcNow >= killAt)
                {
                    nodes[1].Kill();
                    killed = true;
                }

                foreach (var node in nodes.Where((_, i) => i != 1 || !killed))
                {
                    Assert.False(node.HasExited, "a node exited:\n" + node.Log);
                }

                await Task.Delay(1000);
            }

            var actions = (await nodes[0].GetJsonAsync("/api/v1/actions?policy=e2e-cluster&kind=create&limit=100000")).EnumerateArray().ToList();
            var snapshots = (await engineHost.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy=e2e-cluster")).EnumerateArray().ToList();

            // Each fire from the first full minute to the last: exactly one snapshot per volume, none in error.
            var byFire = snapshots.GroupBy(s => s.GetProperty("tags").GetProperty("lifecycle:fire-time").GetString()!).ToDictionary(g => g.Key, g => g.ToList());
            for (var fire = firstFire; fire <= lastFire; fire = fire.AddMinutes(1))
            {
                var key = OwnershipTags.FormatFireTime(fire);
                Assert.True(byFire.ContainsKey(key), $"no snapshot for the fire at {key}");
                Assert.Equal(VolumeCount, byFire[key].Count);
                Assert.Equal(VolumeCount, byFire[key].Select(s => s.GetProperty("volumeId").GetString()).Distinct().Count());
            }

            Assert.All(snapshots, s => Assert.Equal("completed", s.GetProperty("state").GetString()));
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
                $"fires {firstFire:HH:mm}..{lastFire:HH:mm}, {snapshots.Count} snapshots, creates per node: {summary}\n"));
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

    private static DateTimeOffset Minute(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);
}
