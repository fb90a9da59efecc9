using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The product's rules for the one path from outside into the engine (/ec2): the newest completed
/// snapshot of a volume under a policy is never deleted (keepLatest), and no caller sets or removes a policy's
/// <c>lifecycle:</c> tags on an existing resource (only creates and copies carry them, as the scheduler sets them).
/// </summary>
internal static class SnapshotSafety
{
    /// <summary>The first <c>lifecycle:</c> key of <paramref name="keys"/>, or null.</summary>
    public static string? ReservedKey(IEnumerable<string> keys) =>
        keys.FirstOrDefault(k => k.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal));

    /// <summary>What retention groups a snapshot by: its source volume (the tag on a copy), else its volume id.</summary>
    public static string RetentionGroup(SnapshotInfo snapshot) =>
        snapshot.Tags.TryGetValue(OwnershipTags.SourceVolume, out var source) && source.Length > 0 ? source : snapshot.VolumeId;

    /// <summary>
    /// Throws <see cref="ProviderErrorKind.IncorrectState"/> (<paramref name="code"/>) when <paramref name="snapshot"/>
    /// is the newest completed snapshot of its retention group among those carrying <c>lifecycle:policy=</c><paramref name="policy"/>.
    /// </summary>
    public static async Task EnsureNotNewestAsync(ISnapshotProvider provider, SnapshotInfo snapshot, string policy, string code, CancellationToken cancellationToken)
    {
        // Only the group's members are read, not all the policy's snapshots (a follow-up deleting 50 snapshots of a
        // policy that keeps 100 of 50 volumes read 5,000 snapshots and their tags per delete): its copies, tagged with
        // the group's source volume, and the snapshots of the group's volume.
        var group = RetentionGroup(snapshot);
        var copies = await provider.DescribeSnapshotsAsync(new SnapshotQuery
        {
            Tags = new TagFilter(ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal)
                .Add(OwnershipTags.Policy, [policy]).Add(OwnershipTags.SourceVolume, [group])),
        }, cancellationToken).ConfigureAwait(false);
        var ofTheVolume = await provider.DescribeSnapshotsAsync(new SnapshotQuery { VolumeIds = [group], Tags = TagFilter.Key(OwnershipTags.Policy, policy) },
            cancellationToken).ConfigureAwait(false);
        var newest = copies.Concat(ofTheVolume).DistinctBy(s => s.Id, StringComparer.Ordinal)
            .Where(s => s.State == SnapshotState.Completed && RetentionGroup(s) == group).MaxBy(s => s.StartTime);
        if (newest?.Id == snapshot.Id)
        {
            throw ProviderException.IncorrectState(code,
                $"snapshot {snapshot.Id} is the newest completed snapshot of {group} under policy '{policy}' (keepLatest); it is not deleted");
        }
    }
}
