using System.Collections.Immutable;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// A user switches from Amazon DLM: the engine already holds the snapshots a DLM policy made (tagged as DLM tags
/// them), and a policy that adopts that DLM policy is applied to a running server. The server's first run makes no
/// second snapshot for the period DLM already covered, and its retention deletes exactly the adopted snapshots the
/// count releases, never another DLM policy's or an untagged one.
/// </summary>
public sealed class AdoptionTests
{
    private const string Region = "ad-a";
    private const string DlmPolicyId = "policy-0123456789abcdef0";
    private const string OtherDlmPolicyId = "policy-0fedcba9876543210";

    [Fact]
    public async Task AServerRunningAnAdoptingPolicy_MakesNoDuplicateForTheCoveredFire_AndDeletesExactlyTheOldestAdoptedSnapshots()
    {
        using var environment = new TestEnvironment("adoption");
        string volume;
        ImmutableArray<string> dlm;
        string otherPolicys, untagged;
        using (var engine = environment.OpenEngine())
        {
            volume = (await TestEnvironment.SeedVolumesAsync(engine, Region, "ad-a-1", 1, new Dictionary<string, string> { ["suite"] = "adopt" }))[0];
            var region = engine.Region(Region);
            var made = ImmutableArray.CreateBuilder<string>();
            // Four snapshots the DLM policy took (oldest first; the newest is in the current period of the schedule).
            for (var i = 0; i < 4; i++)
            {
                var snapshot = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume, Tags(DlmPolicyId, "hourly")));
                made.Add(snapshot.Id);
                // Distinct start times (the engine keeps milliseconds), so "the oldest" is one answer.
                await Lifecycle.Testing.Waiting.Eventually.UntilAsync(() => Task.FromResult(DateTimeOffset.UtcNow > snapshot.StartTime.AddMilliseconds(2)),
                    "the next millisecond", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(1));
            }

            dlm = made.ToImmutable();
            otherPolicys = (await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume, Tags(OtherDlmPolicyId, "hourly")))).Id;
            untagged = (await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume, ImmutableSortedDictionary<string, string>.Empty))).Id;
            await WaitCompletedAsync(region, [.. dlm, otherPolicys, untagged]);
        }

        // Every hour (DLM's schedule had the same name), so the DLM snapshots just taken cover the current period; count 2
        // over the adopted four.
        environment.WritePolicy("adopt.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-adopt }
            spec:
              engine: local
              regions: [{{Region}}]
              targets: { tags: { suite: adopt } }
              adopt: { dlmPolicyId: {{DlmPolicyId}} }
              schedules:
                - name: hourly
                  cron: "0 * * * *"
                  retain: { count: 2 }
            """);
        await using var server = await ServerProcess.StartAsync(
            ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory],
            environment: new Dictionary<string, string> { [Lifecycle.Scheduling.Jobs.ReconcileJob.IntervalVariable] = "3" });

        // Retention runs (the startup run plans, then a reconcile deletes): the two oldest adopted snapshots go.
        await server.WaitUntilAsync(async () => (await SnapshotIdsAsync(server)).SetEquals([dlm[2], dlm[3], otherPolicys, untagged]),
            TimeSpan.FromSeconds(90), "the two oldest adopted snapshots to be deleted, and nothing else");

        // The startup run planned no create: the newest adopted snapshot is this period's; no snapshot of ours exists.
        var runs = (await server.GetJsonAsync("/api/v1/runs?policy=e2e-adopt&limit=100")).EnumerateArray().ToList();
        Assert.Contains(runs, r => r.GetProperty("kind").GetString() == "startup");
        var creates = (await server.GetJsonAsync("/api/v1/actions?policy=e2e-adopt&kind=create&limit=100")).EnumerateArray().ToList();
        Assert.Empty(creates);
        var deletes = (await server.GetJsonAsync("/api/v1/actions?policy=e2e-adopt&kind=delete&limit=100")).EnumerateArray()
            .Select(a => a.GetProperty("snapshotId").GetString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { dlm[0], dlm[1] }.Order(StringComparer.Ordinal), deletes);

        // Several more reconcile passes later: still exactly those four (retention is stable, nothing else is touched).
        var seen = runs.Count;
        await server.WaitUntilAsync(async () => (await server.GetJsonAsync("/api/v1/runs?policy=e2e-adopt&limit=100")).GetArrayLength() >= seen + 3,
            TimeSpan.FromSeconds(60), "three more runs of the policy");
        Assert.True((await SnapshotIdsAsync(server)).SetEquals([dlm[2], dlm[3], otherPolicys, untagged]));
        Assert.Empty((await server.GetJsonAsync("/api/v1/actions?policy=e2e-adopt&kind=create&limit=100")).EnumerateArray());
    }

    private static ImmutableSortedDictionary<string, string> Tags(string dlmPolicyId, string schedule) =>
        ImmutableSortedDictionary<string, string>.Empty.Add(DlmTags.PolicyId, dlmPolicyId).Add(DlmTags.ScheduleName, schedule).Add("Name", "dlm snapshot");

    private static async Task WaitCompletedAsync(Lifecycle.LocalEngine.LocalRegion region, IReadOnlyCollection<string> ids) =>
        await Lifecycle.Testing.Waiting.Eventually.UntilAsync(async () =>
            (await region.DescribeSnapshotsAsync()).Count(s => ids.Contains(s.Id) && s.State == SnapshotState.Completed) == ids.Count,
            "the seeded snapshots to complete", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));

    private static async Task<HashSet<string>> SnapshotIdsAsync(ServerProcess server) =>
        [.. (await server.GetJsonAsync($"/api/v1/snapshots?region={Region}")).EnumerateArray().Select(s => s.GetProperty("id").GetString()!)];
}
