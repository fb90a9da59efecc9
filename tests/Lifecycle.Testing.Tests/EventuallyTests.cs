using System.Diagnostics;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.Testing.Tests;

public class EventuallyTests
{
    [Fact]
    public async Task UntilAsync_Returns_AsSoonAsTheConditionHolds()
    {
        var polls = 0;
        var clock = Stopwatch.StartNew();
        await Eventually.UntilAsync(() => ++polls == 3, "the third poll", timeout: TimeSpan.FromSeconds(10), interval: TimeSpan.FromMilliseconds(10));
        Assert.Equal(3, polls);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task UntilAsync_FailsAtTheDeadline_NamingWhatItAwaitedAndWhatItSaw()
    {
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<EventuallyTimeoutException>(() => Eventually.UntilAsync(
            () => false, "the queue to drain", timeout: TimeSpan.FromMilliseconds(300), interval: TimeSpan.FromMilliseconds(20), describe: () => "3 left"));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(300), $"gave up after {clock.Elapsed}");
        Assert.Contains("for the queue to drain", error.Message, StringComparison.Ordinal);
        Assert.Contains("last seen: 3 left", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UntilAsync_WithAProbe_ReturnsTheValueThatSatisfiedIt_AndShowsTheLastValueOnFailure()
    {
        var next = 0;
        var value = await Eventually.UntilAsync(() => Task.FromResult(++next), n => n >= 4, "four", interval: TimeSpan.FromMilliseconds(1));
        Assert.Equal(4, value);

        var error = await Assert.ThrowsAsync<EventuallyTimeoutException>(() => Eventually.UntilAsync(
            () => Task.FromResult("pending"), s => s == "completed", "the snapshot to complete", timeout: TimeSpan.FromMilliseconds(50)));
        Assert.Contains("last seen: pending", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UntilAsync_LetsAnExceptionOfTheConditionThrough_InsteadOfWaitingOutTheDeadline()
    {
        Func<bool> exited = () => throw new InvalidOperationException("the server exited");
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<InvalidOperationException>(() => Eventually.UntilAsync(exited, "anything", timeout: TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }
}
