using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Execution;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// A fired schedule plans its creates from a read of only the snapshots of the fire times now due
/// (<see cref="InventoryReader.DueCreatesAsync"/>), not from every snapshot its policies keep; the creates must be
/// exactly those the full plan gives, whatever the policy already holds.
/// </summary>
public sealed class DueCreatesReadTests
{
    private const string Region = "r1";

    private static readonly Schedule Hourly = new() { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 100 } };
    private static readonly Schedule Daily = new() { Name = "daily", Trigger = new CronTrigger("0 2 * * *", "UTC"), Retain = new RetentionRule { Count = 7 } };

    private static SnapshotPolicy Policy(string name, params Schedule[] schedules) => new()
    {
        Name = name,
        Engine = EngineKind.Local,
        Regions = [Region],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("backup", ["yes"]) },
        Schedules = [.. schedules],
    };

    private static VolumeInfo Volume(string id) => new()
    {
        Id = id, Region = Region, Zone = Region + "a", SizeGiB = 1, Tags = ImmutableSortedDictionary<string, string>.Empty.Add("backup", "yes"),
    };

    /// <summary>A snapshot as a policy's create tags it (or, with <paramref name="copy"/>, as its cross-region copy does).</summary>
    private static SnapshotInfo Owned(
        string id, string volume, string policy, DateTimeOffset fire, string[] schedules, SnapshotState state = SnapshotState.Completed, bool copy = false)
    {
        var tags = ImmutableSortedDictionary<string, string>.Empty
            .Add(OwnershipTags.Policy, policy)
            .Add(OwnershipTags.Schedule, schedules[0])
            .Add(OwnershipTags.Schedules, string.Join(',', schedules))
            .Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire))
            .Add(OwnershipTags.Token, CreationToken.ForCreate(policy, schedules[0], fire, volume));
        if (copy)
        {
            tags = tags.Add(OwnershipTags.SourceSnapshot, "snap-source-" + id).Add(OwnershipTags.SourceVolume, volume).Add(OwnershipTags.SourceRegion, "r0");
        }

        return new SnapshotInfo { Id = id, VolumeId = copy ? "vol-ffffffff" : volume, Region = Region, StartTime = fire, State = state, Tags = tags };
    }

    private static readonly DateTimeOffset At0200 = new(2026, 12, 7, 2, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Two policies over seven volumes, with what a policy can already hold for the fire times due: a snapshot for the
    /// hourly fire (taken), one for the daily fire only, a failed one, a copy, another policy's, and 50 older ones.
    /// </summary>
    private static FakeProvider Region1(DateTimeOffset hourlyFire, DateTimeOffset dailyFire)
    {
        var provider = new FakeProvider(Region);
        foreach (var id in new[] { "vol-1", "vol-2", "vol-3", "vol-4", "vol-5", "vol-6", "vol-7" })
        {
            provider.AddVolume(Volume(id));
        }

        provider.Add(Owned("snap-taken", "vol-1", "p1", hourlyFire, ["hourly"]));
        provider.Add(Owned("snap-daily-only", "vol-2", "p1", dailyFire, ["daily"]));
        provider.Add(Owned("snap-failed", "vol-3", "p1", hourlyFire, ["hourly"], SnapshotState.Error));
        provider.Add(Owned("snap-copy", "vol-4", "p1", hourlyFire, ["hourly"], copy: true));
        provider.Add(Owned("snap-other-policy", "vol-5", "p2", hourlyFire, ["hourly"]));
        provider.Add(Owned("snap-both", "vol-7", "p1", hourlyFire, ["daily", "hourly"]));
        for (var age = 1; age <= 50; age++)
        {
            provider.Add(Owned($"snap-old-{age:000}", "vol-6", "p1", hourlyFire.AddHours(-age), ["hourly"]));
        }

        return provider;
    }

    private static IEnumerable<string> Describe(IEnumerable<PlannedAction> creates) =>
        creates.Select(a => $"{a.Policy} {string.Join('+', a.VolumeIds)} {a.Token}").Order(StringComparer.Ordinal);

    public static TheoryData<string, int> Moments => new()
    {
        { "both schedules fire together", 5 },
        { "only the hourly fires; the daily fired hours ago", 3 * 3600 + 5 },
        { "an hourly fire, planned late in its hour", 59 * 60 + 50 },
    };

    [Theory]
    [MemberData(nameof(Moments))]
    public async Task DueCreates_AreTheFullPlansCreates(string moment, int secondsAfterTwo)
    {
        var now = At0200.AddSeconds(secondsAfterTwo);
        var hourlyFire = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero);
        var provider = Region1(hourlyFire, At0200);
        var policies = new PolicySet([Policy("p1", Hourly, Daily), Policy("p2", Hourly)]);
        var reader = new InventoryReader(provider);
        var planner = new SnapshotPlanner();

        var full = await reader.PlanAsync(planner, policies, now);
        var due = await reader.DueCreatesAsync(planner, policies, now);

        var expected = Describe(full.Actions.Where(a => a.Kind == ActionKind.Create)).ToList();
        Assert.NotEmpty(expected);
        Assert.True(expected.SequenceEqual(Describe(due)), $"{moment}: full plan [{string.Join(", ", expected)}] but due creates [{string.Join(", ", Describe(due))}]");
    }

    [Fact]
    public async Task DueCreates_ReadOnlyTheSnapshotsOfTheFireTimesDue()
    {
        var now = At0200.AddSeconds(5);
        var provider = Region1(At0200, At0200);
        var reader = new InventoryReader(provider);
        var policies = new PolicySet([Policy("p1", Hourly, Daily)]);

        var due = await reader.DueCreatesAsync(new SnapshotPlanner(), policies, now);
        var dueRead = provider.SnapshotsDescribed;
        await reader.PlanAsync(new SnapshotPlanner(), policies, now);
        var fullRead = provider.SnapshotsDescribed - dueRead;

        // p1's snapshots of 02:00 (taken, daily-only, failed, copy, both), not its 50 older ones nor p2's; vol-7 has both fires.
        Assert.Equal(5, dueRead);
        Assert.Equal(55, fullRead);
        Assert.Equal(["vol-1", "vol-2", "vol-3", "vol-4", "vol-5", "vol-6"], due.SelectMany(a => a.VolumeIds).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task DueCreates_OfAPolicyThatAdoptsADlmPolicy_ReadAsTheFullPlanDoes()
    {
        // Adopted snapshots carry no fire-time tag of ours: the read cannot be narrowed by it.
        var provider = Region1(At0200, At0200);
        var reader = new InventoryReader(provider);
        var adopting = Policy("p1", Hourly) with { Adopt = new DlmAdoption("policy-0123456789abcdef0") };

        await reader.DueCreatesAsync(new SnapshotPlanner(), new PolicySet([adopting]), At0200.AddSeconds(5));

        Assert.Equal(55, provider.SnapshotsDescribed);
    }
}
