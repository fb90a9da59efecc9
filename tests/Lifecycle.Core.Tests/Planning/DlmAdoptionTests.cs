using System.Collections.Immutable;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>
/// A policy that adopts an Amazon DLM policy's snapshots (<c>adopt: { dlmPolicyId }</c>): they become its own for
/// retention, the first fire after the switch makes no duplicate, and retention deletes exactly what it should.
/// </summary>
public class DlmAdoptionTests
{
    private const string DlmPolicy = "policy-0123456789abcdef0";
    private const string OtherDlmPolicy = "policy-0fedcba9876543210";

    private static readonly SnapshotPlanner Planner = new();

    private static SnapshotPolicy Adopting(params Schedule[] schedules) =>
        Policy("prod", schedules.Length == 0 ? [Daily("daily", new RetentionRule { Count = 5 })] : schedules) with { Adopt = new DlmAdoption(DlmPolicy) };

    /// <summary>A snapshot as DLM makes it: its tags, a start within minutes of the DLM schedule's time, no lifecycle tags.</summary>
    private static SnapshotInfo Dlm(string id, string start, string volume = "vol-1", string policyId = DlmPolicy, string? schedule = "daily") => new()
    {
        Id = id,
        VolumeId = volume,
        Region = "eu-west-1",
        StartTime = At(start),
        VolumeSizeGiB = 100,
        Tags = schedule is null
            ? Tags(DlmTags.PolicyId, policyId, "dlm:managed", "true")
            : Tags(DlmTags.PolicyId, policyId, DlmTags.ScheduleName, schedule, "dlm:managed", "true"),
    };

    /// <summary>Seven daily DLM snapshots of vol-1 (02:07 on 2026-11-15 … 21), plus snapshots adoption must never touch.</summary>
    private static List<SnapshotInfo> Switchover() =>
    [
        .. Enumerable.Range(15, 7).Select(day => Dlm($"snap-dlm-{day}", $"2026-11-{day}T02:07:00Z")),
        Dlm("snap-other-dlm", "2026-11-01T02:07:00Z", policyId: OtherDlmPolicy),
        Dlm("snap-untargeted", "2026-11-01T02:07:00Z", volume: "vol-2"),
        new SnapshotInfo { Id = "snap-by-hand", VolumeId = "vol-1", Region = "eu-west-1", StartTime = At("2026-11-01T09:00:00Z"), VolumeSizeGiB = 100 },
    ];

    private static readonly VolumeInfo[] Volumes = [Volume("vol-1"), Volume("vol-2", backup: "no")];

    private static Plan PlanAt(SnapshotPolicy policy, IEnumerable<SnapshotInfo> snapshots, string now) =>
        Planner.Plan(Set(policy), InventoryOf(Volumes, snapshots), At(now));

    private static string[] Deleted(Plan plan) =>
        [.. plan.Actions.Where(a => a.Kind == ActionKind.Delete).Select(a => a.SnapshotId!).Order(StringComparer.Ordinal)];

