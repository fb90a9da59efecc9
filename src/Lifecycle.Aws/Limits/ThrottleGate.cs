namespace Lifecycle.Aws.Limits;

/// <summary>
/// The region's own backoff for RequestLimitExceeded. EC2 throttles per account and region, so one throttled call
/// slows every call of the region: after a throttle, calls wait until <c>notBefore</c>; the penalty doubles per throttle
/// (with jitter, capped) and halves per success. Unlike the SDK's retry quota this is per region, never process-wide,
/// and it delays calls instead of failing them at their first attempt.
/// </summary>
internal sealed class ThrottleGate(TimeProvider time, TimeSpan baseDelay, TimeSpan maxDelay)
{
    private readonly Lock gate = new();
    private TimeSpan penalty = TimeSpan.Zero;
    private DateTimeOffset notBefore = DateTimeOffset.MinValue;

    /// <summary>The current penalty (zero when the region is not throttled).</summary>
    public TimeSpan Penalty
    {
        get
        {
            lock (gate)
            {
                return penalty;
            }
        }
    }

    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (gate)
        {
            wait = notBefore - time.GetUtcNow();
        }

        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Records a throttle; returns how long the region now waits.</summary>
    public TimeSpan OnThrottled()
    {
        lock (gate)
        {
            penalty = penalty == TimeSpan.Zero ? baseDelay : TimeSpan.FromTicks(Math.Min(maxDelay.Ticks, penalty.Ticks * 2));
            // Full jitter between half and all of the penalty keeps waiting callers from returning in one burst.
            var wait = TimeSpan.FromTicks((long)(penalty.Ticks * (0.5 + (Random.Shared.NextDouble() / 2))));
            var until = time.GetUtcNow() + wait;
            if (until > notBefore)
            {
                notBefore = until;
            }

            return wait;
        }
    }

    public void OnSuccess()
    {
        lock (gate)
        {
            if (penalty != TimeSpan.Zero)
            {
                var half = TimeSpan.FromTicks(penalty.Ticks / 2);
                penalty = half < baseDelay ? TimeSpan.Zero : half;
            }
        }
    }
}
