using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>What one real server did over three minute fires on its accelerated clock (see <see cref="ScheduledServerFixture"/>).</summary>
public sealed class ScheduledServerTests(ScheduledServerFixture run) : ScheduledServerChecks(run), IClassFixture<ScheduledServerFixture>;

/// <summary>
/// The same checks for a node running <c>--engine aws</c> against another server's EC2-compatible endpoint
/// (<see cref="ScheduledServerOnEndpointFixture"/>): one remote protocol, and it is AWS's.
/// </summary>
public sealed class ScheduledServerOnEndpointTests(ScheduledServerOnEndpointFixture run) : ScheduledServerChecks(run), IClassFixture<ScheduledServerOnEndpointFixture>;

/// <summary>The checks of a scheduled run, whatever carried its engine calls.</summary>
public abstract class ScheduledServerChecks(ScheduledServerFixture run)
{
    /// <summary>Ten real seconds from a fire to its snapshot's start, on the server's clock.</summary>
    private static readonly TimeSpan OnTime = TimeSpan.FromSeconds(10 * ScheduledServerFixture.ClockFactor);

    [Fact]
    public void Snapshots_AppearAtEveryMinuteFire_WithOwnershipTagsAndWithinSecondsOfTheFireTime()
    {
        var volumes = run.VolumesBySuite["basic"];
        var creates = run.ActionsOf("e2e-basic", "create").Where(a => a.GetProperty("state").GetString() == "succeeded").ToList();
        var firstFire = Minute(run.StartedAt).AddMinutes(1);
        foreach (var volume in volumes)
        {
            var fireTimes = creates.Where(a => a.GetProperty("volumeIds")[0].GetString() == volume)
                .Select(a => a.GetProperty("fireTime").GetDateTimeOffset()).Order().ToList();
            // The start's catch-up (the minute before the start) and the three fires after it: one create each.
            Assert.Equal([firstFire.AddMinutes(-1), firstFire, firstFire.AddMinutes(1), firstFire.AddMinutes(2)], fireTimes);
        }

        // Every create's snapshot (alive or deleted later) started within seconds of its fire time.
        var live = run.LiveSnapshots.Where(s => s.GetProperty("tags").TryGetProperty("lifecycle:policy", out var p) && p.GetString() == "e2e-basic"
            && s.GetProperty("region").GetString() == ScheduledServerFixture.Region).ToList();
        Assert.NotEmpty(live);
        foreach (var snapshot in live)
        {
            var tags = snapshot.GetProperty("tags");
            var fire = DateTimeOffset.Parse(tags.GetProperty("lifecycle:fire-time").GetString()!, CultureInfo.InvariantCulture);
            var start = snapshot.GetProperty("startTime").GetDateTimeOffset();
            if (fire >= firstFire)
            {
                Assert.InRange(start - fire, TimeSpan.Zero, OnTime);
            }

            var volume = snapshot.GetProperty("volumeId").GetString()!;
            Assert.Equal("minutely", tags.GetProperty("lifecycle:schedule").GetString());
            Assert.Equal("application", tags.GetProperty("lifecycle:consistency").GetString());
            Assert.Equal(CreationToken.ForCreate("e2e-basic", "minutely", fire, volume), tags.GetProperty("lifecycle:token").GetString());
            Assert.Equal("e2e", tags.GetProperty("team").GetString());
            Assert.Equal(volume, tags.GetProperty("volume").GetString());
        }
    }

