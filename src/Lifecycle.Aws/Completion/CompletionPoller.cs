using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws.Completion;

/// <summary>
/// Completes the waiters of one region with ONE batched describe of all its pending snapshots per interval (EC2 has
/// no completion event): a run that starts 300 snapshots costs one DescribeSnapshots per interval, not 300. The first
/// check follows a new snapshot after <c>firstCheck</c>; an id unknown for longer than the eventual-consistency window
/// is gone (null). Snapshots the provider started are tracked even without a waiter, so the copy queue and the
/// pending-per-volume limit learn when they finish (<c>finished</c>).
/// <para>
/// Creates come first: a poll that falls due while the provider is starting snapshots (one started less than
/// <see cref="StartsQuiet"/> ago) waits until they pause, at most <see cref="MaxDeferral"/>, so a fire's burst of
/// creates is not slowed by describing and completing the ones already started (as the local engine defers its builds).
/// And a snapshot that finished within the last interval is answered at once, from that poll: the check that follows a
/// completion wait asks for the same id again, and a new poll could tell it nothing newer.
/// </para>
/// </summary>
internal sealed class CompletionPoller : IDisposable
{
    private readonly Func<IReadOnlyCollection<string>, CancellationToken, Task<IReadOnlyList<SnapshotInfo>>> describe;
    private readonly Action<string> finished;
    private readonly TimeProvider time;
    private readonly TimeSpan interval;
    private readonly TimeSpan firstCheck;
    private readonly TimeSpan consistencyWindow;
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (SnapshotInfo? Snapshot, DateTimeOffset At)> finishedRecently = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private TaskCompletionSource wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset nextPoll = DateTimeOffset.MaxValue;
    private DateTimeOffset lastStart = DateTimeOffset.MinValue;
    private Task? loop;

    public CompletionPoller(
        Func<IReadOnlyCollection<string>, CancellationToken, Task<IReadOnlyList<SnapshotInfo>>> describe, Action<string> finished, TimeProvider time,
        TimeSpan interval, TimeSpan firstCheck, TimeSpan consistencyWindow)
    {
        this.describe = describe;
        this.finished = finished;
        this.time = time;
        this.interval = interval;
        this.firstCheck = firstCheck;
        this.consistencyWindow = consistencyWindow;
    }

    /// <summary>A due poll waits until no snapshot was started for this long...</summary>
    public static readonly TimeSpan StartsQuiet = TimeSpan.FromMilliseconds(250);

    /// <summary>...but never longer than this past its time.</summary>
    public static readonly TimeSpan MaxDeferral = TimeSpan.FromSeconds(3);

    /// <summary>Number of describe calls made (for the provider's metrics and tests).</summary>
    public int Polls { get; private set; }

    /// <summary>Ids still being watched.</summary>
    public int Watching
    {
        get
        {
            lock (gate)
            {
                return entries.Count;
            }
        }
    }

    /// <summary>Starts watching a snapshot the provider just started (no waiter yet).</summary>
    public void Track(string snapshotId) => Add(snapshotId, null);

    /// <summary>The snapshot once it is no longer pending; null when it does not exist (past the consistency window).</summary>
    public Task<SnapshotInfo?> WaitAsync(string snapshotId, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource<SnapshotInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Add(snapshotId, waiter);
        return waiter.Task.WaitAsync(cancellationToken);
    }

    private void Add(string snapshotId, TaskCompletionSource<SnapshotInfo?>? waiter)
    {
        ObjectDisposedException.ThrowIf(stopping.IsCancellationRequested, this);
        lock (gate)
        {
            var now = time.GetUtcNow();
            if (waiter is null)
            {
                // A snapshot just started (Track): polls wait for the burst it may belong to.
                lastStart = now;
                finishedRecently.Remove(snapshotId);
            }
            else if (finishedRecently.TryGetValue(snapshotId, out var recent) && now - recent.At <= interval && !entries.ContainsKey(snapshotId))
            {
                waiter.TrySetResult(recent.Snapshot);
                return;
            }

            if (!entries.TryGetValue(snapshotId, out var entry))
            {
                entries[snapshotId] = entry = new Entry(now);
            }

            if (waiter is not null)
            {
                entry.Waiters.Add(waiter);
            }

            // A new id is checked soon (small snapshots finish in seconds), riding along with every other pending id.
            var first = now + firstCheck;
            if (first < nextPoll)
            {
                nextPoll = first;
                wake.TrySetResult();
            }

            loop ??= Task.Run(RunAsync);
        }
    }

