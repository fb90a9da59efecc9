using System.Xml;
using Lifecycle.Core.Planning;
using Lifecycle.LocalEngine;
using Lifecycle.Server.Hosting;

namespace Lifecycle.Server.Ec2;

internal sealed partial class Ec2Operations
{
    private static readonly string[] TagFilters = ["key", "value", "resource-id", "resource-type"];

    /// <summary>
    /// Adds or overwrites tags. A policy's <c>lifecycle:</c> tags are refused on existing resources (they are set only
    /// at create and copy, by TagSpecifications); every resource is checked before any is tagged.
    /// </summary>
    private async Task CreateTagsAsync(Ec2Call call, XmlWriter xml)
    {
        var tags = call.P.Tags("Tag", requireValue: true);
        if (tags.IsEmpty)
        {
            throw Ec2Error.MissingParameter("Tag.1.Key");
        }

        RefuseReserved(tags.Select(t => t.Key));
        var resources = await TagResourcesAsync(call).ConfigureAwait(false);
        call.StopIfDryRun();
        var set = tags.GroupBy(t => t.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value ?? "", StringComparer.Ordinal);
        foreach (var resource in resources)
        {
            await call.Engine.CreateTagsAsync(resource.Id, set, call.CancellationToken).ConfigureAwait(false);
        }

        xml.Element("return", true);
    }

    /// <summary>
    /// Removes tags: a key with a value only when the value matches, a key alone whatever its value, and with no
    /// <c>Tag.N</c> every user tag (a policy's <c>lifecycle:</c> tags are never removed here, named or not).
    /// </summary>
    private async Task DeleteTagsAsync(Ec2Call call, XmlWriter xml)
    {
        var tags = call.P.Tags("Tag", requireValue: false);
        RefuseReserved(tags.Select(t => t.Key));
        var resources = await TagResourcesAsync(call).ConfigureAwait(false);
        call.StopIfDryRun();
        foreach (var resource in resources)
        {
            var keys = tags.IsEmpty
                ? resource.Tags.Keys.Where(k => !k.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal)).ToList()
                : tags.Where(t => resource.Tags.TryGetValue(t.Key, out var value) && (t.Value is null || t.Value == value)).Select(t => t.Key).ToList();
            if (keys.Count > 0)
            {
                await call.Engine.DeleteTagsAsync(resource.Id, keys, call.CancellationToken).ConfigureAwait(false);
            }
        }

        xml.Element("return", true);
    }

    private static void RefuseReserved(IEnumerable<string> keys)
    {
        if (SnapshotSafety.ReservedKey(keys) is { } reserved)
        {
            throw Ec2Error.InvalidParameterValue(
                $"Value ({Ec2Parameters.Shorten(reserved)}) for parameter Tag.N.Key is invalid: tags starting with '{OwnershipTags.Prefix}' belong to the policies and are set only when a snapshot is created or copied");
        }
    }

    private sealed record TagResource(string Id, string Type, IReadOnlyDictionary<string, string> Tags);

    /// <summary>The resources of <c>ResourceId.N</c> with their tags; an id of another kind is InvalidID, a missing one NotFound.</summary>
    private static async Task<List<TagResource>> TagResourcesAsync(Ec2Call call)
    {
        var ids = call.P.List("ResourceId");
        if (ids.IsEmpty)
        {
            throw Ec2Error.MissingParameter("ResourceId.1");
        }

        var result = new List<TagResource>();
        var volumes = ids.Any(i => i.StartsWith("vol-", StringComparison.Ordinal)) && call.RegionExists
            ? (await call.Engine.DescribeVolumesAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false)).ToDictionary(v => v.Id, StringComparer.Ordinal)
            : [];
        foreach (var id in ids.Distinct(StringComparer.Ordinal))
        {
            if (id.StartsWith("snap-", StringComparison.Ordinal))
            {
                var snapshot = await FindSnapshotAsync(call, SnapshotId(id, "ResourceId")).ConfigureAwait(false);
                result.Add(new TagResource(snapshot.Id, "snapshot", snapshot.Tags));
            }
            else if (id.StartsWith("vol-", StringComparison.Ordinal))
            {
                var volume = volumes.GetValueOrDefault(VolumeId(id, "ResourceId")) ?? throw new Ec2Error("InvalidVolume.NotFound", $"The volume '{id}' does not exist.");
                result.Add(new TagResource(volume.Id, "volume", volume.Tags));
            }
            else
            {
                throw new Ec2Error("InvalidID", $"The ID '{Ec2Parameters.Shorten(id)}' is not valid (this endpoint tags snapshots and volumes)");
            }
        }

        return result;
    }

    private async Task DescribeTagsAsync(Ec2Call call, XmlWriter xml)
    {
        var max = call.P.Int("MaxResults", 5, 1000);
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => !TagFilters.Contains(f.Name)))
        {
            throw UnknownFilter(filter, TagFilters);
        }

        DecodeToken(call, "DescribeTags");
        call.StopIfDryRun();
        var entries = new List<(string ResourceId, string Type, string Key, string Value)>();
        if (call.RegionExists)
        {
            var types = filters.FirstOrDefault(f => f.Name == "resource-type")?.Values;
            if (types is null || types.Value.Contains("volume"))
            {
                foreach (var volume in await call.Engine.DescribeVolumesAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false))
                {
                    entries.AddRange(volume.Tags.Select(t => (volume.Id, "volume", t.Key, t.Value)));
                }
            }

            if (types is null || types.Value.Contains("snapshot"))
            {
                string? after = null;
                while (true)
                {
                    var page = await call.Engine.DescribeSnapshotsPageAsync(new SnapshotPageQuery { AfterId = after, Limit = DescribeAllPageSize }, call.CancellationToken).ConfigureAwait(false);
                    foreach (var snapshot in page.Snapshots)
                    {
                        entries.AddRange(snapshot.Tags.Select(t => (snapshot.Id, "snapshot", t.Key, t.Value)));
                    }

                    if (!page.HasMore || page.Snapshots.IsEmpty)
                    {
                        break;
                    }

                    after = page.Snapshots[^1].Id;
                }
            }
        }

        var matching = entries.Where(e => filters.All(f => f.Values.Any(v => f.Name switch
        {
            "key" => e.Key == v,
            "value" => e.Value == v,
            "resource-id" => e.ResourceId == v,
            _ => e.Type == v,
        })));
        var (items, next) = Page(call, "DescribeTags", matching, e => e.ResourceId + "\n" + e.Key, max);
        xml.List("tagSet", items, (x, e) =>
        {
            x.Element("resourceId", e.ResourceId);
            x.Element("resourceType", e.Type);
            x.Element("key", e.Key);
            x.Element("value", e.Value);
        });
        NextToken(xml, next);
    }
}
