using Lifecycle.Core.Concurrency;

namespace Lifecycle.Core.Tests.Concurrency;

public class SharedReadTests
{
    /// <summary>A broken share (a read per caller, or a caller left behind) fails here instead of hanging the run.</summary>
    private static Task<T> Soon<T>(Task<T> task) => task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>A read whose every call waits until the test lets it finish, with the value or failure the test gives.</summary>
    private sealed class GatedReads
    {
        private readonly List<TaskCompletionSource<int>> calls = [];
        private readonly Lock sync = new();

        public int Count
        {
            get
            {
                lock (sync)
                {
                    return calls.Count;
                }
            }
        }

        public Task<int> ReadAsync(CancellationToken cancellationToken)
        {
            var call = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (sync)
            {
                calls.Add(call);
            }

            return call.Task;
        }

        public async Task<TaskCompletionSource<int>> CallAsync(int number)
        {
            while (true)
            {
                lock (sync)
                {
                    if (calls.Count >= number)
                    {
                        return calls[number - 1];
                    }
                }

                await Task.Delay(1);
            }
        }
    }

    /// <summary>A shared read with its first read in progress (not yet answered).</summary>
    private static async Task<(GatedReads Reads, SharedRead<int> Shared, Task<int> First, TaskCompletionSource<int> FirstRead)> StartAReadAsync()
    {
        var reads = new GatedReads();
        var shared = new SharedRead<int>(reads.ReadAsync);
        var first = shared.ReadAsync();
        return (reads, shared, first, await Soon(reads.CallAsync(1)));
    }

    [Fact]
    public async Task CallersWhoArriveDuringARead_ShareTheNextRead_AndNeverGetTheOlderValue()
    {
        var (reads, shared, first, firstRead) = await StartAReadAsync();
        var during = Enumerable.Range(0, 50).Select(_ => shared.ReadAsync()).ToList();

        firstRead.SetResult(1);
        Assert.Equal(1, await Soon(first));
        (await Soon(reads.CallAsync(2))).SetResult(2);

        Assert.All(await Soon(Task.WhenAll(during)), value => Assert.Equal(2, value));
        Assert.Equal(2, reads.Count);
    }

    [Fact]
    public async Task AFailedRead_FailsOnlyItsCallers_AndTheQueuedOnesGetANewRead()
    {
        var (reads, shared, first, firstRead) = await StartAReadAsync();
        var queued = shared.ReadAsync();

        firstRead.SetException(new InvalidOperationException("database is locked"));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        Assert.Equal("database is locked", error.Message);

        (await Soon(reads.CallAsync(2))).SetResult(7);
        Assert.Equal(7, await Soon(queued));

        // Nothing in progress now: the next caller starts a read of its own.
        var later = shared.ReadAsync();
        (await Soon(reads.CallAsync(3))).SetResult(8);
        Assert.Equal(8, await Soon(later));
    }

    [Fact]
    public async Task ACallerWhoStopsWaiting_DoesNotCancelTheReadOthersShare()
    {
        using var stop = new CancellationTokenSource();
        var (reads, shared, first, firstRead) = await StartAReadAsync();
        var leaving = shared.ReadAsync(stop.Token);
        var staying = shared.ReadAsync();

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);

        firstRead.SetResult(3);
        Assert.Equal(3, await Soon(first));
        (await Soon(reads.CallAsync(2))).SetResult(4);
        Assert.Equal(4, await Soon(staying));
        Assert.Equal(2, reads.Count);
    }
}
