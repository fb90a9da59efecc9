using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Planning;

public class SnapshotPlannerTests
{
    private static readonly SnapshotPlanner Planner = new();

    private static Plan PlanFor(SnapshotPolicy policy, IEnumerable<SnapshotInfo> snapshots, string now, params VolumeInfo[] volumes) =>
        Planner.Plan(Set(policy), InventoryOf(volumes.Length == 0 ? [Volume()] : volumes, snapshots), At(now));

    [Fact]
    public void Plan_CreatesOneSnapshot_ForTheLatestMissedFireTime_NotABurst()
    {
        var plan = PlanFor(Policy(), DailySeries("2026-11-15", 1), "2026-11-21T12:00:00Z");
        var create = Assert.Single(plan.Actions, a => a.Kind == ActionKind.Create);
        Assert.Equal(At("2026-11-21T02:00:00Z"), create.FireTime);
        Assert.Equal(CreationToken.ForCreate("prod", "daily", At("2026-11-21T02:00:00Z"), "vol-1"), create.Token);
        Assert.Equal("2026-11-21T02:00:00Z", create.Tags[OwnershipTags.FireTime]);
        Assert.Equal("prod", create.Tags[OwnershipTags.Policy]);
    }

    [Theory]
    [InlineData(SnapshotState.Pending, false)]
    [InlineData(SnapshotState.Completed, false)]
    [InlineData(SnapshotState.Error, true)]
    public void Plan_CreatesAgain_OnlyWhenTheSnapshotForTheFireTimeFailed(SnapshotState state, bool expectCreate)
    {
        var plan = PlanFor(Policy(), [Owned("snap-a", "2026-11-21T02:00:00Z", state: state)], "2026-11-21T12:00:00Z");
        Assert.Equal(expectCreate, plan.Actions.Any(a => a.Kind == ActionKind.Create));
    }

    [Fact]
    public void Plan_MergesSimultaneousSchedules_IntoOneCreateCarryingBoth()
    {
        var policy = Policy("prod", Daily("daily", new RetentionRule { Count = 7 }), Daily("weekly", new RetentionRule { Count = 4 }, "0 2 * * 6"));
        // 2026-11-21 is a Saturday: both fire at 02:00.
        var plan = PlanFor(policy, [], "2026-11-21T12:00:00Z");
        var create = Assert.Single(plan.Actions);
        Assert.Equal(["daily", "weekly"], create.Schedules.ToArray());
        Assert.Equal("daily,weekly", create.Tags[OwnershipTags.Schedules]);
        Assert.Equal("daily", create.Tags[OwnershipTags.Schedule]);
        Assert.Equal(CreationToken.ForCreate("prod", "daily", At("2026-11-21T02:00:00Z"), "vol-1"), create.Token);
    }

    [Fact]
    public void Plan_KeepsASnapshotCarryingTwoSchedules_IfEitherKeepsIt()
    {
        var policy = Policy("prod", Daily("daily", new RetentionRule { Count = 1 }), Daily("weekly", new RetentionRule { Count = 2 }, "0 2 * * 6"));
        var merged = Owned("snap-sat", "2026-11-14T02:00:00Z") with
        {
            Tags = Owned("x", "2026-11-14T02:00:00Z").Tags.SetItem(OwnershipTags.Schedules, "daily,weekly"),
        };
        var plan = PlanFor(policy, [.. DailySeries("2026-11-21", 3).Where(s => !s.Id.EndsWith("1114", StringComparison.Ordinal)), merged], "2026-11-21T12:00:00Z");
        var decision = Assert.Single(plan.Decisions, d => d.SnapshotId == "snap-sat");
        Assert.Equal(SnapshotVerdict.Kept, decision.Verdict);
        Assert.Contains("weekly: count 1 of 2", decision.Reasons);
    }

    [Fact]
    public void Plan_DeletesOldest_WhenCountExceeded_AndSaysWhy()
    {
        var plan = PlanFor(Policy(), DailySeries("2026-11-21", 5), "2026-11-21T12:00:00Z");
        var deletes = plan.Actions.Where(a => a.Kind == ActionKind.Delete).Select(a => a.SnapshotId!).ToArray();
        Assert.Equal(["snap-vol-1-20261117", "snap-vol-1-20261118"], deletes);
        Assert.Equal("released: no rule of schedule daily keeps it (count 3)", plan.Actions.First(a => a.Kind == ActionKind.Delete).Reason);
        Assert.Equal(["count 1 of 3", "keepLatest 1"], plan.Decisions.First().Reasons.ToArray());
    }

