using System.Collections.Immutable;
using System.Xml;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.Server.Hosting;

namespace Lifecycle.Server.Ec2;

internal sealed partial class Ec2Operations
{
    private static readonly string[] SnapshotFilters = ["snapshot-id", "volume-id", "status", "storage-tier", "tag:KEY", "tag-key", "owner-id"];

    /// <summary>Rows per engine page when a describe without MaxResults returns everything.</summary>
    private const int DescribeAllPageSize = 1000;

    private async Task CreateSnapshotAsync(Ec2Call call, XmlWriter xml)
    {
        var volumeId = VolumeId(call.P.Required("VolumeId"), "VolumeId");
        var tags = call.P.TagSpecifications("snapshot");
        var description = Description(call);
        // Checked before a dry run answers, as EC2 does; from the engine's memory, not a describe of the volume.
        if (!call.RegionExists || !call.Engine.HasVolume(volumeId))
        {
            throw VolumeNotFound(volumeId);
        }

        call.StopIfDryRun();
        var snapshot = await call.Engine.CreateSnapshotAsync(new CreateSnapshotRequest(volumeId, tags, description), call.CancellationToken).ConfigureAwait(false);
        xml.Snapshot(snapshot, call.AccountId);
    }

    private async Task CreateSnapshotsAsync(Ec2Call call, XmlWriter xml)
    {
        var instanceId = InstanceId(call.P.Required("InstanceSpecification.InstanceId"), "InstanceSpecification.InstanceId");
        var excludeBoot = call.P.Bool("InstanceSpecification.ExcludeBootVolume") ?? false;
        var excluded = call.P.List("InstanceSpecification.ExcludeDataVolumeId").Select(v => VolumeId(v, "InstanceSpecification.ExcludeDataVolumeId")).ToImmutableArray();
        var tags = call.P.TagSpecifications("snapshot");
        var description = Description(call);
        var copyTags = call.P.String("CopyTagsFromSource") switch
        {
            null => false,
            "volume" => true,
            var other => throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(other)}) for parameter CopyTagsFromSource is invalid: the only value is 'volume'"),
        };
        var attached = call.RegionExists
            ? (await call.Engine.DescribeVolumesAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false)).Where(v => v.InstanceId == instanceId).ToList()
            : [];
        if (attached.Count == 0)
        {
            throw new Ec2Error("InvalidInstanceID.NotFound", $"The instance ID '{instanceId}' does not exist (no volume is attached to it in {call.Region})");
        }

        call.StopIfDryRun();
        var snapshots = await call.Engine.CreateSnapshotsAsync(new CreateSnapshotsRequest(instanceId, tags, excludeBoot, excluded, description), call.CancellationToken).ConfigureAwait(false);
        if (copyTags)
        {
            // The volume's own tags, under those the request set; never a policy's lifecycle: tags.
            var byVolume = attached.ToDictionary(v => v.Id, StringComparer.Ordinal);
            var copied = new List<SnapshotInfo>();
            foreach (var snapshot in snapshots)
            {
                var extra = byVolume[snapshot.VolumeId].Tags
                    .Where(t => !tags.ContainsKey(t.Key) && !t.Key.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal))
                    .ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
                if (extra.Count > 0)
                {
                    await call.Engine.CreateTagsAsync(snapshot.Id, extra, call.CancellationToken).ConfigureAwait(false);
                }

                copied.Add(snapshot with { Tags = snapshot.Tags.SetItems(extra) });
            }

            snapshots = [.. copied];
        }

        xml.List("snapshotSet", snapshots, (x, s) => x.Snapshot(s, call.AccountId, snapshotInfoShape: true));
    }

    private async Task DescribeSnapshotsAsync(Ec2Call call, XmlWriter xml)
    {
        var ids = call.P.List("SnapshotId").Select(id => SnapshotId(id, "SnapshotId")).Distinct(StringComparer.Ordinal).ToImmutableArray();
        var owners = call.P.List("Owner");
        call.P.List("RestorableBy"); // checked, then ignored: nothing is shared with other accounts here
        var max = MaxResults(call, 5, 1000, !ids.IsEmpty, "SnapshotId");
        var after = DecodeToken(call, "DescribeSnapshots");
        var query = SnapshotQueryOf(call, ids, out var matchesNothing);
        if (owners.Length > 0 && !owners.Any(o => o == "self" || o == call.AccountId))
        {
            matchesNothing = true; // other accounts' and Amazon's snapshots: none here
        }

        call.StopIfDryRun();
        if (!ids.IsEmpty && call.RegionExists)
        {
            var found = await call.Engine.DescribeSnapshotsPageAsync(new SnapshotPageQuery { SnapshotIds = ids, Limit = ids.Length }, call.CancellationToken).ConfigureAwait(false);
            var missing = ids.Except(found.Snapshots.Select(s => s.Id), StringComparer.Ordinal).FirstOrDefault();
            if (missing is not null)
            {
                throw new Ec2Error("InvalidSnapshot.NotFound", $"The snapshot '{missing}' does not exist.");
            }
        }
        else if (!ids.IsEmpty)
        {
            throw new Ec2Error("InvalidSnapshot.NotFound", $"The snapshot '{ids[0]}' does not exist.");
        }

        xml.WriteStartElement("snapshotSet", Ec2Xml.Namespace);
        string? next = null;
        if (!matchesNothing && call.RegionExists)
        {
            var cursor = after;
            while (true)
            {
                var page = await call.Engine.DescribeSnapshotsPageAsync(query with { AfterId = cursor, Limit = max ?? DescribeAllPageSize }, call.CancellationToken).ConfigureAwait(false);
                foreach (var snapshot in page.Snapshots)
                {
                    xml.WriteStartElement("item", Ec2Xml.Namespace);
                    xml.Snapshot(snapshot, call.AccountId);
                    xml.WriteEndElement();
                }

                if (!page.HasMore || page.Snapshots.IsEmpty)
                {
                    break;
                }

                cursor = page.Snapshots[^1].Id;
                if (max is not null)
                {
                    next = EncodeToken("DescribeSnapshots", cursor);
                    break;
                }
            }
        }

        xml.WriteEndElement();
        NextToken(xml, next);
    }

    /// <summary>The engine query of DescribeSnapshots' ids and filters; <paramref name="matchesNothing"/> when a filter excludes every snapshot here.</summary>
    private static SnapshotPageQuery SnapshotQueryOf(Ec2Call call, ImmutableArray<string> ids, out bool matchesNothing)
    {
        matchesNothing = false;
        var tags = ImmutableSortedDictionary.CreateBuilder<string, ImmutableArray<string>>(StringComparer.Ordinal);
        var query = new SnapshotPageQuery { SnapshotIds = ids };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var filter in call.P.Filters())
        {
            if (!seen.Add(filter.Name))
            {
                throw Ec2Error.InvalidParameterCombination($"The filter '{Ec2Parameters.Shorten(filter.Name)}' is given more than once; list its values in one filter");
            }

            switch (filter.Name)
            {
                case "snapshot-id":
                    var filterIds = filter.Values.Select(v => SnapshotId(v, "Filter snapshot-id")).ToImmutableArray();
                    var combined = ids.IsEmpty ? filterIds : [.. ids.Intersect(filterIds, StringComparer.Ordinal)];
                    matchesNothing |= combined.IsEmpty;
                    query = query with { SnapshotIds = combined };
                    break;
                case "volume-id":
                    query = query with { VolumeIds = [.. filter.Values] };
                    break;
                case "status":
                    query = query with
                    {
                        States = [.. filter.Values.Select(v => v switch
                        {
                            "pending" => SnapshotState.Pending,
                            "completed" => SnapshotState.Completed,
                            "error" => SnapshotState.Error,
                            "recoverable" or "recovering" => SnapshotState.Recoverable, // never on this engine
                            _ => throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(v)}) for filter status is invalid: pending, completed, error, recoverable, recovering"),
                        })],
                    };
                    query = query with { States = [.. query.States.Where(s => s != SnapshotState.Recoverable)] };
                    matchesNothing |= query.States.IsEmpty;
                    break;
                case "storage-tier":
                    query = query with
                    {
                        Tiers = [.. filter.Values.Select(v => v switch
                        {
                            "archive" => StorageTier.Archive,
                            "standard" => StorageTier.Standard,
                            _ => throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(v)}) for filter storage-tier is invalid: archive, standard"),
                        })],
                    };
                    break;
                case "tag-key":
                    query = query with { AnyTagKeys = [.. filter.Values] };
                    break;
                case "owner-id":
                    matchesNothing |= !filter.Values.Contains(call.AccountId);
                    break;
                case var name when name.StartsWith("tag:", StringComparison.Ordinal) && name.Length > 4:
                    tags[name[4..]] = filter.Values;
                    break;
                default:
                    throw UnknownFilter(filter, SnapshotFilters);
            }
        }

        return tags.Count > 0 ? query with { Tags = new TagFilter(tags.ToImmutable()) } : query;
    }

    private async Task DeleteSnapshotAsync(Ec2Call call, XmlWriter xml)
    {
        var snapshotId = SnapshotId(call.P.Required("SnapshotId"), "SnapshotId");
        var snapshot = await FindSnapshotAsync(call, snapshotId).ConfigureAwait(false);
        if (snapshot.Tags.TryGetValue(OwnershipTags.Policy, out var policy))
        {
            try
            {
                await SnapshotSafety.EnsureNotNewestAsync(call.Engine, snapshot, policy, "OperationNotPermitted", call.CancellationToken).ConfigureAwait(false);
            }
            catch (ProviderException e)
            {
                throw new Ec2Error("OperationNotPermitted", e.Message);
            }
        }

        call.StopIfDryRun();

        // EC2 deletes an archived snapshot before its 90 days (and bills the rest), so the minimum is not enforced
        // here; the engine's own delete still applies the recycle-bin rules.
        await call.Engine.DeleteSnapshotAsync(snapshotId, force: true, call.CancellationToken).ConfigureAwait(false);
        xml.Element("return", true);
    }

    private async Task CopySnapshotAsync(Ec2Call call, XmlWriter xml)
    {
        var sourceRegion = call.P.Required("SourceRegion");
        var sourceId = SnapshotId(call.P.Required("SourceSnapshotId"), "SourceSnapshotId");
        var destination = call.P.String("DestinationRegion");
        if (destination is not null && destination != call.Region)
        {
            throw Ec2Error.InvalidParameterValue(
                $"Value ({Ec2Parameters.Shorten(destination)}) for parameter DestinationRegion is invalid: a copy lands in the region the request is sent to ({call.Region})");
        }

        var encrypted = call.P.Bool("Encrypted") ?? false;
        var keyId = call.P.String("KmsKeyId");
        if (keyId is not null && !Engine.KeyRing.KeyIds.Contains(keyId))
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(keyId)}) for parameter KmsKeyId is invalid: not a key of the engine's key ring");
        }

        var tags = call.P.TagSpecifications("snapshot");
        var description = Description(call);
        if (!Engine.Regions.Contains(sourceRegion, StringComparer.Ordinal))
        {
            throw new Ec2Error("InvalidSnapshot.NotFound", $"The snapshot '{sourceId}' does not exist in the source region '{Ec2Parameters.Shorten(sourceRegion)}'.");
        }

        call.StopIfDryRun();
        var copy = await call.Engine.CopySnapshotAsync(new CopySnapshotRequest(sourceRegion, sourceId, tags, encrypted, keyId, description), call.CancellationToken).ConfigureAwait(false);
        xml.Element("snapshotId", copy.Id);
        xml.TagSet(copy.Tags);
    }

    /// <summary>A live snapshot of the call's region, or EC2's InvalidSnapshot.NotFound.</summary>
    private static async Task<SnapshotInfo> FindSnapshotAsync(Ec2Call call, string snapshotId)
    {
        if (call.RegionExists)
        {
            var page = await call.Engine.DescribeSnapshotsPageAsync(new SnapshotPageQuery { SnapshotIds = [snapshotId], Limit = 1 }, call.CancellationToken).ConfigureAwait(false);
            if (!page.Snapshots.IsEmpty)
            {
                return page.Snapshots[0];
            }
        }

        throw new Ec2Error("InvalidSnapshot.NotFound", $"The snapshot '{snapshotId}' does not exist.");
    }
}