    [Fact]
    public void IntervalSchedule_FiresAtItsStartAtMinute_AndCatchesUpTheHourBeforeTheStartOnce()
    {
        var volume = Assert.Single(run.VolumesBySuite["interval"]);
        var creates = run.ActionsOf("e2e-interval", "create").ToList();
        Assert.All(creates, a => Assert.Equal("succeeded", a.GetProperty("state").GetString()));
        var fireTimes = creates.Select(a => a.GetProperty("fireTime").GetDateTimeOffset()).Order().ToList();
        Assert.Equal([run.IntervalFire.AddHours(-1), run.IntervalFire], fireTimes);

        var onSchedule = Assert.Single(run.SnapshotsOf("e2e-interval"), s => s.Tags[OwnershipTags.FireTime] == OwnershipTags.FormatFireTime(run.IntervalFire));
        Assert.Equal(volume, onSchedule.VolumeId);
        Assert.Equal("hourly", onSchedule.Tags[OwnershipTags.Schedule]);
        Assert.Equal(CreationToken.ForCreate("e2e-interval", "hourly", run.IntervalFire, volume), onSchedule.Tags[OwnershipTags.Token]);
        Assert.InRange(onSchedule.StartTime - run.IntervalFire, TimeSpan.Zero, OnTime);
    }

    [Fact]
    public void Retention_DeletesExactlyTheSnapshotsThePlannerReleased_AndNothingElse()
    {
        var created = run.ActionsOf("e2e-basic", "create").Select(a => a.GetProperty("resultSnapshotId").GetString()).OfType<string>().ToHashSet();
        var deletes = run.ActionsOf("e2e-basic", "delete").Where(a => a.GetProperty("region").GetString() == ScheduledServerFixture.Region).ToList();
        Assert.All(deletes, d => Assert.Equal("succeeded", d.GetProperty("state").GetString()));
        var deleted = deletes.Select(d => d.GetProperty("snapshotId").GetString()!).ToHashSet();
        var remaining = run.SnapshotsOf("e2e-basic").Select(s => s.Id).ToHashSet();

        // Nothing owned is lost: every created snapshot still exists or was deleted by a recorded delete action.
        Assert.Equal(created.OrderBy(x => x), remaining.Union(deleted).OrderBy(x => x));
        Assert.Empty(remaining.Intersect(deleted));

        // count: 2 per volume: the two newest fire times stay; all older ones were deleted.
        foreach (var volume in run.VolumesBySuite["basic"])
        {
            var kept = run.SnapshotsOf("e2e-basic").Where(s => s.VolumeId == volume).Select(s => s.Tags["lifecycle:fire-time"]).Order().ToList();
            Assert.Equal(2, kept.Count);
            var newest = Minute(run.StartedAt).AddMinutes(3);
            Assert.Equal([OwnershipTags.FormatFireTime(newest.AddMinutes(-1)), OwnershipTags.FormatFireTime(newest)], kept);
        }

        // The planner, run on what is left at the stop, releases nothing more: the server did what it said, no more.
        Assert.Equal(2 * 2, deleted.Count);
        var policies = PolicyLoader.Load([run.Environment.PoliciesDirectory]);
        Assert.False(policies.HasErrors);
        var inventory = new Inventory { Volumes = run.Volumes, Snapshots = run.SourceSnapshots.AddRange(run.CopySnapshots) };
        var plan = new SnapshotPlanner().Plan(new PolicySet([policies.Policies.Find("e2e-basic")!]), inventory, run.StoppedAt);
        Assert.DoesNotContain(plan.Actions, a => a.Kind == ActionKind.Delete);
        Assert.All(plan.Decisions.Where(d => d.Region == ScheduledServerFixture.Region), d => Assert.Equal(SnapshotVerdict.Kept, d.Verdict));
    }

    [Fact]
    public void Copies_AppearInTheTargetRegion_WithTheirOwnRetention()
    {
        var copies = run.CopySnapshots.Where(s => s.Tags.GetValueOrDefault("lifecycle:policy") == "e2e-basic").ToList();
        foreach (var volume in run.VolumesBySuite["basic"])
        {
            var ofVolume = copies.Where(c => c.VolumeId == volume).ToList();
            Assert.Single(ofVolume); // copies retain count 1
            Assert.Equal(SnapshotState.Completed, ofVolume[0].State);
            Assert.Equal(ScheduledServerFixture.Region, ofVolume[0].SourceRegion);
        }

        var copyActions = run.ActionsOf("e2e-basic", "copy").ToList();
        Assert.True(copyActions.Count >= 2 * 3, $"expected a copy per volume and fire, saw {copyActions.Count}");
        Assert.All(copyActions, a => Assert.Equal("succeeded", a.GetProperty("state").GetString()));
        Assert.Contains(run.ActionsOf("e2e-basic", "delete"), d => d.GetProperty("region").GetString() == ScheduledServerFixture.CopyRegion);
    }

