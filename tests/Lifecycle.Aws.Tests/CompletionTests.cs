using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using Lifecycle.Aws.Completion;
using Lifecycle.Aws.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using Lifecycle.Core.Providers;
using SnapshotState = Lifecycle.Core.Inventory.SnapshotState;

namespace Lifecycle.Aws.Tests;

/// <summary>Completion is one batched DescribeSnapshots per interval for all pending snapshots of a region.</summary>
public sealed class CompletionTests
{
    private static readonly ImmutableSortedDictionary<string, string> NoTags = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>A scripted EC2 that records how many snapshot ids each DescribeSnapshots asked for.</summary>
    private static ScriptedEc2 CountingIdsPerDescribe(ConcurrentQueue<int> idsPerDescribe) => new()
    {
        OnCall = c =>
        {
            if (c.Action == "DescribeSnapshots")
            {
                idsPerDescribe.Enqueue(c.Values("Filter.1.Value.").Count());
            }
        },
    };

    [Fact]
    public async Task WaitForCompletion_OfManyPendingSnapshots_DescribesThemAllInOneCallPerInterval()
    {
        const int Count = 30;
        var idsPerDescribe = new ConcurrentQueue<int>();
        using var ec2 = CountingIdsPerDescribe(idsPerDescribe);
        var interval = TimeSpan.FromMilliseconds(200);
        using var registry = Scripted.Registry(ec2, o => o with { CompletionPollInterval = interval, FirstCompletionCheck = TimeSpan.FromMilliseconds(20) });
        var provider = registry.Provider(Scripted.Region);
        var created = new List<string>();
        for (var i = 0; i < Count; i++)
        {
            created.Add((await provider.CreateSnapshotAsync(new CreateSnapshotRequest($"vol-{i}", NoTags))).Id);
        }

        var clock = Stopwatch.StartNew();
        var before = ec2.Count("DescribeSnapshots");
        var waiters = created.Select(id => provider.WaitForCompletionAsync(id)).ToList();
        await Scripted.UntilAsync(() => ec2.Count("DescribeSnapshots") >= before + 4, "four polls");
        Assert.All(waiters, w => Assert.False(w.IsCompleted));
        ec2.CompleteAll();
        var done = await Task.WhenAll(waiters);
        var elapsed = clock.Elapsed;

        Assert.All(done, s => Assert.Equal(SnapshotState.Completed, s!.State));
        var describes = ec2.Count("DescribeSnapshots") - before;
        // One call per interval (plus the first check), not one per snapshot.
        Assert.True(describes <= (elapsed / interval) + 2, $"{describes} describes in {elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(Count, idsPerDescribe.Max());
    }

    [Fact]
    public void DelayBeforePoll_WaitsForItsTime_ThenForStartsToPause_AtMostTheMaximumDeferral()
    {
        var t = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var quiet = CompletionPoller.StartsQuiet;
        var most = CompletionPoller.MaxDeferral;

        // Not due yet: until due.
        Assert.Equal(TimeSpan.FromMilliseconds(400), CompletionPoller.DelayBeforePoll(t, t.AddMilliseconds(400), DateTimeOffset.MinValue));
        // Due, nothing started (ever, or for longer than the quiet time): now.
        Assert.Equal(TimeSpan.Zero, CompletionPoller.DelayBeforePoll(t, t, DateTimeOffset.MinValue));
        Assert.Equal(TimeSpan.Zero, CompletionPoller.DelayBeforePoll(t, t.AddSeconds(-1), t - quiet));
        // Due while snapshots are being started: until the quiet time after the last start.
        Assert.Equal(quiet - TimeSpan.FromMilliseconds(100), CompletionPoller.DelayBeforePoll(t, t.AddSeconds(-1), t.AddMilliseconds(-100)));
        // ...but never past the maximum deferral, however busy.
        Assert.Equal(TimeSpan.FromMilliseconds(100), CompletionPoller.DelayBeforePoll(t, t - most + TimeSpan.FromMilliseconds(100), t));
        Assert.Equal(TimeSpan.Zero, CompletionPoller.DelayBeforePoll(t, t - most, t));
    }

    [Fact]
    public async Task APollDueDuringABurstOfCreates_WaitsForTheBurst_AndDescribesItWhole()
    {
        const int Burst = 20;
        var idsPerDescribe = new ConcurrentQueue<int>();
        using var ec2 = CountingIdsPerDescribe(idsPerDescribe);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        using var registry = Scripted.Registry(ec2, o => o with
        {
            TimeProvider = clock, CompletionPollInterval = TimeSpan.FromSeconds(1), FirstCompletionCheck = TimeSpan.FromSeconds(1),
        });
        var provider = registry.Provider(Scripted.Region);

        // One create every 100 ms for 2 s: the first poll falls due after 1 s, in the middle of the burst.
        for (var i = 0; i < Burst; i++)
        {
            await provider.CreateSnapshotAsync(new CreateSnapshotRequest($"vol-{i}", NoTags));
            clock.Advance(TimeSpan.FromMilliseconds(100));
        }

        clock.Advance(CompletionPoller.StartsQuiet);
        await Scripted.UntilAsync(() => !idsPerDescribe.IsEmpty, "the first poll after the burst");

        // Polling when it fell due would have described only the first half of the burst.
        Assert.True(idsPerDescribe.TryPeek(out var first));
        Assert.Equal(Burst, first);
    }

    [Fact]
    public async Task WaitForCompletion_OfASnapshotThatJustFinished_AnswersFromThatPoll_WithoutAnother()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2, o => o with { CompletionPollInterval = TimeSpan.FromSeconds(30) });
        var provider = registry.Provider(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        ec2.Complete(created.Id);
        Assert.Equal(SnapshotState.Completed, (await provider.WaitForCompletionAsync(created.Id))!.State);
        var polls = ec2.Count("DescribeSnapshots");

        // The check that follows a completion wait asks again: the last poll answers it.
        var again = provider.WaitForCompletionAsync(created.Id);
        Assert.True(again.IsCompletedSuccessfully);
        Assert.Equal(SnapshotState.Completed, (await again)!.State);
        Assert.Equal(polls, ec2.Count("DescribeSnapshots"));
    }

