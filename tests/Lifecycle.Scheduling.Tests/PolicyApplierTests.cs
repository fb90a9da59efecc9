using System.Collections.Immutable;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Policies;

namespace Lifecycle.Scheduling.Tests;

public sealed class PolicyApplierTests
{
    [Theory]
    [InlineData(3, 2, false, true)]
    [InlineData(2, 2, false, false)]
    [InlineData(5, 50, true, false)]   // 50% of 10 owned = 5
    [InlineData(6, 50, true, true)]
    public void DestructiveRefusal_RefusesWhenReleasedSnapshotsExceedMaxDeletesPerRun(int released, int limit, bool percent, bool refused)
    {
        var policy = new SnapshotPolicy
        {
            Name = "p1",
            Regions = ["r1"],
            Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty },
            Schedules = [new Schedule { Name = "s1", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
            Safety = new SafetyRules { MaxDeletesPerRun = new DeleteLimit(limit, percent) },
        };
        var decisions = Enumerable.Range(0, 10).Select(i => new SnapshotDecision("p1", $"snap-{i}", "r1", "vol-1", "s1", DateTimeOffset.UnixEpoch.AddHours(i),
            i < released ? SnapshotVerdict.Released : SnapshotVerdict.Kept, ["test"])).ToImmutableArray();
        var plan = new Plan(DateTimeOffset.UnixEpoch, [], decisions, []);

        var refusal = PolicyApplier.DestructiveRefusal(new PolicySet([policy]), plan);

        Assert.Equal(refused, refusal is not null);
        if (refused)
        {
            Assert.Contains($"p1 would delete {released} snapshot(s)", refusal);
        }
    }
}
