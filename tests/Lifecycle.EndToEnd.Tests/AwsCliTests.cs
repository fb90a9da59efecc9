using System.Text.Json;
using Lifecycle.LocalEngine;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// A real `lifecycle serve --engine local` driven by the real aws CLI (Debian's awscli, /usr/bin/aws) through
/// <c>--endpoint-url …/ec2</c>, signing with the server's own DATA/ec2-credentials: every action the endpoint serves,
/// the CLI's waiter and paginator, and EC2's error codes, each checked against what the server's engine holds (its
/// REST API) or a second describe.
/// </summary>
public sealed class AwsCliTests(AwsCliTests.Server server) : IClassFixture<AwsCliTests.Server>
{
    public const string West = "eu-west-1";
    public const string Central = "eu-central-1";

    /// <summary>One server for the class; deleted snapshots of eu-west-1 go to the recycle bin for 7 days.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private readonly TestEnvironment environment = new("awscli");

        public ServerProcess Process { get; private set; } = null!;

        public string Endpoint => Process.BaseAddress + "ec2";

        public string Credentials => Path.Combine(environment.DataDirectory, "ec2-credentials");

        public string WrongCredentials => Path.Combine(environment.Root, "wrong-credentials");

        public async Task InitializeAsync()
        {
            using (var engine = environment.OpenEngine())
            {
                await engine.Region(West).CreateRecycleBinRuleAsync(new RecycleBinRule(7));
            }

            Process = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--regions", $"{West},{Central}"]);
            var key = File.ReadAllLines(Credentials).Single(l => l.StartsWith("aws_access_key_id", StringComparison.Ordinal)).Split('=')[1].Trim();
            await File.WriteAllTextAsync(WrongCredentials, $"[default]\naws_access_key_id = {key}\naws_secret_access_key = not-the-secret\n");
        }