    [Fact]
    public async Task WaitForCompletion_OfASnapshotEc2NeverLists_ReturnsNull_AfterTheConsistencyWindow()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2, o => o with { EventualConsistencyWindow = TimeSpan.FromMilliseconds(300) });
        var clock = Stopwatch.StartNew();

        Assert.Null(await registry.Provider(Scripted.Region).WaitForCompletionAsync("snap-0123456789abcdef0"));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(300), $"gave up after {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task WaitForCompletion_OfASnapshotListedLateByEc2_ReturnsIt()
    {
        using var ec2 = new ScriptedEc2 { HideNewSnapshotsFor = 3 };
        using var registry = Scripted.Registry(ec2);
        var provider = registry.Provider(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        ec2.Complete(created.Id);

        var done = await provider.WaitForCompletionAsync(created.Id);
        Assert.Equal(SnapshotState.Completed, done!.State);
        Assert.True(ec2.Count("DescribeSnapshots") >= 4);
    }

    [Fact]
    public async Task WaitForCompletion_OfASnapshotDeletedWhilePending_ReturnsNull()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2, o => o with { EventualConsistencyWindow = TimeSpan.FromMinutes(5) });
        var provider = registry.Provider(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        var waiter = provider.WaitForCompletionAsync(created.Id);
        await Scripted.UntilAsync(() => ec2.Count("DescribeSnapshots") >= 1, "a first poll");

        await provider.DeleteSnapshotAsync(created.Id);
        Assert.Null(await waiter.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}

/// <summary>At most N copies in progress per destination region; further copies queue in the provider.</summary>
public sealed class CopyQueueTests
{
    [Fact]
    public async Task CopySnapshot_KeepsAtMostTwentyCopiesInProgress_PerDestinationRegion()
    {
        const int Copies = 27;
        var inProgressAtCopy = new ConcurrentQueue<int>();
        ScriptedEc2? ec2 = null;
        ec2 = new ScriptedEc2
        {
            OnCall = c =>
            {
                if (c.Action == "CopySnapshot")
                {
                    inProgressAtCopy.Enqueue(ec2!.PendingCopies + 1);
                }
                else if (c.Action == "DescribeSnapshots" && c.Region == Scripted.OtherRegion)
                {
                    // EC2 finishes one copy per poll.
                    var first = ec2!.Snapshots.Where(s => s.IsCopy && s.State == "pending").OrderBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault();
                    if (first is not null)
                    {
                        ec2.Complete(first.Id);
                    }
                }
            },
        };
        using (ec2)
        {
            using var registry = Scripted.Registry(ec2, o => o with { CompletionPollInterval = TimeSpan.FromMilliseconds(50), FirstCompletionCheck = TimeSpan.FromMilliseconds(50) });
            var source = await registry.Provider(Scripted.Region).CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", ImmutableSortedDictionary<string, string>.Empty));
            ec2.Complete(source.Id);
            var target = registry.Provider(Scripted.OtherRegion);

            var copies = await Task.WhenAll(Enumerable.Range(0, Copies).Select(i => target.CopySnapshotAsync(new CopySnapshotRequest(
                Scripted.Region, source.Id, ImmutableSortedDictionary<string, string>.Empty.Add("n", $"{i}"))))).WaitAsync(TimeSpan.FromSeconds(60));
            foreach (var copy in copies)
            {
                Assert.Equal(SnapshotState.Completed, (await target.WaitForCompletionAsync(copy.Id))!.State);
            }

            Assert.Equal(Copies, inProgressAtCopy.Count);
            Assert.Equal(20, inProgressAtCopy.Max());
            Assert.Equal(0, target.CopiesInProgress);
            Assert.All(copies, c => Assert.Equal(("vol-1", source.Id, Scripted.Region), (c.Tags["lifecycle:source-volume"], c.SourceSnapshotId, c.SourceRegion)));
        }
    }
}
