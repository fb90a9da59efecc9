using System.Collections.Concurrent;

namespace Lifecycle.Core.Concurrency;

/// <summary>
/// Group commit: items that arrive while a write is in progress are written together by the next writer, so a burst
/// of N small commits costs a few transactions (and fsyncs), not N turns at a single writer. Callers wait without
/// holding a thread, and <see cref="CommitAsync"/> returns once the caller's own item is written; a failed write fails
/// every item it carried.
/// </summary>
public sealed class GroupCommit<T>
{
    private readonly ConcurrentQueue<Pending> pending = new();
    private readonly SemaphoreSlim turn = new(1, 1);
    private readonly Func<IReadOnlyList<T>, CancellationToken, Task> write;

    /// <param name="write">Writes a batch in one transaction; called by one caller at a time.</param>
    public GroupCommit(Func<IReadOnlyList<T>, CancellationToken, Task> write) => this.write = write;

    public async Task CommitAsync(T item, CancellationToken cancellationToken = default)
    {
        var mine = new Pending(item);
        pending.Enqueue(mine);
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Unless a writer before us took ours along, we write everything waiting, ours included.
            if (!mine.Written.Task.IsCompleted)
            {
                var batch = new List<Pending>();
                while (pending.TryDequeue(out var next))
                {
                    batch.Add(next);
                }

                try
                {
                    await write([.. batch.Select(p => p.Item)], cancellationToken).ConfigureAwait(false);
                    batch.ForEach(p => p.Written.TrySetResult());
                }
                catch (Exception e)
                {
                    batch.ForEach(p => p.Written.TrySetException(e));
                }
            }
        }
        finally
        {
            turn.Release();
        }

        await mine.Written.Task.ConfigureAwait(false);
    }

    private sealed class Pending(T item)
    {
        public T Item { get; } = item;

        public TaskCompletionSource Written { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
