using Lifecycle.Server.Hosting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// An accelerated clock for one test: the servers started with <see cref="Environment"/> share it
/// (<c>LIFECYCLE_TEST_CLOCK</c>, see <see cref="AcceleratedTimeProvider"/>), and the test reads the same time with
/// <see cref="Now"/>, so minute schedules fire every <c>60 / factor</c> real seconds and the test still counts in
/// the servers' minutes. The epoch is the moment the clock is made.
/// </summary>
public sealed class TestClock
{
    private readonly AcceleratedTimeProvider clock;

    public TestClock(double factor)
    {
        // Whole milliseconds: the servers read the epoch back from the variable, and must agree with the test exactly.
        var epoch = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        clock = new AcceleratedTimeProvider(epoch, factor);
    }

    public double Factor => clock.Factor;

    /// <summary>The servers' time.</summary>
    public DateTimeOffset Now => clock.GetUtcNow();

    /// <summary>The environment that puts a server on this clock.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { [AcceleratedTimeProvider.Variable] = clock.ToString() };

    /// <summary>How much real time <paramref name="duration"/> on this clock takes.</summary>
    public TimeSpan Real(TimeSpan duration) => duration / Factor;

    /// <summary>The start of the minute <paramref name="moment"/> is in.</summary>
    public static DateTimeOffset Minute(DateTimeOffset moment) => new(moment.Year, moment.Month, moment.Day, moment.Hour, moment.Minute, 0, TimeSpan.Zero);

    /// <summary>
    /// Waits until this clock reads <paramref name="moment"/>, calling <paramref name="meanwhile"/> about every
    /// <paramref name="interval"/> of real time (it checks that the servers still run).
    /// </summary>
    public async Task UntilAsync(DateTimeOffset moment, Action? meanwhile = null, TimeSpan? interval = null)
    {
        var step = interval ?? TimeSpan.FromMilliseconds(250);
        while (Now < moment)
        {
            meanwhile?.Invoke();
            var left = Real(moment - Now);
            await Task.Delay(left < step ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : step);
        }

        meanwhile?.Invoke();
    }
}
