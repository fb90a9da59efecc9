using System.Collections.Concurrent;
using System.Collections.Immutable;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws.Tests.Support;

/// <summary>An EC2 call as sent, with the tags its existing target resources had at that moment (null: no such resource).</summary>
public sealed record RecordedCall(Ec2Call Call, IReadOnlyDictionary<string, ImmutableSortedDictionary<string, string>?> ResourceTags);

/// <summary>
/// Records every EC2 request on its way to the endpoint, looking up the current tags of the snapshots and volumes it
/// targets in the in-process engine first (what IAM's ec2:ResourceTag would see).
/// </summary>
public sealed class CallRecorder(LocalEngine.LocalEngine engine, ConcurrentQueue<RecordedCall> calls) : DelegatingHandler
{
    private static readonly string[] TargetParameters = ["SnapshotId", "SourceSnapshotId", "VolumeId", "SourceSnapshotId.1"];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var call = await Ec2Call.ReadAsync(request, cancellationToken).ConfigureAwait(false);
        var region = call.Action == "CopySnapshot" ? call.Parameters.GetValueOrDefault("SourceRegion", call.Region) : call.Region;
        var targets = TargetParameters.Select(p => call.Parameters.GetValueOrDefault(p)).Concat(call.Values("ResourceId."))
            .Where(id => !string.IsNullOrEmpty(id)).Distinct(StringComparer.Ordinal).ToList();
        var tags = new Dictionary<string, ImmutableSortedDictionary<string, string>?>(StringComparer.Ordinal);
        foreach (var id in targets)
        {
            tags[id!] = await TagsOfAsync(id!.StartsWith("snap-", StringComparison.Ordinal) && call.Action == "CopySnapshot" ? region : call.Region, id, cancellationToken).ConfigureAwait(false);
        }

        calls.Enqueue(new RecordedCall(call, tags));
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ImmutableSortedDictionary<string, string>?> TagsOfAsync(string region, string id, CancellationToken cancellationToken)
    {
        if (!engine.Regions.Contains(region))
        {
            return null;
        }

        var local = engine.Region(region);
        if (id.StartsWith("snap-", StringComparison.Ordinal))
        {
            var found = await local.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [id] }, cancellationToken).ConfigureAwait(false);
            if (found.FirstOrDefault() is { } snapshot)
            {
                return snapshot.Tags;
            }

            // In the recycle bin: its tags are kept with it.
            var binned = (await local.ListSnapshotsInRecycleBinAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(e => e.Snapshot.Id == id);
            return binned?.Snapshot.Tags;
        }

        var volumes = await local.DescribeVolumesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        return volumes.FirstOrDefault(v => v.Id == id)?.Tags;
    }
}
