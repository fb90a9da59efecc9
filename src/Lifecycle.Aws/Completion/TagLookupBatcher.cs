using System.Collections.Immutable;
using Lifecycle.Core.Inventory;

namespace Lifecycle.Aws.Completion;

/// <summary>
/// Joins the describes of one region that each ask for the snapshots carrying one value of one tag (the executor's
/// <c>lifecycle:token</c> lookup before every create and copy: one per create of a fire) into one DescribeSnapshots
/// with up to <see cref="Mapping.Ec2Mapping.FilterValueLimit"/> values of that tag's filter, and hands each caller the
/// snapshots with its value. A lookup never waits for a timer: the first goes out at once, and those that arrive while
/// a call is out go together in the next one. A fire of 1,000 creates costs tens of describes instead of 1,000
/// (fewer round trips, and fewer requests against EC2's describe rate limit).
/// </summary>
internal sealed class TagLookupBatcher : IDisposable
{
    private readonly Func<string, IReadOnlyList<string>, CancellationToken, Task<ImmutableArray<SnapshotInfo>>> describe;
    private readonly int maxValues;
    private readonly Lock gate = new();
    private readonly List<Lookup> queued = [];
    private readonly CancellationTokenSource stopping = new();
    private readonly CancellationToken stopped;
    private bool sending;

    /// <param name="describe">One describe of the snapshots whose tag (first argument) has any of the values.</param>
    public TagLookupBatcher(Func<string, IReadOnlyList<string>, CancellationToken, Task<ImmutableArray<SnapshotInfo>>> describe, int maxValues)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxValues, 1);
        this.describe = describe;
        this.maxValues = maxValues;
        stopped = stopping.Token;
    }

    /// <summary>The snapshots whose tag <paramref name="key"/> is exactly <paramref name="value"/>.</summary>
    public Task<ImmutableArray<SnapshotInfo>> LookupAsync(string key, string value, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(stopped.IsCancellationRequested, this);
        var lookup = new Lookup(key, value);
        bool start;
        lock (gate)
        {
            queued.Add(lookup);
            start = !sending;
            sending = true;
        }

        if (start)
        {
            _ = Task.Run(SendAsync, CancellationToken.None);
        }

        return lookup.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Sends what is queued, one call at a time, until nothing is left; one key per call.</summary>
    private async Task SendAsync()
    {
        while (true)
        {
            List<Lookup> batch;
            lock (gate)
            {
                if (queued.Count == 0)
                {
                    sending = false;
                    return;
                }

                var key = queued[0].Key;
                var values = new HashSet<string>(StringComparer.Ordinal);
                batch = [];
                foreach (var lookup in queued)
                {
                    if (string.Equals(lookup.Key, key, StringComparison.Ordinal) && (values.Contains(lookup.Value) || values.Count < maxValues))
                    {
                        values.Add(lookup.Value);
                        batch.Add(lookup);
                    }
                }

                queued.RemoveAll(batch.Contains);
            }

            try
            {
                var key = batch[0].Key;
                var found = await describe(key, [.. batch.Select(l => l.Value).Distinct(StringComparer.Ordinal)], stopped).ConfigureAwait(false);
                var byValue = found.Where(s => s.Tags.ContainsKey(key)).ToLookup(s => s.Tags[key], StringComparer.Ordinal);
                foreach (var lookup in batch)
                {
                    lookup.Result.TrySetResult([.. byValue[lookup.Value]]);
                }
            }
            catch (Exception e)
            {
                // Every caller of the call sees its error (a throttle, an outage) and retries as it would have alone.
                foreach (var lookup in batch)
                {
                    lookup.Result.TrySetException(e);
                }
            }
        }
    }

    public void Dispose()
    {
        stopping.Cancel();
        lock (gate)
        {
            foreach (var lookup in queued)
            {
                lookup.Result.TrySetCanceled();
            }

            queued.Clear();
        }

        stopping.Dispose();
    }

    private sealed class Lookup(string key, string value)
    {
        public string Key { get; } = key;

        public string Value { get; } = value;

        public TaskCompletionSource<ImmutableArray<SnapshotInfo>> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