        public async Task DisposeAsync()
        {
            await Process.DisposeAsync();
            environment.Dispose();
        }
    }

    private async Task<AwsCli.Result> AwsAsync(string region, params string[] arguments) => await AwsWithAsync(server.Credentials, region, arguments);

    private Task<AwsCli.Result> AwsWithAsync(string credentials, string region, params string[] arguments) =>
        AwsCli.Ec2Async(server.Endpoint, credentials, region, arguments);

    private static IEnumerable<string> Strings(JsonElement array, string property) => array.EnumerateArray().Select(e => e.GetProperty(property).GetString()!);

    /// <summary>What the server's engine holds, through its REST API.</summary>
    private async Task<Dictionary<string, JsonElement>> EngineSnapshotsAsync(string region) =>
        (await server.Process.GetJsonAsync($"/api/v1/snapshots?region={region}")).EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!, s => s);

    private async Task<string> VolumeAsync(string zone = West + "a", params string[] more) =>
        (await AwsAsync(West, ["create-volume", "--availability-zone", zone, "--size", "1", .. more])).Ok().GetProperty("VolumeId").GetString()!;

    [Fact]
    public async Task VolumesAndInstances_CreateDescribeAttachDetachDelete_WithAClientToken()
    {
        var token = Guid.NewGuid().ToString();
        string[] create = ["create-volume", "--availability-zone", West + "b", "--size", "2", "--client-token", token,
            "--tag-specifications", "ResourceType=volume,Tags=[{Key=role,Value=cli-volume}]"];
        var first = await AwsAsync(West, create);
        var again = await AwsAsync(West, create);
        var volumeId = first.Ok().GetProperty("VolumeId").GetString()!;
        Assert.Equal(volumeId, again.Ok().GetProperty("VolumeId").GetString());
        Assert.Equal(("available", 2, West + "b"), (first.Json.GetProperty("State").GetString(), first.Json.GetProperty("Size").GetInt32(), first.Json.GetProperty("AvailabilityZone").GetString()));

        var described = (await AwsAsync(West, "describe-volumes", "--filters", "Name=tag:role,Values=cli-volume")).Ok().GetProperty("Volumes");
        Assert.Equal([volumeId], Strings(described, "VolumeId"));
        (await AwsAsync(West, "describe-volumes", "--volume-ids", "vol-0000000000000000f")).Fails("InvalidVolume.NotFound");

        var attached = (await AwsAsync(West, "attach-volume", "--volume-id", volumeId, "--instance-id", "i-0c11", "--device", "/dev/xvda")).Ok();
        Assert.Equal("attached", attached.GetProperty("State").GetString());
        var instances = (await AwsAsync(West, "describe-instances", "--instance-ids", "i-0c11")).Ok().GetProperty("Reservations");
        var instance = instances.EnumerateArray().Single().GetProperty("Instances").EnumerateArray().Single();
        Assert.Equal(("i-0c11", "running", volumeId), (instance.GetProperty("InstanceId").GetString(), instance.GetProperty("State").GetProperty("Name").GetString(),
            instance.GetProperty("BlockDeviceMappings")[0].GetProperty("Ebs").GetProperty("VolumeId").GetString()));
        (await AwsAsync(West, "describe-instances", "--instance-ids", "i-0fff")).Fails("InvalidInstanceID.NotFound");
        (await AwsAsync(West, "delete-volume", "--volume-id", volumeId)).Fails("VolumeInUse");

        (await AwsAsync(West, "detach-volume", "--volume-id", volumeId)).Ok();
        var after = (await AwsAsync(West, "describe-volumes", "--volume-ids", volumeId)).Ok().GetProperty("Volumes")[0];
        Assert.Equal("available", after.GetProperty("State").GetString());
        (await AwsAsync(West, "detach-volume", "--volume-id", volumeId)).Fails("IncorrectState");
        (await AwsAsync(West, "delete-volume", "--volume-id", volumeId)).Ok();
        (await AwsAsync(West, "delete-volume", "--volume-id", volumeId)).Fails("InvalidVolume.NotFound");
    }

    [Fact]
    public async Task Snapshots_CreateWaitDescribeCopyRestoreDelete_MatchTheEngine_AndKeepLatestHolds()
    {
        var volumeId = await VolumeAsync(more: ["--tag-specifications", "ResourceType=volume,Tags=[{Key=app,Value=db}]"]);
        var created = (await AwsAsync(West, "create-snapshot", "--volume-id", volumeId, "--description", "nightly a+b&c/d é",
            "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=lifecycle:policy,Value=cli-policy},{Key=Name,Value=x y}]")).Ok();
        var snapshotId = created.GetProperty("SnapshotId").GetString()!;
        (await AwsAsync(West, "wait", "snapshot-completed", "--snapshot-ids", snapshotId)).Ok();

        var engine = (await EngineSnapshotsAsync(West))[snapshotId];
        Assert.Equal(("completed", volumeId, "cli-policy", "x y"), (engine.GetProperty("state").GetString(), engine.GetProperty("volumeId").GetString(),
            engine.GetProperty("tags").GetProperty("lifecycle:policy").GetString(), engine.GetProperty("tags").GetProperty("Name").GetString()));
        var byId = (await AwsAsync(West, "describe-snapshots", "--snapshot-ids", snapshotId)).Ok().GetProperty("Snapshots")[0];
        Assert.Equal(("completed", "nightly a+b&c/d é", "standard", "100%"), (byId.GetProperty("State").GetString(), byId.GetProperty("Description").GetString(),
            byId.GetProperty("StorageTier").GetString(), byId.GetProperty("Progress").GetString()));

        // Every filter the endpoint serves, each narrowing to this snapshot (or to nothing).
        string[][] filters =
        [
            ["Name=tag:Name,Values=x y"], ["Name=tag-key,Values=lifecycle:policy", $"Name=volume-id,Values={volumeId}"],
            ["Name=status,Values=completed", $"Name=snapshot-id,Values={snapshotId}"], ["Name=storage-tier,Values=standard", $"Name=volume-id,Values={volumeId}"],
        ];
        var results = await Task.WhenAll(filters.Select(f => AwsAsync(West, ["describe-snapshots", "--owner-ids", "self", "--filters", .. f])));
        Assert.All(results, r => Assert.Equal([snapshotId], Strings(r.Ok().GetProperty("Snapshots"), "SnapshotId")));
        Assert.Empty((await AwsAsync(West, "describe-snapshots", "--owner-ids", "amazon", "--filters", $"Name=volume-id,Values={volumeId}")).Ok().GetProperty("Snapshots").EnumerateArray());
        (await AwsAsync(West, "describe-snapshots", "--snapshot-ids", "snap-0000000000000000f")).Fails("InvalidSnapshot.NotFound");

        // keepLatest: the newest completed snapshot of the volume under its policy is not deleted, here either.
        (await AwsAsync(West, "delete-snapshot", "--snapshot-id", snapshotId)).Fails("OperationNotPermitted");
        (await AwsAsync(West, "create-tags", "--resources", snapshotId, "--tags", "Key=lifecycle:policy,Value=other")).Fails("InvalidParameterValue");
        Assert.Equal("cli-policy", (await EngineSnapshotsAsync(West))[snapshotId].GetProperty("tags").GetProperty("lifecycle:policy").GetString());

        (await AwsAsync(West, "attach-volume", "--volume-id", volumeId, "--instance-id", "i-0c22", "--device", "/dev/xvda")).Ok();
        var set = (await AwsAsync(West, "create-snapshots", "--instance-specification", "InstanceId=i-0c22", "--copy-tags-from-source", "volume",
            "--description", "instance set")).Ok().GetProperty("Snapshots");
        var fromInstance = set.EnumerateArray().Single().GetProperty("SnapshotId").GetString()!;
        (await AwsAsync(West, "wait", "snapshot-completed", "--snapshot-ids", fromInstance)).Ok();
        Assert.Equal("db", (await EngineSnapshotsAsync(West))[fromInstance].GetProperty("tags").GetProperty("app").GetString());
        (await AwsAsync(West, "create-snapshots", "--instance-specification", "InstanceId=i-0fff")).Fails("InvalidInstanceID.NotFound");

        var copy = (await AwsAsync(Central, "copy-snapshot", "--source-region", West, "--source-snapshot-id", fromInstance, "--description", "dr copy",
            "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=copy,Value=yes}]")).Ok().GetProperty("SnapshotId").GetString()!;
        (await AwsAsync(Central, "wait", "snapshot-completed", "--snapshot-ids", copy)).Ok();
        var copied = (await EngineSnapshotsAsync(Central))[copy];
        Assert.Equal((fromInstance, "yes"), (copied.GetProperty("sourceSnapshotId").GetString(), copied.GetProperty("tags").GetProperty("copy").GetString()));
        (await AwsAsync(Central, "copy-snapshot", "--source-region", West, "--source-snapshot-id", "snap-0000000000000000f")).Fails("InvalidSnapshot.NotFound");

        var restoredVolume = (await AwsAsync(Central, "create-volume", "--availability-zone", Central + "c", "--snapshot-id", copy, "--size", "2")).Ok();
        Assert.Equal((copy, 2), (restoredVolume.GetProperty("SnapshotId").GetString(), restoredVolume.GetProperty("Size").GetInt32()));
        (await AwsAsync(Central, "create-volume", "--availability-zone", West + "a", "--snapshot-id", copy)).Fails("InvalidZone.NotFound");

        (await AwsAsync(Central, "delete-snapshot", "--snapshot-id", copy)).Ok();
        Assert.False((await EngineSnapshotsAsync(Central)).ContainsKey(copy));
        (await AwsAsync(Central, "delete-snapshot", "--snapshot-id", copy)).Fails("InvalidSnapshot.NotFound");
    }

    [Fact]
    public async Task Pagination_MaxItemsAndPageSize_WalkEveryPageOnce()
    {
        var volumeId = await VolumeAsync();
        var created = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => AwsAsync(West, "create-snapshot", "--volume-id", volumeId,
            "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=paged,Value=yes}]")));
        var ids = created.Select(c => c.Ok().GetProperty("SnapshotId").GetString()!).Order(StringComparer.Ordinal).ToList();
        (await AwsAsync(West, ["wait", "snapshot-completed", "--snapshot-ids", .. ids])).Ok();

        var all = (await AwsAsync(West, "describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:paged,Values=yes", "--page-size", "5")).Ok();
        Assert.Equal(ids, Strings(all.GetProperty("Snapshots"), "SnapshotId").Order(StringComparer.Ordinal));

        var first = (await AwsAsync(West, "describe-snapshots", "--filters", "Name=tag:paged,Values=yes", "--page-size", "5", "--max-items", "7")).Ok();
        var firstIds = Strings(first.GetProperty("Snapshots"), "SnapshotId").ToList();
        Assert.Equal(7, firstIds.Count);
        var next = first.GetProperty("NextToken").GetString()!;
        var rest = (await AwsAsync(West, "describe-snapshots", "--filters", "Name=tag:paged,Values=yes", "--page-size", "5", "--starting-token", next)).Ok();
        var restIds = Strings(rest.GetProperty("Snapshots"), "SnapshotId").ToList();
        Assert.Equal(ids, firstIds.Concat(restIds).Order(StringComparer.Ordinal));
        Assert.Empty(firstIds.Intersect(restIds));
        (await AwsAsync(West, "describe-snapshots", "--filters", "Name=tag:paged,Values=yes", "--max-results", "4", "--no-paginate")).Fails("InvalidParameterValue");
    }

    [Fact]
    public async Task TagsTiersFastRestoreAndRecycleBin_DoWhatTheEngineShows()
    {
        var volumeId = await VolumeAsync();
        var snapshotId = (await AwsAsync(West, "create-snapshot", "--volume-id", volumeId)).Ok().GetProperty("SnapshotId").GetString()!;
        (await AwsAsync(West, "wait", "snapshot-completed", "--snapshot-ids", snapshotId)).Ok();

        (await AwsAsync(West, "create-tags", "--resources", snapshotId, volumeId, "--tags", "Key=team,Value=blue", "Key=empty,Value=")).Ok();
        var tags = (await AwsAsync(West, "describe-tags", "--filters", $"Name=resource-id,Values={snapshotId}")).Ok().GetProperty("Tags");
        Assert.Equal(["empty", "team"], Strings(tags, "Key"));
        (await AwsAsync(West, "delete-tags", "--resources", snapshotId, "--tags", "Key=team")).Ok();
        Assert.Equal(["empty"], (await EngineSnapshotsAsync(West))[snapshotId].GetProperty("tags").EnumerateObject().Select(p => p.Name));
        (await AwsAsync(West, "create-tags", "--resources", "snap-0000000000000000f", "--tags", "Key=a,Value=b")).Fails("InvalidSnapshot.NotFound");

        (await AwsAsync(West, "modify-snapshot-tier", "--snapshot-id", snapshotId, "--storage-tier", "archive")).Ok();
        Assert.Equal("archive", (await EngineSnapshotsAsync(West))[snapshotId].GetProperty("tier").GetString());
        (await AwsAsync(West, "modify-snapshot-tier", "--snapshot-id", snapshotId, "--storage-tier", "archive")).Fails("IncorrectState");
        var status = (await AwsAsync(West, "describe-snapshot-tier-status", "--filters", $"Name=snapshot-id,Values={snapshotId}")).Ok().GetProperty("SnapshotTierStatuses")[0];
        Assert.Equal(("archive", "archival-completed"), (status.GetProperty("StorageTier").GetString(), status.GetProperty("LastTieringOperationStatus").GetString()));
        var restored = (await AwsAsync(West, "restore-snapshot-tier", "--snapshot-id", snapshotId, "--temporary-restore-days", "5", "--no-permanent-restore")).Ok();
        Assert.Equal(5, restored.GetProperty("RestoreDuration").GetInt32());
        (await AwsAsync(West, "restore-snapshot-tier", "--snapshot-id", snapshotId, "--permanent-restore")).Ok();
        Assert.Equal("standard", (await EngineSnapshotsAsync(West))[snapshotId].GetProperty("tier").GetString());

        // Fast restore needs the standard tier (and archiving needs it disabled), so it comes after the permanent restore.
        var enabled = (await AwsAsync(West, "enable-fast-snapshot-restores", "--availability-zones", West + "a", West + "b", "--source-snapshot-ids", snapshotId)).Ok();
        Assert.Equal(2, enabled.GetProperty("Successful").GetArrayLength());
        var fsr = (await AwsAsync(West, "describe-fast-snapshot-restores", "--filters", $"Name=snapshot-id,Values={snapshotId}")).Ok().GetProperty("FastSnapshotRestores");
        Assert.Equal([West + "a", West + "b"], Strings(fsr, "AvailabilityZone"));
        Assert.Equal(2, (await EngineSnapshotsAsync(West))[snapshotId].GetProperty("fastRestore").EnumerateObject().Count());
        var disabled = (await AwsAsync(West, "disable-fast-snapshot-restores", "--availability-zones", West + "a", West + "b", "--source-snapshot-ids", snapshotId)).Ok();
        Assert.All(disabled.GetProperty("Successful").EnumerateArray(), s => Assert.Equal("disabling", s.GetProperty("State").GetString()));
        var failed = (await AwsAsync(West, "enable-fast-snapshot-restores", "--availability-zones", West + "a", "--source-snapshot-ids", "snap-0000000000000000f")).Ok();
        Assert.Equal("InvalidSnapshot.NotFound", failed.GetProperty("Unsuccessful")[0].GetProperty("FastSnapshotRestoreStateErrors")[0].GetProperty("Error").GetProperty("Code").GetString());

        (await AwsAsync(West, "delete-snapshot", "--snapshot-id", snapshotId)).Ok();
        Assert.False((await EngineSnapshotsAsync(West)).ContainsKey(snapshotId));
        var bin = (await AwsAsync(West, "list-snapshots-in-recycle-bin", "--snapshot-ids", snapshotId)).Ok().GetProperty("Snapshots");
        Assert.Equal([snapshotId], Strings(bin, "SnapshotId"));
        var back = (await AwsAsync(West, "restore-snapshot-from-recycle-bin", "--snapshot-id", snapshotId)).Ok();
        Assert.Equal("completed", back.GetProperty("State").GetString());
        Assert.True((await EngineSnapshotsAsync(West)).ContainsKey(snapshotId));
        (await AwsAsync(West, "restore-snapshot-from-recycle-bin", "--snapshot-id", snapshotId)).Fails("InvalidSnapshot.NotFound");
    }

    [Fact]
    public async Task RegionsZonesAndSignatures_TheServedRegions_TheirZones_AndAWrongSecretIsAuthFailure()
    {
        var regions = (await AwsAsync(West, "describe-regions")).Ok().GetProperty("Regions");
        Assert.Equal([Central, West], Strings(regions, "RegionName"));
        var zones = (await AwsAsync(Central, "describe-availability-zones")).Ok().GetProperty("AvailabilityZones");
        Assert.Equal([Central + "a", Central + "b", Central + "c"], Strings(zones, "ZoneName"));
        (await AwsWithAsync(server.WrongCredentials, West, "describe-regions")).Fails("AuthFailure");
        (await AwsAsync("ap-south-1", "describe-regions")).Fails("AuthFailure");
    }
}
