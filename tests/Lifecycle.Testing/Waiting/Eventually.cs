using System.Diagnostics;
using System.Globalization;
using Xunit.Sdk;

namespace Lifecycle.Testing.Waiting;

/// <summary>
/// Condition waits: poll until something observable holds, or fail at a deadline saying what was awaited. Use it
/// instead of "sleep, then assert": a sleep is too short on a loaded machine and too long everywhere else. The
/// condition is asked at once, then every <c>interval</c>; an exception it throws ends the wait (a real failure is
/// not retried into a timeout). The deadline is on the real, monotonic clock.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(100);

    /// <param name="condition">What must come to hold.</param>
    /// <param name="what">What is awaited, as the failure should name it ("the second run to be recorded").</param>
    /// <param name="timeout">How long to wait (default <see cref="DefaultTimeout"/>).</param>
    /// <param name="interval">Between polls (default <see cref="DefaultInterval"/>).</param>
    /// <param name="describe">What was seen instead, asked once at the deadline for the failure message.</param>
    public static Task UntilAsync(
        Func<bool> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null, Func<string>? describe = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return UntilAsync(() => Task.FromResult(condition()), what, timeout, interval, describe, cancellationToken);
    }

    /// <inheritdoc cref="UntilAsync(Func{bool}, string, TimeSpan?, TimeSpan?, Func{string}?, CancellationToken)"/>
    public static async Task UntilAsync(
        Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null, Func<string>? describe = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        await UntilAsync(condition, done => done, what, timeout, interval, _ => describe?.Invoke(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="done"/> holds for what it returned, and returns that value
    /// (so the assertions that follow look at the state the wait saw). At the deadline the failure shows the last value.
    /// </summary>
    public static async Task<T> UntilAsync<T>(
        Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null, TimeSpan? interval = null,
        Func<T, string?>? describe = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(done);
        ArgumentException.ThrowIfNullOrWhiteSpace(what);
        var limit = timeout ?? DefaultTimeout;
        var pause = interval ?? DefaultInterval;
        var clock = Stopwatch.StartNew();
        var polls = 0;
        while (true)
        {
            var value = await probe().ConfigureAwait(false);
            polls++;
            if (done(value))
            {
                return value;
            }

            if (clock.Elapsed >= limit)
            {
                var seen = describe is null ? value?.ToString() : describe(value);
                throw new EventuallyTimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"waited {limit.TotalSeconds:0.###} s ({polls} polls) for {what}, and it did not happen{(string.IsNullOrEmpty(seen) ? "" : "; last seen: " + seen)}"));
            }

            var left = limit - clock.Elapsed;
            await Task.Delay(left < pause ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : pause, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>A condition wait reached its deadline; the message names what was awaited and what was seen last.</summary>
public sealed class EventuallyTimeoutException(string message) : XunitException(message);
