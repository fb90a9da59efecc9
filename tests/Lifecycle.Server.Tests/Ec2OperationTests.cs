using System.Net;
using Lifecycle.LocalEngine;

namespace Lifecycle.Server.Tests;

/// <summary>Every action of /ec2: its happy path against what the engine holds, its main error, and the safety rules.</summary>
public sealed class Ec2OperationTests : IAsyncLifetime
{
    private Ec2TestHost host = null!;

    /// <summary>Deleted snapshots stay in the recycle bin for a week (a rule of the engine).</summary>
    public async Task InitializeAsync() => host = await Ec2TestHost.StartAsync(o => o.RecycleBinRules = [new RecycleBinRule(7)]);

    public async Task DisposeAsync() => await host.DisposeAsync();

    private LocalRegion Region => host.Engine.Region(Ec2TestHost.Region);

    private async Task<string> VolumeAsync(string zone = "eu-west-1a", params (string, string)[] more) =>
        (await host.CallAsync("CreateVolume", [("AvailabilityZone", zone), ("Size", "1"), .. more])).Ok().One("volumeId")!;

    private async Task<string> SnapshotAsync(string volumeId, params (string Key, string Value)[] tags)
    {
        var parameters = new List<(string, string)> { ("VolumeId", volumeId) };
        if (tags.Length > 0)
        {
            parameters.Add(("TagSpecification.1.ResourceType", "snapshot"));
            parameters.AddRange(tags.SelectMany((t, i) => new[] { ($"TagSpecification.1.Tag.{i + 1}.Key", t.Key), ($"TagSpecification.1.Tag.{i + 1}.Value", t.Value) }));
        }

        var id = (await host.CallAsync("CreateSnapshot", [.. parameters])).Ok().One("snapshotId")!;
        await Region.WaitForSnapshotAsync(id);
        return id;
    }

