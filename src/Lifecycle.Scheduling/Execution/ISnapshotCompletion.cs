using Lifecycle.Core.Inventory;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// Optional capability of a provider: wait for a pending snapshot without polling DescribeSnapshots (the local
/// engine knows when its background build ends). Returns the final state, or null when the snapshot is gone.
/// Providers without it (EC2) are polled.
/// </summary>
public interface ISnapshotCompletion
{
    Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default);
}
