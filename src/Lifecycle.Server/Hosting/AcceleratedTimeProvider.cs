using System.Globalization;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// Test-only: a clock that runs <see cref="Factor"/> times faster than the real one from a fixed <see cref="Epoch"/>,
/// so that several server processes given the same epoch and factor share one accelerated time. At the epoch it reads
/// the real time; then <c>now = epoch + (real − epoch) · factor</c>. Timers and delays (<see cref="CreateTimer"/>, and
/// so <c>Task.Delay(t, provider)</c>) last <c>t / factor</c> real time, and timestamps advance <see cref="Factor"/>
/// times faster, so an elapsed time measured on this clock agrees with its <see cref="GetUtcNow"/>. Quartz reads its
/// "now" and arms its idle waits, misfire and cluster check-in timers through the container's
/// <see cref="TimeProvider"/>, so a minute cron fires every <c>60 / factor</c> real seconds.
/// Set by <see cref="Variable"/> (<c>EPOCH_UNIX_MSxFACTOR</c>); never in production.
/// </summary>
public sealed class AcceleratedTimeProvider : TimeProvider
{
    /// <summary>Test-only: <c>LIFECYCLE_TEST_CLOCK=1796558400000x5</c> (epoch in Unix milliseconds, factor).</summary>
    public const string Variable = "LIFECYCLE_TEST_CLOCK";

    /// <summary>The largest factor accepted: beyond it a second of real time skips more than ten minutes.</summary>
    public const double MaxFactor = 600;

    private readonly TimeProvider real;
    private readonly long timestampOrigin;

    public AcceleratedTimeProvider(DateTimeOffset epoch, double factor, TimeProvider? real = null)
    {
        if (!double.IsFinite(factor) || factor < 1 || factor > MaxFactor)
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"the factor must be between 1 and {MaxFactor}");
        }

        Epoch = epoch;
        Factor = factor;
        this.real = real ?? System;
        timestampOrigin = this.real.GetTimestamp();
    }

    /// <summary>The moment at which this clock and the real one agree.</summary>
    public DateTimeOffset Epoch { get; }

    /// <summary>How many times faster than real time this clock runs (1..<see cref="MaxFactor"/>).</summary>
    public double Factor { get; }

    public override TimeZoneInfo LocalTimeZone => real.LocalTimeZone;

    public override long TimestampFrequency => real.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => Epoch + Accelerate(real.GetUtcNow() - Epoch);

    public override long GetTimestamp() => timestampOrigin + (long)((real.GetTimestamp() - timestampOrigin) * Factor);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new ScaledTimer(real.CreateTimer(callback, state, ToReal(dueTime), ToReal(period)), this);

    /// <summary>
    /// The clock <paramref name="text"/> (the value of <see cref="Variable"/>) describes: <c>EPOCH_UNIX_MSxFACTOR</c>,
    /// e.g. <c>1796558400000x5</c>. Throws <see cref="ArgumentException"/> naming the variable for anything else.
    /// </summary>
    public static AcceleratedTimeProvider Parse(string text, TimeProvider? real = null)
    {
        var parts = text.Trim().Split('x');
        if (parts.Length != 2
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var epochMs)
            || !double.TryParse(parts[1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var factor)
            || epochMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            throw new ArgumentException($"{Variable}='{text}': expected EPOCH_UNIX_MSxFACTOR, e.g. 1796558400000x5", nameof(text));
        }

        if (factor < 1 || factor > MaxFactor)
        {
            throw new ArgumentException($"{Variable}='{text}': the factor must be between 1 and {MaxFactor}", nameof(text));
        }

        return new AcceleratedTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(epochMs), factor, real);
    }

    /// <summary>The value of <see cref="Variable"/> that describes this clock.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Epoch.ToUnixTimeMilliseconds()}x{Factor}");

    private TimeSpan Accelerate(TimeSpan realElapsed) => TimeSpan.FromTicks((long)(realElapsed.Ticks * Factor));

    /// <summary>A duration on this clock as real time (infinite stays infinite; a positive one stays at least a tick).</summary>
    private TimeSpan ToReal(TimeSpan duration) =>
        duration == Timeout.InfiniteTimeSpan || duration <= TimeSpan.Zero
            ? duration
            : TimeSpan.FromTicks(Math.Max(1, (long)(duration.Ticks / Factor)));

    /// <summary>A real timer whose <see cref="Change"/> takes durations on the accelerated clock.</summary>
    private sealed class ScaledTimer(ITimer inner, AcceleratedTimeProvider clock) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(clock.ToReal(dueTime), clock.ToReal(period));

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