    [Fact]
    public void FastRestore_IsEnabledOnTheNewest_AndDisabledOnOlderSnapshots()
    {
        Assert.Contains(run.ActionsOf("e2e-basic", "enable-fast-restore"), a => a.GetProperty("state").GetString() == "succeeded");
        Assert.Contains(run.ActionsOf("e2e-basic", "disable-fast-restore"), a => a.GetProperty("state").GetString() == "succeeded");
        foreach (var volume in run.VolumesBySuite["basic"])
        {
            var newest = run.SnapshotsOf("e2e-basic").Where(s => s.VolumeId == volume).MaxBy(s => s.Tags["lifecycle:fire-time"])!;
            var live = run.LiveSnapshots.Single(s => s.GetProperty("id").GetString() == newest.Id);
            var state = live.GetProperty("fastRestore").GetProperty(ScheduledServerFixture.Zone).GetString();
            Assert.Contains(state, new[] { "enabling", "optimizing", "enabled" });
        }
    }

    [Fact]
    public void Archive_MovesSnapshotsThatLeaveStandardRetention()
    {
        var snapshots = run.SnapshotsOf("e2e-archive").ToList();
        Assert.Contains(snapshots, s => s.Tier == StorageTier.Archive);
        var newest = snapshots.MaxBy(s => s.Tags["lifecycle:fire-time"])!;
        Assert.Equal(StorageTier.Standard, newest.Tier);
        Assert.Contains(run.ActionsOf("e2e-archive", "archive"), a => a.GetProperty("state").GetString() == "succeeded");
    }

    [Fact]
    public void FailingPreHook_WithSkip_TakesNoSnapshot_AndStillRunsPostHooks()
    {
        var creates = run.ActionsOf("e2e-hook-skip", "create").ToList();
        Assert.True(creates.Count >= 3);
        Assert.All(creates, a => Assert.Equal("skipped", a.GetProperty("state").GetString()));
        Assert.Empty(run.SnapshotsOf("e2e-hook-skip"));
        AssertPreFailedAndPostRan("e2e-hook-skip", creates);
        Assert.Equal(creates.Count, PostLines("hook-skip"));
    }

    [Fact]
    public void FailingPreHook_WithCrashConsistent_TakesTheSnapshotTaggedCrash()
    {
        var creates = run.ActionsOf("e2e-hook-crash", "create").ToList();
        Assert.All(creates, a => Assert.Equal("succeeded", a.GetProperty("state").GetString()));
        var snapshots = run.SnapshotsOf("e2e-hook-crash").ToList();
        Assert.Equal(creates.Count, snapshots.Count);
        Assert.All(snapshots, s => Assert.Equal("crash", s.Tags["lifecycle:consistency"]));
        AssertPreFailedAndPostRan("e2e-hook-crash", creates);
    }

    [Fact]
    public void FailingPreHook_WithFail_FailsTheRunWithoutSnapshot_AndStillRunsPostHooks()
    {
        var creates = run.ActionsOf("e2e-hook-fail", "create").ToList();
        Assert.True(creates.Count >= 3);
        Assert.All(creates, a =>
        {
            Assert.Equal("failed", a.GetProperty("state").GetString());
            Assert.Contains("onFailure: fail", a.GetProperty("error").GetString());
        });
        Assert.Empty(run.SnapshotsOf("e2e-hook-fail"));
        AssertPreFailedAndPostRan("e2e-hook-fail", creates);
        Assert.Equal(creates.Count, PostLines("hook-fail"));
    }