    [Fact]
    public async Task DescribeVolumes_ByTagFilters_AnswersExactlyTheMatchingVolumes_WithTheirCreateTimes()
    {
        // The tag filters narrow the engine's read; the answer must still be EC2's: values of one filter are
        // alternatives, filters all apply, tag-key with several keys is any of them, and an existing id that does not
        // match is an empty answer, not NotFound.
        (string, string)[] Tags(params (string Key, string Value)[] tags) =>
            [("TagSpecification.1.ResourceType", "volume"), .. tags.SelectMany((t, i) => new[] { ($"TagSpecification.1.Tag.{i + 1}.Key", t.Key), ($"TagSpecification.1.Tag.{i + 1}.Value", t.Value) })];
        var prodA = await VolumeAsync("eu-west-1a", Tags(("env", "prod"), ("team", "a")));
        var prodB = await VolumeAsync("eu-west-1a", Tags(("env", "prod"), ("team", "b")));
        var dev = await VolumeAsync("eu-west-1a", Tags(("env", "dev")));
        var untagged = await VolumeAsync();

        async Task<string[]> Ids(params (string, string)[] parameters) => [.. (await host.CallAsync("DescribeVolumes", parameters)).Ok().All("volumeId").Order(StringComparer.Ordinal)];
        string[] Sorted(params string[] ids) => [.. ids.Order(StringComparer.Ordinal)];

        Assert.Equal(Sorted(prodA, prodB, dev), await Ids(("Filter.1.Name", "tag:env"), ("Filter.1.Value.1", "prod"), ("Filter.1.Value.2", "dev")));
        Assert.Equal([prodB], await Ids(("Filter.1.Name", "tag:env"), ("Filter.1.Value.1", "prod"), ("Filter.2.Name", "tag:team"), ("Filter.2.Value.1", "b")));
        Assert.Equal(Sorted(prodA, prodB), await Ids(("Filter.1.Name", "tag-key"), ("Filter.1.Value.1", "team")));
        Assert.Equal(Sorted(prodA, prodB, dev), await Ids(("Filter.1.Name", "tag-key"), ("Filter.1.Value.1", "team"), ("Filter.1.Value.2", "env")));
        Assert.Equal([dev], await Ids(("Filter.1.Name", "tag-key"), ("Filter.1.Value.1", "env"), ("Filter.2.Name", "tag:env"), ("Filter.2.Value.1", "dev")));
        Assert.Empty(await Ids(("Filter.1.Name", "tag:env"), ("Filter.1.Value.1", "staging")));
        Assert.Empty(await Ids(("VolumeId.1", untagged), ("Filter.1.Name", "tag:env"), ("Filter.1.Value.1", "prod")));

        var answer = (await host.CallAsync("DescribeVolumes", ("Filter.1.Name", "tag:team"), ("Filter.1.Value.1", "a"))).Ok();
        var createTime = DateTimeOffset.Parse(answer.One("createTime")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Region.VolumeCreateTimes([prodA])[prodA], createTime, TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task Volumes_CreateDescribeAttachDetachDelete_MatchTheEngine()
    {
        var created = (await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1b"), ("Size", "2"),
            ("TagSpecification.1.ResourceType", "volume"), ("TagSpecification.1.Tag.1.Key", "env"), ("TagSpecification.1.Tag.1.Value", "prod"))).Ok();
        var volumeId = created.One("volumeId")!;
        var engine = Assert.Single(await Region.DescribeVolumesAsync(), v => v.Id == volumeId);
        Assert.Equal((2, "eu-west-1b", "prod"), (engine.SizeGiB, engine.Zone, engine.Tags["env"]));
        Assert.Equal(["prod"], (await host.CallAsync("DescribeVolumes", ("Filter.1.Name", "tag:env"), ("Filter.1.Value.1", "prod"))).Ok().All("value"));
        Assert.Equal("InvalidVolume.NotFound", (await host.CallAsync("DescribeVolumes", ("VolumeId.1", "vol-0000000000000000f"))).Code);

        (await host.CallAsync("AttachVolume", ("VolumeId", volumeId), ("InstanceId", "i-0aaa"), ("Device", "/dev/xvda"))).Ok();
        Assert.Equal("i-0aaa", (await Region.DescribeVolumesAsync()).Single(v => v.Id == volumeId).InstanceId);
        Assert.Equal("VolumeInUse", (await host.CallAsync("AttachVolume", ("VolumeId", volumeId), ("InstanceId", "i-0bbb"), ("Device", "/dev/sdf"))).Code);
        Assert.Equal("VolumeInUse", (await host.CallAsync("DeleteVolume", ("VolumeId", volumeId))).Code);
        var other = await VolumeAsync("eu-west-1c");
        Assert.Equal("InvalidVolume.ZoneMismatch", (await host.CallAsync("AttachVolume", ("VolumeId", other), ("InstanceId", "i-0aaa"), ("Device", "/dev/sdf"))).Code);

        var instances = (await host.CallAsync("DescribeInstances", ("Filter.1.Name", "block-device-mapping.volume-id"), ("Filter.1.Value.1", volumeId))).Ok();
        Assert.Equal(["i-0aaa"], instances.All("instanceId"));
        Assert.Equal("eu-west-1b", instances.One("availabilityZone"));
        Assert.Equal("InvalidInstanceID.NotFound", (await host.CallAsync("DescribeInstances", ("InstanceId.1", "i-0fff"))).Code);

        Assert.Equal("detached", (await host.CallAsync("DetachVolume", ("VolumeId", volumeId))).Ok().One("status"));
        Assert.Null((await Region.DescribeVolumesAsync()).Single(v => v.Id == volumeId).InstanceId);
        Assert.Equal("IncorrectState", (await host.CallAsync("DetachVolume", ("VolumeId", volumeId))).Code);
        Assert.Equal("true", (await host.CallAsync("DeleteVolume", ("VolumeId", volumeId))).Ok().One("return"));
        Assert.DoesNotContain(await Region.DescribeVolumesAsync(), v => v.Id == volumeId);
        Assert.Equal("InvalidVolume.NotFound", (await host.CallAsync("DeleteVolume", ("VolumeId", volumeId))).Code);
        Assert.Equal("InvalidVolume.NotFound", (await host.CallAsync("CreateSnapshot", ("VolumeId", volumeId))).Code);
    }

    [Fact]
    public async Task CreateVolume_OfTheLargestSize_IsCreatedOrALimitError_NeverAServerFault()
    {
        // ext4 holds just under 16 TiB in one file: there the engine answers VolumeLimitExceeded; XFS or tmpfs create it.
        var answer = await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1a"), ("Size", "16384"));
        Assert.True(answer.Status == HttpStatusCode.OK || (answer.Status == HttpStatusCode.BadRequest && answer.Code == "VolumeLimitExceeded"), answer.Text);
        if (answer.Status == HttpStatusCode.OK)
        {
            (await host.CallAsync("DeleteVolume", ("VolumeId", answer.One("volumeId")!))).Ok();
        }
    }

    [Fact]
    public async Task CreateVolume_FromASnapshot_AndWithAClientToken_IsIdempotent()
    {
        var snapshot = await SnapshotAsync(await VolumeAsync());
        (string, string)[] request = [("AvailabilityZone", "eu-west-1a"), ("SnapshotId", snapshot), ("ClientToken", "token-1")];
        var first = (await host.CallAsync("CreateVolume", request)).Ok().One("volumeId");
        var second = (await host.CallAsync("CreateVolume", request)).Ok().One("volumeId");
        Assert.Equal(first, second);
        Assert.Equal(snapshot, (await Region.DescribeVolumesAsync()).Single(v => v.Id == first).SnapshotId);
        var mismatch = await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1b"), ("SnapshotId", snapshot), ("ClientToken", "token-1"));
        Assert.Equal("IdempotentParameterMismatch", mismatch.Code);
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1a"), ("SnapshotId", "snap-0000000000000000f"))).Code);
    }

    [Fact]
    public async Task Snapshots_CreateCreateSnapshotsDescribeCopyDelete_MatchTheEngine()
    {
        var volume = await VolumeAsync(more: [("TagSpecification.1.ResourceType", "volume"), ("TagSpecification.1.Tag.1.Key", "app"), ("TagSpecification.1.Tag.1.Value", "db")]);
        var created = (await host.CallAsync("CreateSnapshot", ("VolumeId", volume), ("Description", "nightly a+b&c é"),
            ("TagSpecification.1.ResourceType", "snapshot"), ("TagSpecification.1.Tag.1.Key", "lifecycle:policy"), ("TagSpecification.1.Tag.1.Value", "p1"))).Ok();
        var snapshotId = created.One("snapshotId")!;
        Assert.Contains(created.One("status"), new[] { "pending", "completed" });
        await Region.WaitForSnapshotAsync(snapshotId);
        var engine = Assert.Single(await Region.DescribeSnapshotsAsync(), s => s.Id == snapshotId);
        Assert.Equal(("nightly a+b&c é", "p1"), (engine.Description, engine.Tags["lifecycle:policy"]));
        var described = (await host.CallAsync("DescribeSnapshots", ("SnapshotId.1", snapshotId))).Ok();
        Assert.Equal(("completed", "100%", "nightly a+b&c é", "standard"), (described.One("status"), described.One("progress"), described.One("description"), described.One("storageTier")));
        Assert.Equal("InvalidVolume.NotFound", (await host.CallAsync("CreateSnapshot", ("VolumeId", "vol-0000000000000000f"))).Code);
        Assert.Equal("InvalidVolume.NotFound", (await host.CallAsync("CreateSnapshot", ("VolumeId", "vol-0000000000000000f"), ("DryRun", "true"))).Code);
        Assert.Equal("DryRunOperation", (await host.CallAsync("CreateSnapshot", ("VolumeId", volume), ("DryRun", "true"))).Code);

        (await host.CallAsync("AttachVolume", ("VolumeId", volume), ("InstanceId", "i-0ccc"), ("Device", "/dev/xvda"))).Ok();
        var set = (await host.CallAsync("CreateSnapshots", ("InstanceSpecification.InstanceId", "i-0ccc"), ("CopyTagsFromSource", "volume"))).Ok();
        var fromInstance = Assert.Single(set.All("snapshotId"));
        Assert.Contains(set.One("state"), new[] { "pending", "completed" });
        await Region.WaitForSnapshotAsync(fromInstance);
        Assert.Equal("db", (await Region.DescribeSnapshotsAsync()).Single(s => s.Id == fromInstance).Tags["app"]);
        Assert.Equal("InvalidInstanceID.NotFound", (await host.CallAsync("CreateSnapshots", ("InstanceSpecification.InstanceId", "i-0fff"))).Code);

        var copy = (await host.CallAsync("CopySnapshot", ("SourceRegion", Ec2TestHost.Region), ("SourceSnapshotId", snapshotId), ("DestinationRegion", Ec2TestHost.Region),
            ("TagSpecification.1.ResourceType", "snapshot"), ("TagSpecification.1.Tag.1.Key", "copy"), ("TagSpecification.1.Tag.1.Value", "yes"))).Ok().One("snapshotId")!;
        var copied = await Region.WaitForSnapshotAsync(copy);
        Assert.Equal((snapshotId, "yes"), (copied.SourceSnapshotId, copied.Tags["copy"]));
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("CopySnapshot", ("SourceRegion", "eu-central-1"), ("SourceSnapshotId", snapshotId))).Code);

