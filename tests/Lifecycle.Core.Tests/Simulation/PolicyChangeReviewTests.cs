using Lifecycle.Core.Policies;
using Lifecycle.Core.Simulation;
using Lifecycle.Core.Time;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Simulation;

public class PolicyChangeReviewTests
{
    private static SnapshotPolicy With(RetentionRule retain, int keepLatest = 1) =>
        Policy("prod", Daily("daily", retain)) with { Safety = new SafetyRules { KeepLatest = keepLatest } };

    public static TheoryData<RetentionRule, RetentionRule, string?> Retention => new()
    {
        { new RetentionRule { Count = 7 }, new RetentionRule { Count = 14 }, null },
        { new RetentionRule { Count = 7 }, new RetentionRule { Count = 3 }, "prod/daily: retain count 7 → 3" },
        { new RetentionRule { Count = 7 }, new RetentionRule { Age = PolicyDuration.Days(30) }, "prod/daily: retain count 7 → none" },
        { new RetentionRule { Age = PolicyDuration.Days(30) }, new RetentionRule { Age = PolicyDuration.Parse("5w") }, null },
        { new RetentionRule { Age = PolicyDuration.Days(30) }, new RetentionRule { Age = PolicyDuration.Parse("2w") }, "prod/daily: retain age 30d → 2w" },
        { new RetentionRule { Buckets = new RetentionBuckets { Daily = 7, Monthly = 12 } }, new RetentionRule { Buckets = new RetentionBuckets { Daily = 7, Monthly = 6 } }, "prod/daily: retain buckets monthly 12 → 6" },
        { new RetentionRule { Count = 7, Minimum = 3 }, new RetentionRule { Count = 7 }, "prod/daily: retain minimum 3 → 0" },
    };

    [Theory]
    [MemberData(nameof(Retention))]
    public void ShortenedRetention_ListsWhatKeepsLess(RetentionRule before, RetentionRule after, string? finding)
    {
        var findings = PolicyChangeReview.ShortenedRetention(With(before), With(after)).ToList();

        Assert.Equal(finding is null ? [] : [finding], findings);
    }

    [Fact]
    public void ShortenedRetention_CoversKeepLatest_AndIgnoresARemovedSchedule()
    {
        var before = Policy("prod", Daily("daily", new RetentionRule { Count = 7 }), Daily("weekly", new RetentionRule { Count = 4 }, "0 2 * * 0"));
        var after = Policy("prod", Daily("daily", new RetentionRule { Count = 7 })) with { Safety = new SafetyRules { KeepLatest = 0 } };

        Assert.Equal(["prod: keepLatest 1 → 0"], PolicyChangeReview.ShortenedRetention(before, after));
    }

    [Fact]
    public void Review_NamesAddedRemovedAndChangedPolicies_IgnoringWhereTheyAreWritten()
    {
        var empty = new SimulationReport { From = At("2026-11-21T00:00:00Z"), To = At("2026-12-21T00:00:00Z"), ChangeRatePercentPerDay = 1, Prices = StoragePrices.Default };
        var a = Policy("a");
        var moved = Policy("a") with { Source = new SourceLocation("other.yaml", 3, 1) };
        var summary = PolicyChangeReview.Review(Set(a, Policy("b")), Set(moved, Policy("c"), Policy("b", Daily("daily", new RetentionRule { Count = 2 }))), empty, empty, null, false);

        Assert.Equal(["c"], summary.Added.ToArray());
        Assert.Empty(summary.Removed);
        Assert.Equal(["b"], summary.Changed.ToArray());
        Assert.Equal(["b/daily: retain count 3 → 2"], summary.Destructive.ToArray());
        Assert.True(summary.IsDestructive);
    }
}
