using Lifecycle.Aws.Errors;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws.Limits;

/// <summary>
/// EC2's per-volume create limits, kept in the provider so a run does not learn them from errors: at least
/// <c>minimumInterval</c> between two CreateSnapshot calls of one volume (the provider waits, it is seconds), and at
/// most <c>maxPending</c> snapshots of one volume pending (refused with RetryLater: the wait may be long).
/// </summary>
internal sealed class VolumeCreateGate(TimeProvider time, TimeSpan minimumInterval, int maxPending, TimeSpan retryAfter)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, DateTimeOffset> nextAllowed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> pending = new(StringComparer.Ordinal);

    /// <summary>
    /// Reserves the next create slot of each volume (waiting for the interval); throws RetryLater when a volume has
    /// too many pending snapshots. All volumes of one multi-volume create reserve together.
    /// </summary>
    public async Task ReserveAsync(IReadOnlyCollection<string> volumeIds, CancellationToken cancellationToken)
    {
        while (true)
        {
            TimeSpan wait;
            lock (gate)
            {
                foreach (var volumeId in volumeIds)
                {
                    if (pending.TryGetValue(volumeId, out var ids) && ids.Count >= maxPending)
                    {
                        throw Ec2Errors.Create(ProviderErrorKind.RetryLater, "PendingSnapshotLimitExceeded",
                            $"volume {volumeId} has {ids.Count} pending snapshots (limit {maxPending})", retryAfter: retryAfter);
                    }
                }

                var now = time.GetUtcNow();
                var latest = volumeIds.Select(v => nextAllowed.GetValueOrDefault(v, DateTimeOffset.MinValue)).DefaultIfEmpty(DateTimeOffset.MinValue).Max();
                wait = latest - now;
                if (wait <= TimeSpan.Zero)
                {
                    foreach (var volumeId in volumeIds)
                    {
                        nextAllowed[volumeId] = now + minimumInterval;
                    }

                    return;
                }
            }

            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>EC2 said the volume was snapshotted too recently (another process): push its next slot out.</summary>
    public void Refused(string volumeId)
    {
        lock (gate)
        {
            nextAllowed[volumeId] = time.GetUtcNow() + minimumInterval;
        }
    }

    public void Started(string volumeId, string snapshotId)
    {
        lock (gate)
        {
            if (!pending.TryGetValue(volumeId, out var ids))
            {
                pending[volumeId] = ids = new HashSet<string>(StringComparer.Ordinal);
            }

            ids.Add(snapshotId);
        }
    }

    public void Finished(string snapshotId)
    {
        lock (gate)
        {
            foreach (var (volumeId, ids) in pending)
            {
                if (ids.Remove(snapshotId) && ids.Count == 0)
                {
                    pending.Remove(volumeId);
                    return;
                }
            }
        }
    }
}