    [Fact]
    public void Plan_KeepLatest_IgnoresFailedCreations()
    {
        var policy = Policy("prod", Daily("daily", new RetentionRule { Age = Lifecycle.Core.Time.PolicyDuration.Days(1) }));
        var snapshots = new[]
        {
            Owned("snap-new-failed", "2026-11-21T02:00:00Z", state: SnapshotState.Error),
            Owned("snap-old-ok", "2026-11-10T02:00:00Z"),
            Owned("snap-older-ok", "2026-11-09T02:00:00Z"),
        };
        var plan = PlanFor(policy, snapshots, "2026-11-21T12:00:00Z");
        Assert.Equal(["keepLatest 1"], plan.Decisions.Single(d => d.SnapshotId == "snap-old-ok").Reasons.ToArray());
        Assert.Equal(SnapshotVerdict.Released, plan.Decisions.Single(d => d.SnapshotId == "snap-new-failed").Verdict);
        Assert.Equal(SnapshotVerdict.Released, plan.Decisions.Single(d => d.SnapshotId == "snap-older-ok").Verdict);
        Assert.Contains(plan.Actions, a => a.Kind == ActionKind.Create); // the failed fire is retried
    }

    [Fact]
    public void Plan_Minimum_KeepsTheNewestReleasedOnes()
    {
        var policy = Policy("prod", Daily("daily", new RetentionRule { Age = Lifecycle.Core.Time.PolicyDuration.Days(1), Minimum = 3 }));
        policy = policy with { Safety = new SafetyRules { KeepLatest = 0 } };
        var plan = PlanFor(policy, DailySeries("2026-11-10", 5), "2026-11-21T12:00:00Z");
        Assert.Equal(
            [SnapshotVerdict.Kept, SnapshotVerdict.Kept, SnapshotVerdict.Kept, SnapshotVerdict.Released, SnapshotVerdict.Released],
            plan.Decisions.Select(d => d.Verdict).ToArray());
        Assert.Equal(["minimum 3"], plan.Decisions[2].Reasons.ToArray());
    }

