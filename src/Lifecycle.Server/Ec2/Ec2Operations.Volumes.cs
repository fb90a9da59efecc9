using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.Server.Ec2;

internal sealed partial class Ec2Operations
{
    private static readonly string[] VolumeFilters = ["volume-id", "status", "availability-zone", "snapshot-id", "attachment.instance-id", "size", "tag:KEY", "tag-key"];
    private static readonly string[] InstanceFilters = ["instance-id", "block-device-mapping.volume-id", "block-device-mapping.device-name", "availability-zone", "instance-state-name"];

    /// <summary>How long a CreateVolume ClientToken is remembered (EC2 keeps them for at least a day).</summary>
    private static readonly TimeSpan ClientTokenLifetime = TimeSpan.FromHours(24);

    /// <summary>Devices EC2 treats as an instance's root device.</summary>
    private static readonly string[] BootDevices = ["/dev/xvda", "/dev/sda1", "/dev/sda", "xvda"];

    private async Task CreateVolumeAsync(Ec2Call call, XmlWriter xml)
    {
        var zone = Zone(call, call.P.Required("AvailabilityZone"), "AvailabilityZone");
        var snapshotId = call.P.String("SnapshotId") is { } s ? SnapshotId(s, "SnapshotId") : null;
        var type = call.P.String("VolumeType") ?? "gp2";
        var (minSize, maxSize) = type switch
        {
            "gp2" or "gp3" => (1, 16384),
            "io1" or "io2" => (4, 16384),
            "st1" or "sc1" => (125, 16384),
            "standard" => (1, 1024),
            _ => throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(type)}) for parameter VolumeType is invalid: standard, io1, io2, gp2, sc1, st1, gp3"),
        };
        var size = call.P.Int("Size", minSize, maxSize);
        // Checked as EC2 checks them; the engine keeps no IOPS, throughput or multi-attach (LocalEngine README).
        call.P.Int("Iops", 100, 256_000);
        call.P.Int("Throughput", 125, 2000);
        call.P.Bool("MultiAttachEnabled");
        var encrypted = call.P.Bool("Encrypted") ?? false;
        var keyId = call.P.String("KmsKeyId");
        if (keyId is not null && !Engine.KeyRing.KeyIds.Contains(keyId))
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(keyId)}) for parameter KmsKeyId is invalid: not a key of the engine's key ring");
        }

        if (snapshotId is null && size is null)
        {
            throw Ec2Error.MissingParameter("Size or SnapshotId");
        }

        var tags = call.P.TagSpecifications("volume");
        var clientToken = call.P.String("ClientToken");
        if (clientToken is { Length: > 64 })
        {
            throw Ec2Error.InvalidParameterValue("Value for parameter ClientToken is invalid: at most 64 characters");
        }

        SnapshotInfo? source = null;
        if (snapshotId is not null)
        {
            source = await FindSnapshotAsync(call, snapshotId).ConfigureAwait(false);
            if (encrypted && !source.Encrypted)
            {
                throw Ec2Error.InvalidParameterCombination($"Encrypted: snapshot {snapshotId} is not encrypted, and the local engine does not encrypt a volume created from it");
            }

            if (size is { } gib && gib < source.VolumeSizeGiB)
            {
                throw Ec2Error.InvalidParameterValue($"Value ({gib}) for parameter Size is invalid: the snapshot {snapshotId} is {source.VolumeSizeGiB} GiB");
            }
        }

        call.StopIfDryRun();
        if (clientToken is null)
        {
            var volume = await CreateVolumeNowAsync(call, zone, size, source, encrypted, keyId, tags).ConfigureAwait(false);
            WriteVolume(call, xml, volume);
            return;
        }

        // Idempotency: the same token with the same parameters gives the same volume; with others, EC2's mismatch error.
        var fingerprint = string.Join('&', call.P.All.Where(p => p.Key is not ("ClientToken" or "DryRun")).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value));
        var tokenKey = call.Region + "\n" + clientToken;
        await clientTokenGate.WaitAsync(call.CancellationToken).ConfigureAwait(false);
        try
        {
            var now = Options.TimeProvider.GetUtcNow();
            foreach (var stale in clientTokens.Where(t => now - t.Value.CreatedAt > ClientTokenLifetime).Select(t => t.Key).ToList())
            {
                clientTokens.TryRemove(stale, out _);
            }

            if (clientTokens.TryGetValue(tokenKey, out var entry))
            {
                if (entry.Fingerprint != fingerprint)
                {
                    throw new Ec2Error("IdempotentParameterMismatch", $"The ClientToken '{Ec2Parameters.Shorten(clientToken)}' was used before with different parameters");
                }

                var existing = await call.Engine.DescribeVolumeAsync(entry.VolumeId, call.CancellationToken).ConfigureAwait(false);
                if (existing is not null)
                {
                    WriteVolume(call, xml, existing);
                    return;
                }
            }

            var volume = await CreateVolumeNowAsync(call, zone, size, source, encrypted, keyId, tags).ConfigureAwait(false);
            clientTokens[tokenKey] = new ClientTokenEntry(fingerprint, volume.Id, now);
            WriteVolume(call, xml, volume);
        }
        finally
        {
            clientTokenGate.Release();
        }
    }

    private static Task<VolumeInfo> CreateVolumeNowAsync(Ec2Call call, string zone, int? size, SnapshotInfo? source, bool encrypted, string? keyId, ImmutableSortedDictionary<string, string> tags) =>
        source is null
            ? call.Engine.CreateVolumeAsync(zone, size!.Value * (1L << 30), tags, encrypted, keyId, call.CancellationToken)
            : call.Engine.CreateVolumeAsync(new CreateVolumeRequest(source.Id, zone, tags, size), call.CancellationToken);

    private static void WriteVolume(Ec2Call call, XmlWriter xml, VolumeInfo volume) =>
        Volume(xml, volume, call.Engine.VolumeCreateTimes([volume.Id]).GetValueOrDefault(volume.Id));

    /// <summary>
    /// The Volume shape. The engine keeps no volume type, IOPS or attach time: volumes read as gp3 at its baseline, and
    /// an attachment's time is the volume's creation time.
    /// </summary>
    private static void Volume(XmlWriter xml, VolumeInfo volume, DateTimeOffset createdAt)
    {
        xml.Element("volumeId", volume.Id);
        xml.Element("size", volume.SizeGiB);
        xml.Element("snapshotId", volume.SnapshotId ?? "");
        xml.Element("availabilityZone", volume.Zone);
        xml.Element("status", volume.InstanceId is null ? "available" : "in-use");
        xml.Element("createTime", createdAt);
        xml.List("attachmentSet", volume.InstanceId is null ? [] : new[] { volume }, (x, v) => Attachment(x, v, createdAt, "attached"));
        xml.Element("volumeType", "gp3");
        xml.Element("iops", 3000);
        xml.Element("throughput", 125);
        xml.Element("encrypted", volume.Encrypted);
        xml.Element("kmsKeyId", volume.KeyId);
        xml.Element("multiAttachEnabled", false);
        xml.TagSet(volume.Tags);
    }

    private static void Attachment(XmlWriter xml, VolumeInfo volume, DateTimeOffset attachTime, string status)
    {
        xml.Element("volumeId", volume.Id);
        xml.Element("instanceId", volume.InstanceId);
        xml.Element("device", volume.Device);
        xml.Element("status", status);
        xml.Element("attachTime", attachTime);
        xml.Element("deleteOnTermination", false);
    }

    /// <summary>A volume of the call's region, or EC2's InvalidVolume.NotFound.</summary>
    private static async Task<VolumeInfo> FindVolumeAsync(Ec2Call call, string volumeId)
    {
        if (call.RegionExists)
        {
            var volume = await call.Engine.DescribeVolumeAsync(volumeId, call.CancellationToken).ConfigureAwait(false);
            if (volume is not null)
            {
                return volume;
            }
        }

        throw VolumeNotFound(volumeId);
    }

    private static Ec2Error VolumeNotFound(string volumeId) => new("InvalidVolume.NotFound", $"The volume '{volumeId}' does not exist.");

    private async Task DescribeVolumesAsync(Ec2Call call, XmlWriter xml)
    {
        var ids = call.P.List("VolumeId").Select(v => VolumeId(v, "VolumeId")).Distinct(StringComparer.Ordinal).ToList();
        var max = MaxResults(call, 5, 500, ids.Count > 0, "VolumeId", capAbove: true);
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => !VolumeFilters.Contains(f.Name) && !(f.Name.StartsWith("tag:", StringComparison.Ordinal) && f.Name.Length > 4)))
        {
            throw UnknownFilter(filter, VolumeFilters);
        }

        DecodeToken(call, "DescribeVolumes");
        call.StopIfDryRun();
        // Without ids, the tag filters narrow the engine's read (a policy's inventory asks for its 50 volumes of 1,000:
        // reading them all was a third of the CPU of a fire through this endpoint). With ids, every volume is read, so
        // an id that exists but does not match is an empty answer, not InvalidVolume.NotFound.
        var narrowing = ids.Count == 0 ? EngineTagFilter(filters) : null;
        var volumes = call.RegionExists ? await call.Engine.DescribeVolumesAsync(narrowing, call.CancellationToken).ConfigureAwait(false) : [];
        var missing = ids.FirstOrDefault(id => !volumes.Any(v => v.Id == id));
        if (missing is not null)
        {
            throw new Ec2Error("InvalidVolume.NotFound", $"The volume '{missing}' does not exist.");
        }

        var matching = volumes.Where(v => (ids.Count == 0 || ids.Contains(v.Id)) && filters.All(f => f.Values.Any(value => VolumeMatches(v, f.Name, value))));
        var (page, next) = Page(call, "DescribeVolumes", matching, v => v.Id, max);
        var created = call.RegionExists ? call.Engine.VolumeCreateTimes([.. page.Select(v => v.Id)]) : new Dictionary<string, DateTimeOffset>();
        xml.List("volumeSet", page, (x, v) => Volume(x, v, created.GetValueOrDefault(v.Id)));
        NextToken(xml, next);
    }

    /// <summary>
    /// The part of a describe's filters the engine can apply in its read: each <c>tag:KEY</c> (its values are
    /// alternatives) and a <c>tag-key</c> with one value. Only ever a superset of the answer: the filters are still
    /// checked one by one afterwards (<see cref="VolumeMatches"/>), so what cannot be said here is simply left out.
    /// </summary>
    private static TagFilter? EngineTagFilter(ImmutableArray<Ec2Filter> filters)
    {
        var tags = ImmutableSortedDictionary.CreateBuilder<string, ImmutableArray<string>>(StringComparer.Ordinal);
        foreach (var filter in filters.Where(f => f.Name.StartsWith("tag:", StringComparison.Ordinal) && f.Name.Length > 4 && f.Values.Length > 0))
        {
            tags.TryAdd(filter.Name[4..], filter.Values);
        }

        foreach (var filter in filters.Where(f => f.Name == "tag-key" && f.Values.Length == 1))
        {
            tags.TryAdd(filter.Values[0], []);
        }

        return tags.Count > 0 ? new TagFilter(tags.ToImmutable()) : null;
    }

    private static bool VolumeMatches(VolumeInfo volume, string filter, string value) => filter switch
    {
        "volume-id" => volume.Id == value,
        "status" => value == (volume.InstanceId is null ? "available" : "in-use"),
        "availability-zone" => volume.Zone == value,
        "snapshot-id" => volume.SnapshotId == value,
        "attachment.instance-id" => volume.InstanceId == value,
        "size" => volume.SizeGiB.ToString(CultureInfo.InvariantCulture) == value,
        "tag-key" => volume.Tags.ContainsKey(value),
        _ => volume.Tags.TryGetValue(filter[4..], out var tag) && tag == value,
    };

    private async Task DeleteVolumeAsync(Ec2Call call, XmlWriter xml)
    {
        var volumeId = VolumeId(call.P.Required("VolumeId"), "VolumeId");
        var volume = await FindVolumeAsync(call, volumeId).ConfigureAwait(false);
        if (volume.InstanceId is not null)
        {
            throw new Ec2Error("VolumeInUse", $"Volume {volumeId} is currently attached to {volume.InstanceId}");
        }

        call.StopIfDryRun();
        await call.Engine.DeleteVolumeAsync(volumeId, call.CancellationToken).ConfigureAwait(false);
        xml.Element("return", true);
    }

    private async Task AttachVolumeAsync(Ec2Call call, XmlWriter xml)
    {
        var volumeId = VolumeId(call.P.Required("VolumeId"), "VolumeId");
        var instanceId = InstanceId(call.P.Required("InstanceId"), "InstanceId");
        var device = call.P.Required("Device");
        if (!DevicePattern().IsMatch(device))
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(device)}) for parameter Device is invalid: expected a device name such as /dev/sdf or xvdf");
        }

        var volumes = call.RegionExists ? await call.Engine.DescribeVolumesAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false) : [];
        var volume = volumes.FirstOrDefault(v => v.Id == volumeId) ?? throw new Ec2Error("InvalidVolume.NotFound", $"The volume '{volumeId}' does not exist.");
        if (volume.InstanceId is not null)
        {
            throw new Ec2Error("VolumeInUse", $"{volumeId} is already attached to an instance ({volume.InstanceId})");
        }

        var instance = volumes.Where(v => v.InstanceId == instanceId).ToList();
        if (instance.Any(v => v.Device == device))
        {
            throw Ec2Error.InvalidParameterValue($"Invalid value '{device}' for parameter Device: attachment point {device} is already in use on {instanceId}");
        }

        if (instance.Count > 0 && instance[0].Zone != volume.Zone)
        {
            throw new Ec2Error("InvalidVolume.ZoneMismatch", $"The volume '{volumeId}' is not in the same availability zone as instance '{instanceId}' ({instance[0].Zone})");
        }

        call.StopIfDryRun();
        await call.Engine.AttachVolumeAsync(volumeId, instanceId, device, BootDevices.Contains(device), call.CancellationToken).ConfigureAwait(false);
        var created = call.Engine.VolumeCreateTimes([volumeId]);
        Attachment(xml, volume with { InstanceId = instanceId, Device = device }, created.GetValueOrDefault(volumeId), "attached");
    }

    private async Task DetachVolumeAsync(Ec2Call call, XmlWriter xml)
    {
        var volumeId = VolumeId(call.P.Required("VolumeId"), "VolumeId");
        var instanceId = call.P.String("InstanceId") is { } i ? InstanceId(i, "InstanceId") : null;
        call.P.Bool("Force"); // checked; a detach here is always immediate
        var volume = await FindVolumeAsync(call, volumeId).ConfigureAwait(false);
        if (volume.InstanceId is null)
        {
            throw new Ec2Error("IncorrectState", $"Volume '{volumeId}' is in the 'available' state.");
        }

        if (instanceId is not null && instanceId != volume.InstanceId)
        {
            throw new Ec2Error("InvalidAttachment.NotFound", $"Volume '{volumeId}' is not attached to instance '{instanceId}' (it is attached to {volume.InstanceId})");
        }

        call.StopIfDryRun();
        await call.Engine.DetachVolumeAsync(volumeId, call.CancellationToken).ConfigureAwait(false);
        Attachment(xml, volume, call.Engine.VolumeCreateTimes([volumeId]).GetValueOrDefault(volumeId), "detached");
    }

    /// <summary>An instance is the set of volumes attached to its id; it is running, in the zone of its volumes.</summary>
    private async Task DescribeInstancesAsync(Ec2Call call, XmlWriter xml)
    {
        var ids = call.P.List("InstanceId").Select(i => InstanceId(i, "InstanceId")).Distinct(StringComparer.Ordinal).ToList();
        var max = MaxResults(call, 5, 1000, ids.Count > 0, "InstanceId");
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => !InstanceFilters.Contains(f.Name) && !(f.Name.StartsWith("tag:", StringComparison.Ordinal) && f.Name.Length > 4) && f.Name != "tag-key"))
        {
            throw UnknownFilter(filter, [.. InstanceFilters, "tag:KEY", "tag-key"]);
        }

        DecodeToken(call, "DescribeInstances");
        call.StopIfDryRun();
        var volumes = call.RegionExists ? await call.Engine.DescribeVolumesAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false) : [];
        var instances = volumes.Where(v => v.InstanceId is not null).GroupBy(v => v.InstanceId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(v => v.Device, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var missing = ids.FirstOrDefault(id => !instances.ContainsKey(id));
        if (missing is not null)
        {
            throw new Ec2Error("InvalidInstanceID.NotFound", $"The instance ID '{missing}' does not exist");
        }

        var matching = instances.Where(i => (ids.Count == 0 || ids.Contains(i.Key)) && filters.All(f => f.Values.Any(value => InstanceMatches(i.Key, i.Value, f.Name, value))));
        var (page, next) = Page(call, "DescribeInstances", matching, i => i.Key, max);
        var created = call.RegionExists ? call.Engine.VolumeCreateTimes([.. page.SelectMany(i => i.Value).Select(v => v.Id)]) : new Dictionary<string, DateTimeOffset>();
        xml.List("reservationSet", page, (x, instance) =>
        {
            var root = instance.Value.FirstOrDefault(v => v.IsBoot) ?? instance.Value[0];
            x.Element("reservationId", "r-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(instance.Key)))[..17]);
            x.Element("ownerId", call.AccountId);
            x.List("groupSet", Array.Empty<string>(), (_, _) => { });
            x.List("instancesSet", new[] { instance }, (y, i) =>
            {
                y.Element("instanceId", i.Key);
                y.WriteStartElement("instanceState", Ec2Xml.Namespace);
                y.Element("code", 16);
                y.Element("name", "running");
                y.WriteEndElement();
                y.WriteStartElement("placement", Ec2Xml.Namespace);
                y.Element("availabilityZone", root.Zone);
                y.WriteEndElement();
                y.Element("rootDeviceName", root.IsBoot ? root.Device : "/dev/xvda");
                y.Element("rootDeviceType", "ebs");
                y.List("blockDeviceMapping", i.Value, (z, v) =>
                {
                    z.Element("deviceName", v.Device);
                    z.WriteStartElement("ebs", Ec2Xml.Namespace);
                    z.Element("volumeId", v.Id);
                    z.Element("status", "attached");
                    z.Element("attachTime", created.GetValueOrDefault(v.Id));
                    z.Element("deleteOnTermination", false);
                    z.WriteEndElement();
                });
                y.TagSet(ImmutableSortedDictionary<string, string>.Empty);
            });
        });
        NextToken(xml, next);
    }

    private static bool InstanceMatches(string instanceId, List<VolumeInfo> volumes, string filter, string value) => filter switch
    {
        "instance-id" => instanceId == value,
        "block-device-mapping.volume-id" => volumes.Any(v => v.Id == value),
        "block-device-mapping.device-name" => volumes.Any(v => v.Device == value),
        "availability-zone" => volumes.Any(v => v.Zone == value),
        "instance-state-name" => value == "running",
        _ => false, // tags: instances of the local engine have none
    };

    [GeneratedRegex("^(/dev/[a-z0-9]{1,32}|xvd[a-z]{1,2})$")]
    private static partial Regex DevicePattern();
}
