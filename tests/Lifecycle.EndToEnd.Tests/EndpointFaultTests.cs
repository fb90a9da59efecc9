using Lifecycle.Testing.Waiting;
using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// A node on <c>--engine aws</c> against an endpoint that answers a large share of calls with RequestLimitExceeded or
/// a 500 (the endpoint's failpoint, <c>LIFECYCLE_EC2_FAULTS</c>): every run still completes its creates and copies,
/// and no token ever gets two snapshots, however often the same fire is run again.
/// </summary>
public sealed class EndpointFaultTests
{
    private const string Region = "flt-a";
    private const string CopyRegion = "flt-b";
    private const int Volumes = 6;

    [Fact]
    public async Task UnderThrottlingAndServerErrors_EveryCreateAndCopyCompletes_AndEveryTokenHasExactlyOneSnapshot()
    {
        using var environment = new TestEnvironment("ec2-faults");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", Volumes, new Dictionary<string, string> { ["suite"] = "faults" });
            _ = engine.Region(CopyRegion);
        }

        environment.WritePolicy("faults.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: faults }
            spec:
              engine: local
              regions: [flt-a]
              targets: { tags: { suite: faults } }
              schedules:
                - name: hourly
                  cron: "0 * * * *"
                  retain: { count: 3 }
                  copies:
                    - region: flt-b
                      retain: { count: 3 }
            """);
        await using var host = await EndpointNodes.StartEngineHostAsync(environment.DataDirectory, [Region, CopyRegion],
            new Dictionary<string, string> { ["LIFECYCLE_EC2_FAULTS"] = "throttle=0.3,error=0.2" });
        await using var node = await EndpointNodes.StartNodeAsync(host, Path.Combine(environment.Root, "node"),
            ["--policies", environment.PoliciesDirectory, "--regions", $"{Region},{CopyRegion}"]);

        // The start's catch-up creates the latest hour's snapshots; the same fire run again (triggered while the first
        // run may still be retrying) must find them by their tokens instead of creating more.
        for (var i = 0; i < 3; i++)
        {
            using var trigger = await node.PostJsonAsync("/api/v1/policies/faults:trigger");
            Assert.True(trigger.IsSuccessStatusCode, await trigger.Content.ReadAsStringAsync());
        }

        // The deadline bounds a correct outcome, not its speed: with half of all calls refused, the region's throttle
        // backoff (doubling per throttle up to 20 s, halving per success) has long excursions. Usually 45-95 s; once the
        // policy's follow-up run queued the copies 94 s after the last create had finished.
        await Eventually.UntilAsync(
            () => ActionsAsync(node),
            actions => actions.Count(a => Kind(a) == "create" && State(a) == "succeeded") >= Volumes
                && actions.Count(a => Kind(a) == "copy" && State(a) == "succeeded") >= Volumes
                && actions.All(a => State(a) is "succeeded" or "failed" or "skipped"),
            "every create and copy of the catch-up to finish", TimeSpan.FromMinutes(6),
            describe: actions => string.Join(", ", actions.GroupBy(a => $"{Kind(a)} {State(a)}").Select(g => $"{g.Key}={g.Count()}"))
                + "; open: " + string.Join("; ", actions.Where(a => State(a) is not ("succeeded" or "failed" or "skipped")).Select(a => a.ToString()))
                + "\n" + node.Log);

        var all = await ActionsAsync(node);
        Assert.All(all.Where(a => Kind(a) is "create" or "copy"), a => Assert.Equal("succeeded", State(a)));
        Assert.True(all.Sum(a => a.GetProperty("attempts").GetInt32()) > 0, "no action was ever retried: the failpoint did not act");

        await host.StopAsync();
        using var engineAfter = environment.OpenEngine();
        foreach (var region in new[] { Region, CopyRegion })
        {
            var owned = (await TestEnvironment.SnapshotsAsync(engineAfter, region)).Where(s => s.Tags.GetValueOrDefault("lifecycle:policy") == "faults").ToList();
            // One snapshot per volume and fire (a run that crosses an hour boundary sees the new hour's fire too), one per token.
            var fires = owned.Select(s => s.Tags["lifecycle:fire-time"]).Distinct().Count();
            Assert.InRange(fires, 1, 2);
            Assert.Equal(Volumes * fires, owned.Count);
            Assert.All(owned.GroupBy(s => s.Tags["lifecycle:token"]), g => Assert.Single(g));
        }
    }

    private static async Task<List<JsonElement>> ActionsAsync(ServerProcess node) =>
        [.. (await node.GetJsonAsync("/api/v1/actions?policy=faults&limit=10000")).EnumerateArray()];

    private static string? Kind(JsonElement action) => action.GetProperty("kind").GetString();

    private static string? State(JsonElement action) => action.GetProperty("state").GetString();
}