    [Fact]
    public void Plan_DefersDeletions_BeyondMaxDeletesPerRun_OldestFirst()
    {
        var policy = Policy() with { Safety = new SafetyRules { MaxDeletesPerRun = new DeleteLimit(2, false) } };
        var plan = PlanFor(policy, DailySeries("2026-11-21", 8), "2026-11-21T12:00:00Z");
        Assert.Equal(["snap-vol-1-20261114", "snap-vol-1-20261115"],
            plan.Actions.Where(a => a.Kind == ActionKind.Delete).Select(a => a.SnapshotId!).ToArray());
        Assert.Equal(3, plan.Decisions.Count(d => d.Verdict == SnapshotVerdict.Deferred));
        Assert.Contains(plan.Notes, n => n.Message.Contains("2 of 5 released snapshot(s) deleted in this run (the oldest first), 3 deferred", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_DoesNothing_ForADisabledPolicy()
    {
        var plan = PlanFor(Policy() with { Enabled = false }, DailySeries("2026-11-10", 9), "2026-11-21T12:00:00Z");
        Assert.Empty(plan.Actions);
        Assert.All(plan.Decisions, d => Assert.Equal(SnapshotVerdict.Kept, d.Verdict));
        Assert.Contains(plan.Notes, n => n.Message.StartsWith("policy is disabled", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_NeverTouches_SnapshotsWithoutItsPolicyTag()
    {
        var foreign = new[]
        {
            new SnapshotInfo { Id = "snap-manual", VolumeId = "vol-1", Region = "eu-west-1", StartTime = At("2020-01-01T00:00:00Z") },
            Owned("snap-other", "2020-01-01T02:00:00Z", policy: "retired"),
        };
        var plan = PlanFor(Policy(), foreign, "2026-11-21T12:00:00Z");
        Assert.DoesNotContain(plan.Actions, a => a.SnapshotId is "snap-manual" or "snap-other");
        Assert.Empty(plan.Decisions);
        Assert.Contains(plan.Notes, n => n.Policy == "retired");
    }

    [Fact]
    public void Plan_KeepsRetainingSnapshotsOfADeletedVolume_WithoutCreating()
    {
        var plan = Planner.Plan(Set(Policy()), InventoryOf([], DailySeries("2026-11-10", 5, volume: "vol-gone")), At("2026-11-21T12:00:00Z"));
        Assert.DoesNotContain(plan.Actions, a => a.Kind == ActionKind.Create);
        Assert.Equal(2, plan.Actions.Count(a => a.Kind == ActionKind.Delete));
        Assert.Contains(plan.Notes, n => n.Message.StartsWith("volume vol-gone", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_CreatesOneSetPerInstance_WithoutTheBootVolume()
    {
        var policy = Policy() with { Targets = Policy().Targets with { Resource = ResourceKind.Instance, ExcludeBootVolume = true } };
        var volumes = new[]
        {
            Volume("vol-root") with { InstanceId = "i-1", IsBoot = true },
            Volume("vol-data") with { InstanceId = "i-1" },
            Volume("vol-logs") with { InstanceId = "i-1" },
            Volume("vol-loose"),
        };
        var plan = PlanFor(policy, [], "2026-11-21T12:00:00Z", volumes);
        var create = Assert.Single(plan.Actions);
        Assert.Equal("i-1", create.InstanceId);
        Assert.Equal(["vol-data", "vol-logs"], create.VolumeIds.ToArray());
        Assert.Equal(CreationToken.ForCreate("prod", "daily", At("2026-11-21T02:00:00Z"), "i-1"), create.Token);
    }

    [Fact]
    public void Plan_MatchesTargets_ByWildcardAndAnyOfValues_MinusExclusions()
    {
        var policy = Policy() with
        {
            Targets = new TargetSelector
            {
                Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                    [KeyValuePair.Create("env", ImmutableArray.Create("prod*", "live"))]),
                ExcludeTags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                    [KeyValuePair.Create("skip", ImmutableArray.Create("true"))]),
                ExcludeVolumeIds = ["vol-4"],
            },
        };
        var volumes = new[]
        {
            Volume("vol-1") with { Tags = Tags("env", "production") },
            Volume("vol-2") with { Tags = Tags("env", "live") },
            Volume("vol-3") with { Tags = Tags("env", "production", "skip", "true") },
            Volume("vol-4") with { Tags = Tags("env", "prod") },
            Volume("vol-5") with { Tags = Tags("env", "staging") },
            Volume("vol-6", region: "us-east-1") with { Tags = Tags("env", "prod") },
        };
        var plan = PlanFor(policy, [], "2026-11-21T12:00:00Z", volumes);
        Assert.Equal(["vol-1", "vol-2"], plan.Actions.Select(a => a.VolumeIds[0]).ToArray());
    }

    [Fact]
    public void Plan_IsDeterministic_ForShuffledInput()
    {
        var snapshots = DailySeries("2026-11-21", 10).Concat(DailySeries("2026-11-21", 10, volume: "vol-2")).ToList();
        var a = PlanFor(Policy(), snapshots, "2026-11-21T12:00:00Z", Volume("vol-1"), Volume("vol-2"));
        snapshots.Reverse();
        var b = PlanFor(Policy(), snapshots, "2026-11-21T12:00:00Z", Volume("vol-2"), Volume("vol-1"));
        Assert.Equal(a.Actions.Select(x => x.ToString()), b.Actions.Select(x => x.ToString()));
        Assert.Equal(a.Decisions.Select(x => x.SnapshotId), b.Decisions.Select(x => x.SnapshotId));
    }
}

public class SnapshotPlannerCopyTests
{
    [Fact]
    public void Plan_CopiesEveryVolumeOfAnInstanceSet_WithDistinctTokens()
    {
        var schedule = Build.Daily("daily", new RetentionRule { Count = 3 }) with
        {
            Copies = [new CopyRule { Region = "eu-central-1", Retain = new RetentionRule { Count = 3 } }],
        };
        var policy = Build.Policy("db", schedule) with { Targets = Build.Policy().Targets with { Resource = ResourceKind.Instance } };
        var fire = Build.At("2026-11-21T02:00:00Z");
        var token = CreationToken.ForCreate("db", "daily", fire, "i-1");
        SnapshotInfo SetMember(string id, string volume) => Build.Owned(id, "2026-11-21T02:00:00Z", policy: "db", volume: volume) with
        {
            Tags = Build.Owned(id, "2026-11-21T02:00:00Z", policy: "db", volume: volume).Tags
                .SetItem(OwnershipTags.Token, token).SetItem(OwnershipTags.Instance, "i-1"),
        };

        var plan = new SnapshotPlanner().Plan(Build.Set(policy),
            Build.InventoryOf([Build.Volume("vol-a") with { InstanceId = "i-1" }, Build.Volume("vol-b") with { InstanceId = "i-1" }],
                [SetMember("snap-a", "vol-a"), SetMember("snap-b", "vol-b")]),
            Build.At("2026-11-21T12:00:00Z"));

        var copies = plan.Actions.Where(a => a.Kind == ActionKind.Copy).ToList();
        Assert.Equal(["snap-a", "snap-b"], copies.Select(c => c.SnapshotId!).ToArray());
        Assert.Equal(2, copies.Select(c => c.Token).Distinct().Count());
    }
    /// <summary>
    /// EC2 gives every copy an arbitrary volume id (often the same placeholder): copy retention must group by the
    /// <c>lifecycle:source-volume</c> tag, or one volume's copies would push out another's.
    /// </summary>
    [Fact]
    public void Plan_CopyRetention_GroupsCopiesBySourceVolumeTag_NotByTheVolumeIdTheEngineReports()
    {
        var schedule = Build.Daily("daily", new RetentionRule { Count = 3 }) with
        {
            Copies = [new CopyRule { Region = "eu-central-1", Retain = new RetentionRule { Count = 2 } }],
        };
        var policy = Build.Policy("prod", schedule);
        SnapshotInfo Copy(string id, string sourceVolume, string day)
        {
            var source = Build.Owned("src-" + id, day + "T02:00:00Z", volume: sourceVolume);
            return source with
            {
                Id = id,
                Region = "eu-central-1",
                VolumeId = "vol-ffffffff",
                Tags = source.Tags
                    .SetItem(OwnershipTags.Token, CreationToken.ForCopy(source.Tags[OwnershipTags.Token], "eu-central-1"))
                    .SetItem(OwnershipTags.SourceSnapshot, source.Id)
                    .SetItem(OwnershipTags.SourceRegion, "eu-west-1")
                    .SetItem(OwnershipTags.SourceVolume, sourceVolume),
            };
        }

        // Two copies of vol-a and two of vol-b, all reported with one volume id: each volume's two are within Count 2.
        var copies = new[]
        {
            Copy("copy-a1", "vol-a", "2026-11-19"), Copy("copy-a2", "vol-a", "2026-11-20"),
            Copy("copy-b1", "vol-b", "2026-11-17"), Copy("copy-b2", "vol-b", "2026-11-18"),
        };
        var plan = new SnapshotPlanner().Plan(Build.Set(policy),
            Build.InventoryOf([Build.Volume("vol-a"), Build.Volume("vol-b")], copies), Build.At("2026-11-20T12:00:00Z"));

        Assert.DoesNotContain(plan.Actions, a => a.Kind == ActionKind.Delete);
        Assert.All(plan.Decisions.Where(d => d.SnapshotId.StartsWith("copy-", StringComparison.Ordinal)),
            d => Assert.Equal("vol-" + d.SnapshotId[5], d.VolumeId));
    }

    [Fact]
    public void Plan_Copy_CarriesTheSourceVolumeAndSnapshotTags()
    {
        var schedule = Build.Daily("daily", new RetentionRule { Count = 3 }) with
        {
            Copies = [new CopyRule { Region = "eu-central-1", Retain = new RetentionRule { Count = 3 } }],
        };
        var plan = new SnapshotPlanner().Plan(Build.Set(Build.Policy("prod", schedule)),
            Build.InventoryOf([Build.Volume("vol-a")], [Build.Owned("snap-a", "2026-11-20T02:00:00Z", volume: "vol-a")]), Build.At("2026-11-20T12:00:00Z"));

        var copy = Assert.Single(plan.Actions, a => a.Kind == ActionKind.Copy);
        Assert.Equal("vol-a", copy.Tags[OwnershipTags.SourceVolume]);
        Assert.Equal("snap-a", copy.Tags[OwnershipTags.SourceSnapshot]);
    }
}


public class SnapshotPlannerBucketCopyTests
{
    [Fact]
    public void Plan_CopiesForAMonthlyBucket_OnlyOnceTheMonthHasEnded()
    {
        // Copies kept by "monthly 12": November's newest (11-30) is copied; December's newest (12-02) is not yet,
        // because a later December snapshot would replace it.
        var schedule = Build.Daily("daily", new RetentionRule { Count = 5 }) with
        {
            Copies = [new CopyRule { Region = "eu-central-1", Retain = new RetentionRule { Buckets = new RetentionBuckets { Monthly = 12 } } }],
        };
        var plan = new SnapshotPlanner().Plan(Build.Set(Build.Policy("prod", schedule)),
            Build.InventoryOf([Build.Volume()], Build.DailySeries("2026-12-02", 4)),
            Build.At("2026-12-02T12:00:00Z"));
        var copy = Assert.Single(plan.Actions, a => a.Kind == ActionKind.Copy);
        Assert.Equal("snap-vol-1-20261130", copy.SnapshotId);
        Assert.Equal("copy to eu-central-1 (kept there by monthly bucket 2026-11)", copy.Reason);
    }
}