        var filtered = (await host.CallAsync("DescribeSnapshots", ("Filter.1.Name", "volume-id"), ("Filter.1.Value.1", volume), ("Filter.2.Name", "tag-key"), ("Filter.2.Value.1", "app"))).Ok();
        Assert.Equal([fromInstance], filtered.All("snapshotId"));

        Assert.Equal("true", (await host.CallAsync("DeleteSnapshot", ("SnapshotId", copy))).Ok().One("return"));
        Assert.DoesNotContain(await Region.DescribeSnapshotsAsync(), s => s.Id == copy);
        Assert.Contains(await Region.ListSnapshotsInRecycleBinAsync(), e => e.Snapshot.Id == copy);
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("DeleteSnapshot", ("SnapshotId", copy))).Code);
    }

    [Fact]
    public async Task DeleteSnapshot_RefusesTheNewestCompletedSnapshotOfAVolumeUnderItsPolicy_GroupingCopiesBySourceVolume()
    {
        var volume = await VolumeAsync();
        var older = await SnapshotAsync(volume, ("lifecycle:policy", "keep"));
        var newest = await SnapshotAsync(volume, ("lifecycle:policy", "keep"));
        var unowned = await SnapshotAsync(volume);

        var refused = await host.CallAsync("DeleteSnapshot", ("SnapshotId", newest));
        Assert.Equal((HttpStatusCode.BadRequest, "OperationNotPermitted"), (refused.Status, refused.Code));
        Assert.Contains("keepLatest", refused.Message, StringComparison.Ordinal);
        Assert.Contains(await Region.DescribeSnapshotsAsync(), s => s.Id == newest);
        (await host.CallAsync("DeleteSnapshot", ("SnapshotId", older))).Ok();
        (await host.CallAsync("DeleteSnapshot", ("SnapshotId", unowned))).Ok();

        // Copies in another region group by the lifecycle:source-volume tag, not by the volume id EC2 gives a copy.
        var copyParameters = new[] { ("SourceRegion", Ec2TestHost.Region), ("SourceSnapshotId", newest), ("TagSpecification.1.ResourceType", "snapshot"),
            ("TagSpecification.1.Tag.1.Key", "lifecycle:policy"), ("TagSpecification.1.Tag.1.Value", "keep"),
            ("TagSpecification.1.Tag.2.Key", "lifecycle:source-volume"), ("TagSpecification.1.Tag.2.Value", volume) };
        var central = host.Engine.Region("eu-central-1");
        var first = (await host.SendAsync(host.Signed(HttpMethod.Post, "CopySnapshot", copyParameters, region: "eu-central-1"))).Ok().One("snapshotId")!;
        await central.WaitForSnapshotAsync(first);
        var second = (await host.SendAsync(host.Signed(HttpMethod.Post, "CopySnapshot", copyParameters, region: "eu-central-1"))).Ok().One("snapshotId")!;
        await central.WaitForSnapshotAsync(second);
        Assert.Equal("OperationNotPermitted", (await host.SendAsync(host.Signed(HttpMethod.Post, "DeleteSnapshot", [("SnapshotId", second)], region: "eu-central-1"))).Code);
        (await host.SendAsync(host.Signed(HttpMethod.Post, "DeleteSnapshot", [("SnapshotId", first)], region: "eu-central-1"))).Ok();
    }

    [Fact]
    public async Task Tags_CreateDeleteDescribe_AndLifecycleTagsAreRefusedOnExistingResources()
    {
        var volume = await VolumeAsync();
        var snapshot = await SnapshotAsync(volume, ("lifecycle:policy", "owner"), ("keep", "me"));
        (await host.CallAsync("CreateTags", ("ResourceId.1", snapshot), ("ResourceId.2", volume), ("Tag.1.Key", "a"), ("Tag.1.Value", "1"), ("Tag.2.Key", "b"), ("Tag.2.Value", ""))).Ok();
        Assert.Equal(("1", ""), ((await Region.DescribeVolumesAsync()).Single(v => v.Id == volume).Tags["a"], (await Region.DescribeVolumesAsync()).Single(v => v.Id == volume).Tags["b"]));

        foreach (var action in new[] { "CreateTags", "DeleteTags" })
        {
            var refused = await host.CallAsync(action, ("ResourceId.1", snapshot), ("Tag.1.Key", "lifecycle:policy"), ("Tag.1.Value", "thief"));
            Assert.Equal("InvalidParameterValue", refused.Code);
            Assert.Contains("lifecycle:policy", refused.Message, StringComparison.Ordinal);
        }

        // A value given deletes only that value; a key alone deletes whatever the value; no Tag.N deletes every user tag.
        (await host.CallAsync("DeleteTags", ("ResourceId.1", snapshot), ("Tag.1.Key", "a"), ("Tag.1.Value", "2"))).Ok();
        Assert.True((await Region.DescribeSnapshotsAsync()).Single(s => s.Id == snapshot).Tags.ContainsKey("a"));
        (await host.CallAsync("DeleteTags", ("ResourceId.1", snapshot), ("Tag.1.Key", "a"))).Ok();
        Assert.False((await Region.DescribeSnapshotsAsync()).Single(s => s.Id == snapshot).Tags.ContainsKey("a"));
        (await host.CallAsync("DeleteTags", ("ResourceId.1", snapshot))).Ok();
        Assert.Equal(["lifecycle:policy"], (await Region.DescribeSnapshotsAsync()).Single(s => s.Id == snapshot).Tags.Keys);

        var described = (await host.CallAsync("DescribeTags", ("Filter.1.Name", "resource-id"), ("Filter.1.Value.1", volume))).Ok();
        Assert.Equal(["a", "b"], described.All("key"));
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("CreateTags", ("ResourceId.1", "snap-0000000000000000f"), ("Tag.1.Key", "a"))).Code);
    }

    [Fact]
    public async Task Tiers_ArchiveRestoreAndStatus_AndAnArchivedSnapshotCanBeDeletedAtOnceAsOnEc2()
    {
        var snapshot = await SnapshotAsync(await VolumeAsync());
        Assert.Equal("IncorrectState", (await host.CallAsync("RestoreSnapshotTier", ("SnapshotId", snapshot), ("PermanentRestore", "true"))).Code);
        (await host.CallAsync("ModifySnapshotTier", ("SnapshotId", snapshot), ("StorageTier", "archive"))).Ok();
        Assert.Equal(Core.Inventory.StorageTier.Archive, (await Region.DescribeSnapshotsAsync()).Single(s => s.Id == snapshot).Tier);
        Assert.Equal("IncorrectState", (await host.CallAsync("ModifySnapshotTier", ("SnapshotId", snapshot))).Code);
        var status = (await host.CallAsync("DescribeSnapshotTierStatus", ("Filter.1.Name", "snapshot-id"), ("Filter.1.Value.1", snapshot))).Ok();
        Assert.Equal(("archive", "archival-completed"), (status.One("storageTier"), status.One("lastTieringOperationStatus")));
        Assert.Equal([snapshot], (await host.CallAsync("DescribeSnapshots", ("Filter.1.Name", "storage-tier"), ("Filter.1.Value.1", "archive"))).Ok().All("snapshotId"));

        var restored = (await host.CallAsync("RestoreSnapshotTier", ("SnapshotId", snapshot), ("TemporaryRestoreDays", "3"))).Ok();
        Assert.Equal(("3", "false"), (restored.One("restoreDuration"), restored.One("isPermanentRestore")));
        Assert.NotNull((await Region.DescribeSnapshotsAsync()).Single(s => s.Id == snapshot).RestoreExpiryTime);

        var archived = await SnapshotAsync(await VolumeAsync());
        (await host.CallAsync("ModifySnapshotTier", ("SnapshotId", archived))).Ok();
        (await host.CallAsync("DeleteSnapshot", ("SnapshotId", archived))).Ok();
        Assert.DoesNotContain(await Region.DescribeSnapshotsAsync(), s => s.Id == archived);
    }

    [Fact]
    public async Task FastSnapshotRestores_EnableDescribeDisable_ReportFailuresPerSnapshotWithA200()
    {
        var snapshot = await SnapshotAsync(await VolumeAsync());
        var enabled = (await host.CallAsync("EnableFastSnapshotRestores", ("AvailabilityZone.1", "eu-west-1a"), ("AvailabilityZone.2", "eu-west-1b"),
            ("SourceSnapshotId.1", snapshot), ("SourceSnapshotId.2", "snap-0000000000000000f"))).Ok();
        Assert.Equal(["eu-west-1a", "eu-west-1b"], enabled.Root.Element(Ec2Answer.Ns + "successful")!.Descendants(Ec2Answer.Ns + "availabilityZone").Select(e => e.Value));
        Assert.Equal("InvalidSnapshot.NotFound", enabled.Root.Element(Ec2Answer.Ns + "unsuccessful")!.Descendants(Ec2Answer.Ns + "code").First().Value);
        Assert.Equal(2, (await Region.DescribeFastSnapshotRestoresAsync(snapshot)).Length);
        var described = (await host.CallAsync("DescribeFastSnapshotRestores", ("Filter.1.Name", "snapshot-id"), ("Filter.1.Value.1", snapshot))).Ok();
        Assert.Equal(["enabling", "enabling"], described.All("state"));
        var disabled = (await host.CallAsync("DisableFastSnapshotRestores", ("AvailabilityZone.1", "eu-west-1a"), ("SourceSnapshotId.1", snapshot))).Ok();
        Assert.Equal("disabling", disabled.One("state"));
        Assert.Equal("InvalidZone.NotFound", (await host.CallAsync("EnableFastSnapshotRestores", ("AvailabilityZone.1", "us-east-1a"), ("SourceSnapshotId.1", snapshot))).Code);
    }

    [Fact]
    public async Task RecycleBin_ListAndRestore_MatchTheEngine()
    {
        var snapshot = await SnapshotAsync(await VolumeAsync());
        (await host.CallAsync("DeleteSnapshot", ("SnapshotId", snapshot))).Ok();
        var listed = (await host.CallAsync("ListSnapshotsInRecycleBin", ("SnapshotId.1", snapshot))).Ok();
        Assert.Equal([snapshot], listed.All("snapshotId"));
        Assert.NotNull(listed.One("recycleBinExitTime"));
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("DescribeSnapshots", ("SnapshotId.1", snapshot))).Code);
        var restored = (await host.CallAsync("RestoreSnapshotFromRecycleBin", ("SnapshotId", snapshot))).Ok();
        Assert.Equal(("completed", snapshot), (restored.One("status"), restored.One("snapshotId")));
        Assert.Contains(await Region.DescribeSnapshotsAsync(), s => s.Id == snapshot);
        Assert.Equal("InvalidSnapshot.NotFound", (await host.CallAsync("RestoreSnapshotFromRecycleBin", ("SnapshotId", snapshot))).Code);
    }

    [Fact]
    public async Task RegionsAndZones_AreTheServedRegions_AndTheRegionsZonesAbc()
    {
        var regions = (await host.CallAsync("DescribeRegions")).Ok();
        Assert.Equal(["eu-central-1", "eu-west-1"], regions.All("regionName"));
        Assert.Equal("InvalidParameterValue", (await host.CallAsync("DescribeRegions", ("RegionName.1", "mars-1"))).Code);
        var zones = (await host.CallAsync("DescribeAvailabilityZones", ("ZoneName.1", "eu-west-1c"))).Ok();
        Assert.Equal(["eu-west-1c"], zones.All("zoneName"));
        Assert.Equal("InvalidParameterValue", (await host.CallAsync("DescribeAvailabilityZones", ("ZoneName.1", "eu-west-1d"))).Code);
    }
}
