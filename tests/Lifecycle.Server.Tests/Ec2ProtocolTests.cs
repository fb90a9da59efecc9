using System.Collections.Immutable;
using System.Net;
using Lifecycle.Core.Providers;
using Lifecycle.Server.Ec2;

namespace Lifecycle.Server.Tests;

/// <summary>The ec2 Query protocol: parameter parsing, the error envelope, and pagination.</summary>
public sealed class Ec2ProtocolTests : IAsyncLifetime
{
    private Ec2TestHost host = null!;

    public async Task InitializeAsync() => host = await Ec2TestHost.StartAsync();

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Fact]
    public void Parsing_ReadsFlatLists_NestedFilterValues_AndTagSpecifications()
    {
        var p = Ec2Parameters.Parse(
            "Action=DescribeSnapshots&Owner.1=self&Owner.2=123&Filter.1.Name=tag%3AEnv&Filter.1.Value.1=prod&Filter.1.Value.2=dev&Filter.2.Name=status&Filter.2.Value.1=completed",
            "TagSpecification.1.ResourceType=snapshot&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=x+y&TagSpecification.1.Tag.2.Key=a%2Bb%26c&TagSpecification.1.Tag.2.Value=%C3%A9");
        Assert.Equal(["self", "123"], p.List("Owner").ToArray());
        var filters = p.Filters();
        Assert.Equal("tag:Env", filters[0].Name);
        Assert.Equal(["prod", "dev"], filters[0].Values.ToArray());
        Assert.Equal(("status", "completed"), (filters[1].Name, filters[1].Values.Single()));
        var tags = p.TagSpecifications("snapshot");
        Assert.Equal("x y", tags["Name"]);
        Assert.Equal("é", tags["a+b&c"]);
    }

    [Theory]
    [InlineData("Owner.1=a&Owner.3=b", "Owner")]
    [InlineData("Owner.0=a", "Owner.0")]
    [InlineData("Owner.1=a&Owner.1=b", "Owner.1")]
    [InlineData("Owner.x=a", "Owner.x")]
    [InlineData("Owner.1=%ZZ", "percent")]
    public void Parsing_RefusesGapsZeroIndexesDuplicatesAndBadEscapes_NamingTheParameter(string form, string named)
    {
        var error = Assert.Throws<Ec2Error>(() => Ec2Parameters.Parse(form).List("Owner"));
        Assert.Equal("InvalidParameterValue", error.Code);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_UseEc2sEnvelope_WithCodeMessageAndRequestId()
    {
        var answer = await host.CallAsync("DescribeSnapshots", ("SnapshotId.1", "snap-0123456789abcdef0"));
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("Response", answer.Root.Name.LocalName);
        Assert.Equal("InvalidSnapshot.NotFound", answer.Code);
        Assert.Contains("snap-0123456789abcdef0", answer.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(answer.Root.Element("RequestID")?.Value));
    }

    [Theory]
    [InlineData("NoSuchAction", new string[0], "InvalidAction", "NoSuchAction")]
    [InlineData("DescribeSnapshots", new[] { "MaxResults", "4" }, "InvalidParameterValue", "MaxResults")]
    [InlineData("DescribeSnapshots", new[] { "MaxResults", "1001" }, "InvalidParameterValue", "MaxResults")]
    [InlineData("DescribeSnapshots", new[] { "MaxResults", "ten" }, "InvalidParameterValue", "MaxResults")]
    [InlineData("DescribeSnapshots", new[] { "MaxResults", "5", "SnapshotId.1", "snap-1" }, "InvalidParameterCombination", "MaxResults")]
    [InlineData("DescribeSnapshots", new[] { "Filter.1.Name", "colour", "Filter.1.Value.1", "x" }, "InvalidParameterValue", "colour")]
    [InlineData("DescribeSnapshots", new[] { "Filter.1.Name", "status" }, "MissingParameter", "Filter.1.Value.1")]
    [InlineData("DescribeSnapshots", new[] { "SnapshotId.1", "vol-1" }, "InvalidSnapshotID.Malformed", "vol-1")]
    [InlineData("DescribeSnapshots", new[] { "NextToken", "garbage" }, "InvalidPaginationToken", "NextToken")]
    [InlineData("CreateSnapshot", new string[0], "MissingParameter", "VolumeId")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1z", "Size", "1" }, "InvalidZone.NotFound", "AvailabilityZone")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1a" }, "MissingParameter", "Size")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1a", "Size", "0" }, "InvalidParameterValue", "Size")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1a", "Size", "1", "VolumeType", "floppy" }, "InvalidParameterValue", "VolumeType")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1a", "Size", "1", "Encrypted", "yes" }, "InvalidParameterValue", "Encrypted")]
    [InlineData("CreateVolume", new[] { "AvailabilityZone", "eu-west-1a", "Size", "1", "TagSpecification.1.ResourceType", "snapshot", "TagSpecification.1.Tag.1.Key", "a" }, "InvalidParameterValue", "ResourceType")]
    [InlineData("CreateTags", new[] { "ResourceId.1", "ami-1", "Tag.1.Key", "a" }, "InvalidID", "ami-1")]
    [InlineData("CreateTags", new[] { "ResourceId.1", "vol-1", "Tag.1.Key", "aws:x" }, "InvalidParameterValue", "aws:")]
    [InlineData("AttachVolume", new[] { "VolumeId", "vol-1", "InstanceId", "x-1", "Device", "/dev/sdf" }, "InvalidInstanceID.Malformed", "x-1")]
    [InlineData("RestoreSnapshotTier", new[] { "SnapshotId", "snap-1", "TemporaryRestoreDays", "3", "PermanentRestore", "true" }, "InvalidParameterCombination", "PermanentRestore")]
    [InlineData("ModifySnapshotTier", new[] { "SnapshotId", "snap-1", "StorageTier", "cold" }, "InvalidParameterValue", "StorageTier")]
    [InlineData("CopySnapshot", new[] { "SourceRegion", "eu-west-1", "SourceSnapshotId", "snap-1", "DestinationRegion", "us-east-1" }, "InvalidParameterValue", "DestinationRegion")]
    public async Task BadInput_IsA400WithEc2sCode_AndAMessageNamingTheParameter(string action, string[] pairs, string code, string named)
    {
        var parameters = pairs.Chunk(2).Select(p => (p[0], p[1])).ToArray();
        var answer = await host.CallAsync(action, parameters);
        Assert.True(answer.Status == HttpStatusCode.BadRequest, answer.Text);
        Assert.Equal(code, answer.Code);
        Assert.Contains(named, answer.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Action=DescribeRegions", "MissingParameter", "Version")]
    [InlineData("Action=DescribeRegions&Version=2014-01-01", "InvalidParameterValue", "Version")]
    [InlineData("Version=2016-11-15", "MissingParameter", "Action")]
    [InlineData("Action=DescribeRegions&Version=2016-11-15&Version=2016-11-15", "InvalidParameterValue", "Version")]
    public async Task AMissingActionOrVersion_AWrongVersion_AndARepeatedParameter_AreRefused(string form, string code, string named)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/ec2") { Content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(form)) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
        host.Sign(request, form, Ec2TestHost.KeyId, Ec2TestHost.Secret, Ec2TestHost.Region, DateTimeOffset.UtcNow);
        var answer = await host.SendAsync(request);
        Assert.Equal((HttpStatusCode.BadRequest, code), (answer.Status, answer.Code));
        Assert.Contains(named, answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DryRun_ChecksTheRequest_AndAnswersDryRunOperationWithoutActing()
    {
        var answer = await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1a"), ("Size", "1"), ("DryRun", "true"));
        Assert.Equal(((HttpStatusCode)412, "DryRunOperation"), (answer.Status, answer.Code));
        Assert.DoesNotContain(Ec2TestHost.Region, host.Engine.Regions);
        Assert.Equal("InvalidZone.NotFound", (await host.CallAsync("CreateVolume", ("AvailabilityZone", "x"), ("Size", "1"), ("DryRun", "true"))).Code);
    }

    [Fact]
    public async Task APagedWalk_SeesEverySnapshotOnce_WithoutGapsOrDuplicates_AndTheTokenRoundTrips()
    {
        var region = host.Engine.Region(Ec2TestHost.Region);
        var volume = await region.CreateVolumeAsync("eu-west-1a", 512 * 1024, ImmutableSortedDictionary<string, string>.Empty);
        var created = new List<string>();
        for (var i = 0; i < 23; i++)
        {
            var tags = ImmutableSortedDictionary<string, string>.Empty.Add("walk", i % 2 == 0 ? "even" : "odd");
            created.Add((await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, tags))).Id);
        }

        await region.WaitForBackgroundWorkAsync();
        foreach (var (filter, expected) in new[] { ("", created), ("even", created.Where((_, i) => i % 2 == 0).ToList()) })
        {
            var seen = new List<string>();
            string? token = null;
            var pages = 0;
            do
            {
                var parameters = new List<(string, string)> { ("MaxResults", "5"), ("Owner.1", "self") };
                if (filter.Length > 0)
                {
                    parameters.AddRange([("Filter.1.Name", "tag:walk"), ("Filter.1.Value.1", filter)]);
                }

                if (token is not null)
                {
                    parameters.Add(("NextToken", token));
                }

                var page = (await host.CallAsync("DescribeSnapshots", [.. parameters])).Ok();
                var ids = page.Root.Element(Ec2Answer.Ns + "snapshotSet")!.Elements(Ec2Answer.Ns + "item").Select(e => e.Element(Ec2Answer.Ns + "snapshotId")!.Value).ToList();
                Assert.True(ids.Count <= 5);
                seen.AddRange(ids);
                var next = page.One("nextToken");
                Assert.NotEqual(token, next);
                token = next;
                pages++;
            }
            while (token is not null && pages < 20);

            Assert.Equal(expected.Order(StringComparer.Ordinal), seen);
            Assert.Equal((expected.Count + 4) / 5, pages);
        }

        // A token of one action is not a token of another.
        var first = (await host.CallAsync("DescribeSnapshots", ("MaxResults", "5"))).Ok().One("nextToken")!;
        Assert.Equal("InvalidPaginationToken", (await host.CallAsync("DescribeVolumes", ("NextToken", first))).Code);
    }

    [Fact]
    public async Task WithoutMaxResults_DescribeSnapshotsReturnsEverything_InOneAnswer()
    {
        var region = host.Engine.Region(Ec2TestHost.Region);
        var volume = await region.CreateVolumeAsync("eu-west-1a", 512 * 1024, ImmutableSortedDictionary<string, string>.Empty);
        for (var i = 0; i < 7; i++)
        {
            await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty));
        }

        var all = (await host.CallAsync("DescribeSnapshots", ("Owner.1", "self"))).Ok();
        Assert.Equal(7, all.All("snapshotId").Count);
        Assert.Null(all.One("nextToken"));
        Assert.Empty((await host.CallAsync("DescribeSnapshots", ("Owner.1", "amazon"))).Ok().All("snapshotId"));
    }
}
