namespace Lifecycle.Core.Concurrency;

/// <summary>
/// A read that concurrent callers share: callers that arrive while a read is in progress are answered together by the
/// next read, which starts when it ends. Every caller gets a value read after it asked, never an older one, so a write
/// it saw finish is in its answer; a burst of N callers costs about two reads instead of N. A failed read fails the
/// callers it answers, and the next caller starts a new one.
/// </summary>
public sealed class SharedRead<T>
{
    private readonly Func<CancellationToken, Task<T>> read;
    private readonly Lock sync = new();

    /// <summary>The read in progress, if any.</summary>
    private Task<T>? running;

    /// <summary>The read that starts when <see cref="running"/> ends, shared by the callers who came during it.</summary>
    private Task<T>? queued;

    /// <param name="read">Reads the value; not cancelled by one caller, since others share it.</param>
    public SharedRead(Func<CancellationToken, Task<T>> read) => this.read = read;

    /// <summary>The value from a read that started after this call; <paramref name="cancellationToken"/> stops only this caller's wait.</summary>
    public Task<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        Task<T> mine;
        lock (sync)
        {
            if (running is null)
            {
                mine = running = RunAsync(null);
            }
            else
            {
                mine = queued ??= RunAsync(running);
            }
        }

        return mine.WaitAsync(cancellationToken);
    }

    private async Task<T> RunAsync(Task<T>? after)
    {
        // Off the caller's stack first, so the lock above is never held across a read.
        await Task.Yield();
        if (after is not null)
        {
            try
            {
                await after.ConfigureAwait(false);
            }
            catch
            {
                // its callers have its failure; this read is a new one
            }
        }

        try
        {
            return await read(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (sync)
            {
                // The queued read (started after this one ended) becomes the one in progress; callers from now on queue behind it.
                running = queued;
                queued = null;
            }
        }
    }
}