    [Fact]
    public void HangingHook_IsKilledWithItsWholeProcessTreeAtItsTimeout()
    {
        var creates = run.ActionsOf("e2e-hook-hang", "create").ToList();
        Assert.NotEmpty(creates);
        foreach (var create in creates)
        {
            var hooks = run.HooksByAction[create.GetProperty("id").GetString()!].GetProperty("hooks").EnumerateArray().ToList();
            var pre = hooks.Single(h => h.GetProperty("stage").GetString() == "pre");
            Assert.Equal("timedout", pre.GetProperty("outcome").GetString());
            var duration = TimeSpan.Parse(pre.GetProperty("duration").GetString()!, CultureInfo.InvariantCulture);
            // Killed at its timeout, within four real seconds (as many of the server's) of killing and reaping.
            Assert.InRange(duration, ScheduledServerFixture.HangTimeout, ScheduledServerFixture.HangTimeout + TimeSpan.FromSeconds(4 * ScheduledServerFixture.ClockFactor));
        }

        Assert.All(run.SnapshotsOf("e2e-hook-hang"), s => Assert.Equal("crash", s.Tags["lifecycle:consistency"]));
        // The shell and its background sleep (a grandchild of the server) are both gone.
        foreach (var pidFile in new[] { "hang-shell.pid", "hang-child.pid" })
        {
            var pid = int.Parse(File.ReadAllText(Path.Combine(run.Environment.MarkerDirectory, pidFile)).Trim(), CultureInfo.InvariantCulture);
            Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal),
                $"process {pid} from {pidFile} is still running");
        }
    }

    [Fact]
    public void PostHooks_RunAfterAFailedSnapshot()
    {
        var creates = run.ActionsOf("e2e-snapshot-fails", "create").ToList();
        Assert.True(creates.Count >= 3);
        Assert.All(creates, a =>
        {
            Assert.Equal("failed", a.GetProperty("state").GetString());
            Assert.Contains("create failed", a.GetProperty("error").GetString());
        });
        var lines = File.ReadAllLines(Path.Combine(run.Environment.MarkerDirectory, "snapshot-fails.log"));
        Assert.Equal(creates.Count, lines.Count(l => l == "pre"));
        Assert.Equal(creates.Count, lines.Count(l => l == "post"));
    }

    [Fact]
    public void ExecHooks_SeeTheLifecycleEnvironment()
    {
        var lines = File.ReadAllLines(Path.Combine(run.Environment.MarkerDirectory, "basic.log"));
        foreach (var volume in run.VolumesBySuite["basic"])
        {
            Assert.Contains($"pre e2e-basic minutely {volume}", lines);
            Assert.Contains($"post e2e-basic minutely {volume}", lines);
        }
    }

    private void AssertPreFailedAndPostRan(string policy, List<JsonElement> creates)
    {
        foreach (var create in creates)
        {
            var hooks = run.HooksByAction[create.GetProperty("id").GetString()!].GetProperty("hooks").EnumerateArray().ToList();
            var pre = hooks.Single(h => h.GetProperty("stage").GetString() == "pre");
            Assert.Equal("failed", pre.GetProperty("outcome").GetString());
            Assert.Equal(3, pre.GetProperty("exitCode").GetInt32());
            Assert.Contains("frozen-fails", pre.GetProperty("output").GetString());
            Assert.Single(hooks, h => h.GetProperty("stage").GetString() == "post" && h.GetProperty("outcome").GetString() == "succeeded");
        }

        Assert.NotEmpty(creates);
        _ = policy;
    }

    private int PostLines(string suite) =>
        File.ReadAllLines(Path.Combine(run.Environment.MarkerDirectory, suite + ".log")).Count(l => l.StartsWith("post ", StringComparison.Ordinal));

    private static DateTimeOffset Minute(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);
}
