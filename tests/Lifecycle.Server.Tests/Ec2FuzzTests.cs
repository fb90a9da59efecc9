using System.Collections.Immutable;
using Lifecycle.Core.Providers;

namespace Lifecycle.Server.Tests;

/// <summary>
/// Seeded random, correctly signed requests to /ec2 (so they reach every action's parsing and the engine): random
/// actions, parameter names, list indexes and values, real ids among them. None may get a 5xx, and every answer is
/// EC2's XML.
/// </summary>
public sealed class Ec2FuzzTests : IAsyncLifetime
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("LIFECYCLE_FUZZ_SEED"), out var seed) ? seed : 20_261_206;

    private static readonly string[] Actions =
    [
        "CreateVolume", "DescribeVolumes", "DeleteVolume", "AttachVolume", "DetachVolume", "DescribeInstances", "CreateSnapshot", "CreateSnapshots",
        "DescribeSnapshots", "DeleteSnapshot", "CopySnapshot", "CreateTags", "DeleteTags", "DescribeTags", "ModifySnapshotTier", "RestoreSnapshotTier",
        "DescribeSnapshotTierStatus", "EnableFastSnapshotRestores", "DisableFastSnapshotRestores", "DescribeFastSnapshotRestores",
        "ListSnapshotsInRecycleBin", "RestoreSnapshotFromRecycleBin", "DescribeRegions", "DescribeAvailabilityZones", "RunInstances", "",
    ];

    private static readonly string[] Names =
    [
        "SnapshotId", "SnapshotId.1", "SnapshotId.2", "SnapshotId.0", "VolumeId", "VolumeId.1", "InstanceId", "InstanceId.1", "Device", "AvailabilityZone",
        "AvailabilityZone.1", "AvailabilityZone.3", "Size", "SourceRegion", "SourceSnapshotId", "SourceSnapshotId.1", "DestinationRegion", "Filter.1.Name",
        "Filter.1.Value.1", "Filter.1.Value.2", "Filter.2.Name", "Filter.2.Value.1", "Filter.1", "MaxResults", "NextToken", "Owner.1", "RestorableBy.1",
        "TagSpecification.1.ResourceType", "TagSpecification.1.Tag.1.Key", "TagSpecification.1.Tag.1.Value", "TagSpecification.2.Tag.1.Key",
        "ResourceId.1", "ResourceId.2", "Tag.1.Key", "Tag.1.Value", "Tag.2.Key", "Tag.9999.Key", "StorageTier", "TemporaryRestoreDays", "PermanentRestore",
        "ClientToken", "Encrypted", "KmsKeyId", "VolumeType", "Iops", "Description", "InstanceSpecification.InstanceId", "InstanceSpecification.ExcludeBootVolume",
        "InstanceSpecification.ExcludeDataVolumeId.1", "CopyTagsFromSource", "DryRun", "RegionName.1", "ZoneName.1", "ZoneId.1", "Version", "Action",
    ];

    private Ec2TestHost host = null!;
    private string[] ids = [];

    public async Task InitializeAsync()
    {
        host = await Ec2TestHost.StartAsync();
        var region = host.Engine.Region(Ec2TestHost.Region);
        var volume = await region.CreateVolumeAsync("eu-west-1a", 512 * 1024, ImmutableSortedDictionary<string, string>.Empty.Add("k", "v"));
        await region.AttachVolumeAsync(volume.Id, "i-0fuzz", "/dev/xvda", isBoot: true);
        var snapshot = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:policy", "p")));
        await region.WaitForSnapshotAsync(snapshot.Id);
        ids = [volume.Id, snapshot.Id, "i-0fuzz"];
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Fact]
    public async Task ThreeThousandSignedRandomRequests_GetNo5xx_AndAlwaysEc2sXml()
    {
        var random = new Random(Seed);
        var failures = new List<string>();
        for (var i = 0; i < 3000; i++)
        {
            var action = Actions[random.Next(Actions.Length)];
            var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var n = random.Next(0, 7); n > 0; n--)
            {
                parameters[random.NextDouble() < 0.9 ? Names[random.Next(Names.Length)] : Text(random)] = Value(random);
            }

            var pairs = parameters.Where(p => p.Key is not ("Action" or "Version") && p.Key.Length > 0).Select(p => (p.Key, p.Value)).ToArray();
            var answer = await host.SendAsync(host.Signed(random.NextDouble() < 0.8 ? HttpMethod.Post : HttpMethod.Get, action, pairs));
            var kestrelLimit = answer.Status is System.Net.HttpStatusCode.RequestUriTooLong or System.Net.HttpStatusCode.RequestHeaderFieldsTooLarge;
            if ((int)answer.Status >= 500 || (!kestrelLimit && answer.Root.Name.LocalName != "Response" && answer.Root.Name.LocalName != action + "Response"))
            {
                failures.Add($"{action} {string.Join('&', pairs.Select(p => p.Key + "=" + p.Value[..Math.Min(40, p.Value.Length)]))} -> {(int)answer.Status} {answer.Text[..Math.Min(300, answer.Text.Length)]}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} request(s) got a 5xx:\n{string.Join('\n', failures.Take(10))}");
        (await host.CallAsync("DescribeRegions")).Ok();
    }

    private string Value(Random random) => random.Next(14) switch
    {
        0 => ids[random.Next(ids.Length)],
        1 => ids[random.Next(ids.Length)],
        2 => new[] { "eu-west-1a", "eu-west-1b", "eu-central-1a", "eu-west-1", "eu-central-1", "nowhere-1" }[random.Next(6)],
        3 => new[] { "-1", "0", "1", "5", "1000", "1001", "16384", "99999999999", "1e3" }[random.Next(9)],
        4 => new[] { "true", "false", "TRUE", "yes" }[random.Next(4)],
        5 => new[] { "archive", "standard", "volume", "snapshot", "self", "amazon", "gp3", "io1" }[random.Next(8)],
        6 => new[] { "tag:k", "tag-key", "status", "volume-id", "snapshot-id", "storage-tier", "tag:", "key", "resource-id", "state", "colour" }[random.Next(11)],
        7 => new[] { "/dev/xvda", "/dev/sdf", "xvdb", "../../etc" }[random.Next(4)],
        8 => new string('a', random.Next(200, 5000)),
        9 => "lifecycle:policy",
        10 => "bGMxCkRlc2NyaWJlU25hcHNob3RzCnNuYXAtMA",
        _ => Text(random),
    };

    private static string Text(Random random)
    {
        var choices = new[] { "", " ", "é", "名前", "😀", "a;b", "\"", "'--", "%", "%00", "+", "&", "=", "snap-", "vol-", "i-", "snap-zz!" };
        if (random.NextDouble() < 0.5)
        {
            return choices[random.Next(choices.Length)];
        }

        var chars = new char[random.Next(1, 24)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)random.Next(0x20, 0x7f);
        }

        return new string(chars);
    }
}