    private async Task RunAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Task woken;
            TimeSpan wait;
            lock (gate)
            {
                if (entries.Count == 0)
                {
                    nextPoll = DateTimeOffset.MaxValue;
                    loop = null;
                    return;
                }

                woken = wake.Task;
                wait = DelayBeforePoll(time.GetUtcNow(), nextPoll, lastStart);
            }

            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.WhenAny(woken, Task.Delay(wait, time, stopping.Token)).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                lock (gate)
                {
                    if (woken.IsCompleted)
                    {
                        wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    if (DelayBeforePoll(time.GetUtcNow(), nextPoll, lastStart) > TimeSpan.Zero)
                    {
                        continue;
                    }
                }
            }

            await PollAsync().ConfigureAwait(false);
        }
    }

    private async Task PollAsync()
    {
        string[] ids;
        lock (gate)
        {
            ids = [.. entries.Keys];
            nextPoll = time.GetUtcNow() + interval;
        }

        IReadOnlyList<SnapshotInfo> found;
        try
        {
            Polls++;
            found = await describe(ids, stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return;
        }
        catch (ProviderException e) when (e.IsRetryable || e.Kind == ProviderErrorKind.RetryLater)
        {
            return; // throttled or a blip: the next interval asks again
        }
        catch (Exception e)
        {
            Fail(ids, e);
            return;
        }

        var byId = found.ToDictionary(s => s.Id, StringComparer.Ordinal);
        var now = time.GetUtcNow();
        var done = new List<(string Id, SnapshotInfo? Snapshot, List<TaskCompletionSource<SnapshotInfo?>> Waiters)>();
        lock (gate)
        {
            foreach (var stale in finishedRecently.Where(f => now - f.Value.At > interval).Select(f => f.Key).ToList())
            {
                finishedRecently.Remove(stale);
            }

            foreach (var id in ids)
            {
                if (!entries.TryGetValue(id, out var entry))
                {
                    continue;
                }

                if (byId.TryGetValue(id, out var snapshot))
                {
                    entry.Seen = true;
                    if (snapshot.State != SnapshotState.Pending)
                    {
                        entries.Remove(id);
                        finishedRecently[id] = (snapshot, now);
                        done.Add((id, snapshot, entry.Waiters));
                    }
                }
                else if (entry.Seen || now - entry.Since > consistencyWindow)
                {
                    // Seen before and now absent: deleted. Never seen past the window: it does not exist.
                    entries.Remove(id);
                    finishedRecently[id] = (null, now);
                    done.Add((id, null, entry.Waiters));
                }
            }
        }

        foreach (var (id, snapshot, waiters) in done)
        {
            finished(id);
            foreach (var waiter in waiters)
            {
                waiter.TrySetResult(snapshot);
            }
        }
    }

    private void Fail(string[] ids, Exception error)
    {
        var failed = new List<(string, List<TaskCompletionSource<SnapshotInfo?>>)>();
        lock (gate)
        {
            foreach (var id in ids)
            {
                if (entries.Remove(id, out var entry))
                {
                    failed.Add((id, entry.Waiters));
                }
            }
        }

        foreach (var (id, waiters) in failed)
        {
            finished(id);
            foreach (var waiter in waiters)
            {
                waiter.TrySetException(error);
            }
        }
    }

    public void Dispose()
    {
        stopping.Cancel();
        lock (gate)
        {
            foreach (var entry in entries.Values)
            {
                foreach (var waiter in entry.Waiters)
                {
                    waiter.TrySetCanceled();
                }
            }

            entries.Clear();
            finishedRecently.Clear();
        }
    }

    /// <summary>
    /// How long the loop still waits before polling: until the poll is due, and then while snapshots are being started
    /// (the last one less than <see cref="StartsQuiet"/> ago), at most <see cref="MaxDeferral"/> past its time.
    /// </summary>
    internal static TimeSpan DelayBeforePoll(DateTimeOffset now, DateTimeOffset due, DateTimeOffset lastStart)
    {
        if (due > now)
        {
            return due - now;
        }

        var quietAt = lastStart == DateTimeOffset.MinValue ? now : lastStart + StartsQuiet;
        var latest = due + MaxDeferral;
        var at = quietAt < latest ? quietAt : latest;
        return at > now ? at - now : TimeSpan.Zero;
    }

    private sealed class Entry(DateTimeOffset since)
    {
        public DateTimeOffset Since { get; } = since;

        public bool Seen { get; set; }

        public List<TaskCompletionSource<SnapshotInfo?>> Waiters { get; } = [];
    }
}