    [Fact]
    public void Adoption_TakesOverTheDlmSnapshots_MakesNoDuplicateAtTheFirstFire_AndDeletesExactlyWhatCountReleases()
    {
        var policy = Adopting();

        // The switch, 2026-11-21 12:00: DLM made today's 02:00 snapshot, so nothing is created.
        var first = PlanAt(policy, Switchover(), "2026-11-21T12:00:00Z");

        Assert.DoesNotContain(first.Actions, a => a.Kind == ActionKind.Create);
        Assert.Equal(Enumerable.Range(15, 7).Select(d => $"snap-dlm-{d}").Order(StringComparer.Ordinal),
            first.Decisions.Where(d => d.AdoptedFrom == DlmPolicy).Select(d => d.SnapshotId).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(first.Decisions, d => d.SnapshotId is "snap-other-dlm" or "snap-untargeted" or "snap-by-hand");
        // count 5 over 7 adopted: the two oldest, as the DLM policy with count 5 would have.
        Assert.Equal(["snap-dlm-15", "snap-dlm-16"], Deleted(first));
        Assert.All(first.Actions.Where(a => a.Kind == ActionKind.Delete), a => Assert.Equal(DlmPolicy, a.AdoptedFrom));
        var newest = first.Decisions.Single(d => d.SnapshotId == "snap-dlm-21");
        Assert.Equal("daily", newest.Schedule);
        Assert.Equal($"adopted from Amazon DLM policy {DlmPolicy} (DLM schedule 'daily' = schedule daily)", newest.Adoption);
        Assert.Contains(first.Notes, n => n.Message.StartsWith("adopts 7 snapshot(s) made by Amazon DLM policy", StringComparison.Ordinal));
        Assert.Contains(first.Notes, n => n.Message.Contains("snap-untargeted", StringComparison.Ordinal));

        // The next day: the policy's own first snapshot joins the series; count 5 runs over the union.
        var afterFirstRun = Switchover().Where(s => s.Id is not ("snap-dlm-15" or "snap-dlm-16")).ToList();
        var next = PlanAt(policy, afterFirstRun, "2026-11-22T12:00:00Z");
        var create = Assert.Single(next.Actions, a => a.Kind == ActionKind.Create);
        Assert.Equal(At("2026-11-22T02:00:00Z"), create.FireTime);
        Assert.Empty(Deleted(next)); // 5 adopted, the create is not complete yet

        afterFirstRun.Add(Owned("snap-own-22", "2026-11-22T02:00:00Z"));
        var union = PlanAt(policy, afterFirstRun, "2026-11-22T12:00:00Z");
        Assert.DoesNotContain(union.Actions, a => a.Kind == ActionKind.Create);
        Assert.Equal(["snap-dlm-17"], Deleted(union));
        Assert.Equal(SnapshotVerdict.Kept, union.Decisions.Single(d => d.SnapshotId == "snap-own-22").Verdict);
        Assert.Null(union.Decisions.Single(d => d.SnapshotId == "snap-own-22").AdoptedFrom);
    }

    [Fact]
    public void Adoption_NeverDeletesSnapshotsOfOtherDlmPolicies_UntaggedOnes_OrUntargetedVolumes()
    {
        // Age 1 day would release everything old; only the adopted ones may go.
        var policy = Adopting(Daily("daily", new RetentionRule { Count = 1 }));
        var plan = PlanAt(policy, Switchover(), "2026-11-21T12:00:00Z");

        Assert.Equal(Enumerable.Range(15, 6).Select(d => $"snap-dlm-{d}").Order(StringComparer.Ordinal), Deleted(plan));
    }

    [Theory]
    [InlineData("2026-11-21T01:31:00Z", false)] // DLM's schedule half an hour earlier: this period's snapshot
    [InlineData("2026-11-21T00:59:00Z", true)]  // more than an hour before the fire: not this fire's
    [InlineData("2026-11-20T02:07:00Z", true)]  // yesterday's
    public void FirstFire_IsCoveredOnlyByASnapshotDlmMadeForThisPeriod(string dlmStart, bool expectCreate)
    {
        var plan = PlanAt(Adopting(), [Dlm("snap-dlm", dlmStart)], "2026-11-21T12:00:00Z");

        Assert.Equal(expectCreate, plan.Actions.Any(a => a.Kind == ActionKind.Create));
    }

    [Fact]
    public void FirstFire_OfAnHourlySchedule_IsNotCoveredByThePreviousHoursSnapshot()
    {
        var hourly = Every("hourly", "1h", new RetentionRule { Count = 24 });
        var plan = PlanAt(Adopting(hourly), [Dlm("snap-dlm", "2026-11-21T11:05:00Z", schedule: "hourly")], "2026-11-21T12:10:00Z");

        Assert.Single(plan.Actions, a => a.Kind == ActionKind.Create);
    }

    [Fact]
    public void Adoption_MatchesByDlmScheduleName_ElseTheFirstSchedule_AndNotesNamesThatMatchNone()
    {
        var policy = Adopting(
            Daily("daily", new RetentionRule { Count = 7 }),
            Daily("weekly", new RetentionRule { Count = 4 }, "0 3 * * 0"));
        var plan = PlanAt(policy,
        [
            Dlm("snap-weekly", "2026-11-15T03:05:00Z", schedule: "weekly"),
            Dlm("snap-named-otherwise", "2026-11-16T02:05:00Z", schedule: "Default Schedule"),
            Dlm("snap-no-name", "2026-11-17T02:05:00Z", schedule: null),
        ], "2026-11-21T12:00:00Z");

        Assert.Equal("weekly", plan.Decisions.Single(d => d.SnapshotId == "snap-weekly").Schedule);
        Assert.Equal("daily", plan.Decisions.Single(d => d.SnapshotId == "snap-named-otherwise").Schedule);
        Assert.Equal("daily", plan.Decisions.Single(d => d.SnapshotId == "snap-no-name").Schedule);
        Assert.Contains(plan.Notes, n => n.Message.Contains("'(none)', 'Default Schedule' match no schedule", StringComparison.Ordinal));
    }

    [Fact]
    public void TwoPoliciesAdoptingOneDlmPolicy_AdoptNothing()
    {
        var a = Adopting();
        var b = Adopting() with { Name = "prod-too" };
        var plan = Planner.Plan(Set(a, b), InventoryOf(Volumes, Switchover()), At("2026-11-21T12:00:00Z"));

        Assert.Empty(plan.Decisions);
        Assert.Empty(Deleted(plan));
        Assert.Equal(2, plan.Notes.Count(n => n.Message.Contains("adopted by more than one policy", StringComparison.Ordinal)));
    }

    [Fact]
    public void ASnapshotWithOurPolicyTag_IsOurs_NotAdopted()
    {
        var ours = Owned("snap-ours", "2026-11-21T02:00:00Z") with { Tags = Owned("snap-ours", "2026-11-21T02:00:00Z").Tags.Add(DlmTags.PolicyId, DlmPolicy) };
        var plan = PlanAt(Adopting(), [ours], "2026-11-21T12:00:00Z");

        Assert.Null(Assert.Single(plan.Decisions).AdoptedFrom);
    }

    [Fact]
    public void PlanOutput_ShowsWhichSnapshotsAreAdoptedAndWhy_InTextAndJson()
    {
        var plan = PlanAt(Adopting(), Switchover(), "2026-11-21T12:00:00Z");

        var text = PlanTextWriter.Write(plan);
        Assert.Contains("\n  Adopted\n    - snap-dlm-21: adopted from Amazon DLM policy policy-0123456789abcdef0 (DLM schedule 'daily' = schedule daily)\n", text);

        using var json = JsonDocument.Parse(PlanJsonWriter.Write(plan));
        var decision = json.RootElement.GetProperty("decisions").EnumerateArray().Single(d => d.GetProperty("snapshotId").GetString() == "snap-dlm-21");
        Assert.Equal(DlmPolicy, decision.GetProperty("adoptedFrom").GetString());
        Assert.StartsWith("adopted from Amazon DLM policy", decision.GetProperty("adoption").GetString(), StringComparison.Ordinal);
        var delete = json.RootElement.GetProperty("actions").EnumerateArray().First(a => a.GetProperty("kind").GetString() == "delete");
        Assert.Equal(DlmPolicy, delete.GetProperty("adoptedFrom").GetString());
    }

    [Fact]
    public void DueCreates_SeesTheAdoptedSnapshots_Too()
    {
        Assert.Empty(Planner.DueCreates(Set(Adopting()), InventoryOf(Volumes, Switchover()), At("2026-11-21T12:00:00Z")));
    }
}
