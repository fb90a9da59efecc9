using Lifecycle.Server.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Lifecycle.Server.Tests;

public sealed class AcceleratedTimeProviderTests
{
    private static readonly DateTimeOffset Epoch = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Now_IsTheRealTimeAtTheEpoch_AndRunsFactorTimesFasterAfterIt()
    {
        var real = new FakeTimeProvider(Epoch);
        var clock = new AcceleratedTimeProvider(Epoch, 5, real);
        Assert.Equal(Epoch, clock.GetUtcNow());

        real.Advance(TimeSpan.FromSeconds(12));
        Assert.Equal(Epoch.AddMinutes(1), clock.GetUtcNow());
    }

    [Fact]
    public void TwoClocksStartedAtDifferentMoments_WithOneEpoch_ReadTheSameTime()
    {
        var real = new FakeTimeProvider(Epoch);
        var first = new AcceleratedTimeProvider(Epoch, 4, real);
        real.Advance(TimeSpan.FromSeconds(7));
        var second = new AcceleratedTimeProvider(Epoch, 4, real);
        real.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(Epoch.AddSeconds(40), first.GetUtcNow());
        Assert.Equal(first.GetUtcNow(), second.GetUtcNow());
    }

    [Fact]
    public async Task ADelayOfAnAcceleratedMinute_EndsAfterAFifthOfAMinuteOfRealTime()
    {
        var real = new FakeTimeProvider(Epoch);
        var clock = new AcceleratedTimeProvider(Epoch, 5, real);
        var delay = Task.Delay(TimeSpan.FromMinutes(1), clock);

        real.Advance(TimeSpan.FromSeconds(11.9));
        Assert.False(delay.IsCompleted, "the delay ended before 12 real seconds");
        real.Advance(TimeSpan.FromSeconds(0.1));
        await delay.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Epoch.AddMinutes(1), clock.GetUtcNow());
    }

    [Fact]
    public void ATimerChangedLater_TakesItsNewDueTimeAndPeriodOnTheAcceleratedClock()
    {
        var real = new FakeTimeProvider(Epoch);
        var clock = new AcceleratedTimeProvider(Epoch, 10, real);
        var ticks = 0;
        using var timer = clock.CreateTimer(_ => Interlocked.Increment(ref ticks), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        real.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, Volatile.Read(ref ticks));

        timer.Change(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(20));
        real.Advance(TimeSpan.FromSeconds(2.9));
        Assert.Equal(0, Volatile.Read(ref ticks));
        real.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(1, Volatile.Read(ref ticks));
        real.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(3, Volatile.Read(ref ticks));
    }

    [Fact]
    public void ElapsedTimeFromTimestamps_AgreesWithTheAcceleratedNow()
    {
        var real = new FakeTimeProvider(Epoch);
        var clock = new AcceleratedTimeProvider(Epoch, 6, real);
        var started = clock.GetTimestamp();
        var startedAt = clock.GetUtcNow();

        real.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(30), clock.GetElapsedTime(started));
        Assert.Equal(clock.GetUtcNow() - startedAt, clock.GetElapsedTime(started));
    }

    [Theory]
    [InlineData("1796558400000x5", 1796558400000, 5.0)]
    [InlineData(" 1796558400000x4.5 ", 1796558400000, 4.5)]
    [InlineData("0x1", 0, 1.0)]
    public void Parse_ReadsTheEpochInUnixMillisecondsAndTheFactor(string text, long epochMs, double factor)
    {
        var clock = AcceleratedTimeProvider.Parse(text);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(epochMs), clock.Epoch);
        Assert.Equal(factor, clock.Factor);
        Assert.Equal(clock.ToString(), AcceleratedTimeProvider.Parse(clock.ToString()).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("1796558400000")]
    [InlineData("1796558400000x")]
    [InlineData("x5")]
    [InlineData("-1x5")]
    [InlineData("1796558400000x0.5")]
    [InlineData("1796558400000x601")]
    [InlineData("1796558400000x5x2")]
    [InlineData("2026-12-06T12:00:00Zx5")]
    public void Parse_RefusesAnythingElse_NamingTheVariable(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => AcceleratedTimeProvider.Parse(text));
        Assert.Contains(AcceleratedTimeProvider.Variable, error.Message, StringComparison.Ordinal);
    }
}
