using Lifecycle.Core.Planning;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>Notes the plan carries about owned snapshots the rules still hold but something is off with.</summary>
public class PlanNotesTests
{
    private static readonly SnapshotPlanner Planner = new();

    [Fact]
    public void Plan_NotesAVolumeThatNoLongerMatchesTheTargets_AndThatItsSnapshotsAreStillRetained()
    {
        // vol-1 lost its backup tag: nothing new is created, its snapshots stay under the policy's retention.
        var plan = Planner.Plan(Set(Policy()), InventoryOf([Volume(backup: "no")], DailySeries("2026-11-21", 5)), At("2026-11-21T12:00:00Z"));

        Assert.DoesNotContain(plan.Actions, a => a.Kind == ActionKind.Create);
        var note = Assert.Single(plan.Notes);
        Assert.Equal("prod", note.Policy);
        Assert.Equal(
            "volume vol-1 (eu-west-1) no longer matches the targets of policy prod: its 5 snapshot(s) are still retained by the policy rules (kept or released by them); nothing new is created for it",
            note.Message);
        Assert.Equal(2, plan.Actions.Count(a => a.Kind == ActionKind.Delete)); // count 3 still applies
    }

    [Fact]
    public void Plan_HasNoTargetNote_ForAVolumeThatStillMatches()
    {
        var plan = Planner.Plan(Set(Policy()), InventoryOf([Volume()], DailySeries("2026-11-21", 5)), At("2026-11-21T12:00:00Z"));
        Assert.Empty(plan.Notes);
    }

    [Fact]
    public void Plan_NotesOwnedSnapshotsWithoutAToken()
    {
        var tokenless = DailySeries("2026-11-21", 2).Select(s => s with { Tags = s.Tags.Remove(OwnershipTags.Token) });
        var plan = Planner.Plan(Set(Policy()), InventoryOf([Volume()], [.. tokenless, .. DailySeries("2026-11-19", 1)]), At("2026-11-21T12:00:00Z"));

        var note = Assert.Single(plan.Notes);
        Assert.Equal("prod", note.Policy);
        Assert.StartsWith(
            "2 owned snapshot(s) carry no lifecycle:token tag (snap-vol-1-20261120, snap-vol-1-20261121): they are still retained by the policy rules (kept or released by them)",
            note.Message, StringComparison.Ordinal);
        Assert.All(plan.Decisions, d => Assert.Equal(SnapshotVerdict.Kept, d.Verdict));
    }

    [Fact]
    public void Plan_ListsAtMostFiveSnapshots_InANote()
    {
        var tokenless = DailySeries("2026-11-21", 7).Select(s => s with { Tags = s.Tags.Remove(OwnershipTags.Token) });
        var plan = Planner.Plan(Set(Policy()), InventoryOf([Volume()], tokenless), At("2026-11-21T12:00:00Z"));

        var note = Assert.Single(plan.Notes);
        Assert.Contains("snap-vol-1-20261119, and 2 more)", note.Message, StringComparison.Ordinal);
    }
}
