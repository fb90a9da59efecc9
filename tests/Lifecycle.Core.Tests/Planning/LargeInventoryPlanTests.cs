using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>
/// Large inventories are indexed in parallel chunks and policies are planned in parallel; the plan must be exactly
/// the one a sequential pass gives, whatever the inventory's order (chunk boundaries then cut different places).
/// </summary>
public class LargeInventoryPlanTests
{
    [Fact]
    public void Plan_OfALargeInventory_IsTheSame_ForEveryOrderOfItsSnapshots()
    {
        var now = Build.At("2026-11-21T12:00:00Z");
        var volumes = Enumerable.Range(0, 300).Select(i => Build.Volume($"vol-{i:D4}")).ToList();
        var snapshots = volumes
            .SelectMany(v => Build.DailySeries("2026-11-21", 200, volume: v.Id))
            .ToList();
        Assert.True(snapshots.Count >= 50_000, "the inventory must be large enough to take the parallel path");
        var policy = Build.Policy("prod", Build.Daily(retain: new RetentionRule { Count = 7, Buckets = new RetentionBuckets { Weekly = 4, Monthly = 3 } }));
        var policies = Build.Set(policy, policy with { Name = "other", Enabled = false });

        var forward = new SnapshotPlanner().Plan(policies, Build.InventoryOf(volumes, snapshots), now);
        var random = new Random(7);
        var shuffled = new SnapshotPlanner().Plan(policies, Build.InventoryOf(volumes, snapshots.OrderBy(_ => random.Next())), now);
        var reversed = new SnapshotPlanner().Plan(policies, Build.InventoryOf(volumes, Enumerable.Reverse(snapshots)), now);

        var expected = PlanJsonWriter.Write(forward);
        Assert.Equal(expected, PlanJsonWriter.Write(shuffled));
        Assert.Equal(expected, PlanJsonWriter.Write(reversed));

        // Per volume: 7 by count, plus the weekly and monthly buckets beyond them; the rest is deleted.
        Assert.Equal(snapshots.Count, forward.Decisions.Length);
        Assert.All(forward.Decisions.GroupBy(d => d.VolumeId), g => Assert.InRange(g.Count(d => d.Verdict == SnapshotVerdict.Kept), 8, 14));
        Assert.Equal(forward.Decisions.Count(d => d.Verdict == SnapshotVerdict.Released), forward.Actions.Count(a => a.Kind == ActionKind.Delete));
    }
}
