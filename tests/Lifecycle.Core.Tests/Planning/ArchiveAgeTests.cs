using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>Archive-tier retention: ages count from when a snapshot entered the archive tier, not from its start time.</summary>
public class ArchiveAgeTests
{
    private const string DlmArchiveAge = "DLM: archive retention is measured from the time the snapshot is moved to the archive tier";

    private static readonly SnapshotPlanner Planner = new();

    /// <summary>A monthly schedule keeping 3 in standard and archiving the rest for <paramref name="archiveAge"/>.</summary>
    private static SnapshotPolicy ArchivingPolicy(string archiveAge = "1y", int? archiveCount = null) =>
        Policy("records", Daily("monthly", new RetentionRule { Count = 3 }, "0 4 1 * *") with
        {
            Archive = new ArchiveRule
            {
                After = new ArchiveAfter(3, null),
                Retain = new RetentionRule { Age = PolicyDuration.Parse(archiveAge), Count = archiveCount },
            },
        });

    private static SnapshotInfo Archived(string id, string fireTime, string? archivedAt) =>
        Owned(id, fireTime, policy: "records", schedule: "monthly") with
        {
            Tier = StorageTier.Archive,
            ArchivedAt = archivedAt is null ? null : At(archivedAt),
        };

    private static Plan PlanAt(string now, params SnapshotInfo[] snapshots) =>
        Planner.Plan(Set(ArchivingPolicy()), InventoryOf([Volume()], [.. MonthlyStandard(), .. snapshots]), At(now));

    /// <summary>The three newest months in the standard tier, so only the archived snapshots are in question.</summary>
    private static IEnumerable<SnapshotInfo> MonthlyStandard() =>
        new[] { "2026-11-01", "2026-10-01", "2026-09-01" }.Select(d => Owned("snap-" + d, d + "T04:00:00Z", policy: "records", schedule: "monthly"));

    [Fact]
    public void Plan_KeepsAnArchivedSnapshot_UntilItsArchiveAgeCountedFromArchiving()
    {
        // Started 2025-06-01, archived 2026-03-01, archive retain age 1y: kept until 2027-03-01. Counted from the
        // start time (the old behaviour) it would have been deleted on 2026-06-01, nine months early.
        var plan = PlanAt("2026-11-21T12:00:00Z", Archived("snap-arch", "2025-06-01T04:00:00Z", "2026-03-01T00:00:00Z"));

        var decision = Assert.Single(plan.Decisions, d => d.SnapshotId == "snap-arch");
        Assert.True(decision.Verdict == SnapshotVerdict.Kept, $"{DlmArchiveAge}; got {decision.Verdict}: {string.Join("; ", decision.Reasons)}");
        Assert.Equal(["archive age 1y from archiving at 2026-03-01T00:00:00Z (until 2027-03-01T00:00:00Z)"], decision.Reasons.ToArray());
        Assert.DoesNotContain(plan.Actions, a => a.Kind == ActionKind.Delete);
    }

    [Fact]
    public void Plan_DeletesAnArchivedSnapshot_OnceItsArchiveAgeHasPassed()
    {
        var plan = PlanAt("2026-11-21T12:00:00Z", Archived("snap-arch", "2025-06-01T04:00:00Z", "2025-10-01T00:00:00Z"));

        var delete = Assert.Single(plan.Actions, a => a.Kind == ActionKind.Delete);
        Assert.Equal("snap-arch", delete.SnapshotId);
        Assert.StartsWith("released: no archive rule of schedule monthly keeps it (age 1y)", delete.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_KeepsAnArchivedSnapshotWithoutArchiveTime_AndNotesIt()
    {
        // Old data: an archived snapshot the inventory gives no archive time for. Counted from its start time it would
        // be long gone; its archive age is unknown, so it is kept and the plan says why.
        var plan = PlanAt("2026-11-21T12:00:00Z", Archived("snap-old", "2020-01-01T04:00:00Z", archivedAt: null));

        var decision = Assert.Single(plan.Decisions, d => d.SnapshotId == "snap-old");
        Assert.Equal(SnapshotVerdict.Kept, decision.Verdict);
        Assert.Contains("archive age 1y: archive time unknown (kept)", decision.Reasons);
        var note = Assert.Single(plan.Notes, n => n.Message.Contains("no known archive time", StringComparison.Ordinal));
        Assert.Equal("records", note.Policy);
        Assert.StartsWith("1 archived snapshot(s) have no known archive time (snap-old)", note.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_NeverCountsArchiveAge_FromBeforeTheStartTime()
    {
        // An archive time before the start time is bad data: the age then counts from the start time, never earlier.
        var plan = PlanAt("2026-11-21T12:00:00Z", Archived("snap-odd", "2026-06-01T04:00:00Z", "2025-01-01T00:00:00Z"));

        var decision = Assert.Single(plan.Decisions, d => d.SnapshotId == "snap-odd");
        Assert.Equal(SnapshotVerdict.Kept, decision.Verdict);
        Assert.Equal(["archive age 1y from archiving at 2025-01-01T00:00:00Z (until 2027-06-01T04:01:00Z)"], decision.Reasons.ToArray());
    }

    [Fact]
    public void Plan_HoldsTheNinetyDayMinimum_FromTheArchiveTime()
    {
        // Archive count 1 releases the older of two archived snapshots; it entered the archive 30 days ago (though it
        // started two years ago), so the 90-day minimum in the archive tier still holds it.
        var policy = Policy("records", Daily("monthly", new RetentionRule { Count = 3 }, "0 4 1 * *") with
        {
            Archive = new ArchiveRule { After = new ArchiveAfter(3, null), Retain = new RetentionRule { Count = 1 } },
        });
        var snapshots = MonthlyStandard().Concat(
        [
            Archived("snap-arch-new", "2025-01-01T04:00:00Z", "2025-04-01T00:00:00Z"),
            Archived("snap-arch-old", "2024-11-01T04:00:00Z", "2026-10-22T12:00:00Z"),
        ]);

        var plan = Planner.Plan(Set(policy), InventoryOf([Volume()], snapshots), At("2026-11-21T12:00:00Z"));

        var decision = Assert.Single(plan.Decisions, d => d.SnapshotId == "snap-arch-old");
        Assert.Equal(SnapshotVerdict.Kept, decision.Verdict);
        Assert.Equal(["archived (90-day minimum until 2027-01-20T12:00:00Z)"], decision.Reasons.ToArray());
    }

    [Fact]
    public void Plan_KeepsArchiveCount_AndAge_AsAUnion()
    {
        var policy = ArchivingPolicy(archiveAge: "1y", archiveCount: 1);
        var snapshots = MonthlyStandard().Concat(
        [
            Archived("snap-a", "2025-02-01T04:00:00Z", "2025-05-01T00:00:00Z"),
            Archived("snap-b", "2025-01-01T04:00:00Z", "2026-01-01T00:00:00Z"),
        ]);

        var plan = Planner.Plan(Set(policy), InventoryOf([Volume()], snapshots), At("2026-11-21T12:00:00Z"));

        Assert.Equal(["archive count 1 of 1"], plan.Decisions.Single(d => d.SnapshotId == "snap-a").Reasons.ToArray());
        Assert.Equal(["archive age 1y from archiving at 2026-01-01T00:00:00Z (until 2027-01-01T00:00:00Z)"],
            plan.Decisions.Single(d => d.SnapshotId == "snap-b").Reasons.ToArray());
    }
}
