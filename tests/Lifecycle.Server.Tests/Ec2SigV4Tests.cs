using System.Net;
using System.Text;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.Server.Tests;

/// <summary>SigV4 on /ec2: what is accepted, and the EC2 code each kind of bad request gets.</summary>
public sealed class Ec2SigV4Tests : IAsyncLifetime
{
    private Ec2TestHost host = null!;

    public async Task InitializeAsync() => host = await Ec2TestHost.StartAsync();

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Fact]
    public async Task AGoodSignature_IsAccepted_ForEveryProfileOfTheFile_AsPostAndAsGet_OnBothPaths()
    {
        (await host.CallAsync("DescribeRegions")).Ok();
        (await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], Ec2TestHost.SecondKeyId, Ec2TestHost.SecondSecret))).Ok();
        (await host.SendAsync(host.Signed(HttpMethod.Get, "DescribeRegions", [("RegionName.1", Ec2TestHost.Region)]))).Ok();
        var slash = (await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeAvailabilityZones", [], path: "/ec2/"))).Ok();
        Assert.Equal(["eu-west-1a", "eu-west-1b", "eu-west-1c"], slash.All("zoneName"));
    }

    [Fact]
    public async Task AnUnsignedRequest_IsMissingAuthenticationToken()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ec2")
        {
            Content = new StringContent("Action=DescribeRegions&Version=2016-11-15", Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        var answer = await host.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("MissingAuthenticationToken", answer.Code);
    }

    [Fact]
    public async Task AWrongSecret_AnUnknownKey_AndATamperedBody_AreAuthFailure()
    {
        var wrongSecret = await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], secret: "not-the-secret"));
        Assert.Equal((HttpStatusCode.Unauthorized, "AuthFailure"), (wrongSecret.Status, wrongSecret.Code));
        var unknownKey = await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], keyId: "AKIANOSUCHKEY0000000"));
        Assert.Equal((HttpStatusCode.Unauthorized, "AuthFailure"), (unknownKey.Status, unknownKey.Code));

        // Signed for one body, sent with another: the body hash is part of the signature.
        var tampered = host.Signed(HttpMethod.Post, "DescribeRegions", []);
        tampered.Content = new StringContent("Action=DeleteVolume&Version=2016-11-15&VolumeId=vol-1", Encoding.UTF8);
        tampered.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded; charset=utf-8");
        Assert.Equal("AuthFailure", (await host.SendAsync(tampered)).Code);

        // A declared payload hash that is not the body's.
        var declared = host.Signed(HttpMethod.Post, "DescribeRegions", []);
        declared.Headers.TryAddWithoutValidation("x-amz-content-sha256", new string('0', 64));
        Assert.Equal("AuthFailure", (await host.SendAsync(declared)).Code);
    }

    [Fact]
    public async Task AClockSkewOverFiveMinutes_IsRequestExpired_BothWays_AndFourMinutesIsFine()
    {
        foreach (var skew in new[] { TimeSpan.FromMinutes(-6), TimeSpan.FromMinutes(6) })
        {
            var answer = await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], at: DateTimeOffset.UtcNow + skew));
            Assert.Equal((HttpStatusCode.BadRequest, "RequestExpired"), (answer.Status, answer.Code));
        }

        (await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], at: DateTimeOffset.UtcNow - TimeSpan.FromMinutes(4)))).Ok();
    }

    [Fact]
    public async Task AScopeForAnotherServiceOrAnUnservedRegion_IsAuthFailure()
    {
        var service = await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], service: "s3"));
        Assert.Equal("AuthFailure", service.Code);
        var region = await host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], region: "ap-south-1"));
        Assert.Equal("AuthFailure", region.Code);
        Assert.Contains("ap-south-1", region.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AKeyAddedToTheFile_IsAcceptedWithoutARestart_AndARemovedOneIsRefused()
    {
        await File.WriteAllTextAsync(host.CredentialsPath, "[rotated]\naws_access_key_id = AKIAROTATED000000001\naws_secret_access_key = rotated-secret\n");
        File.SetLastWriteTimeUtc(host.CredentialsPath, DateTime.UtcNow.AddMinutes(1));
        // the file is checked for changes at most once a second
        var answer = await Eventually.UntilAsync(
            () => host.SendAsync(host.Signed(HttpMethod.Post, "DescribeRegions", [], "AKIAROTATED000000001", "rotated-secret")),
            a => a.Status == HttpStatusCode.OK, "the rotated key to be accepted", TimeSpan.FromSeconds(10), describe: a => a.Status.ToString());
        answer.Ok();
        Assert.Equal("AuthFailure", (await host.CallAsync("DescribeRegions")).Code);
    }

    [Fact]
    public async Task ABodyOverOneMebibyte_IsRefusedBeforeItIsRead()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ec2") { Content = new ByteArrayContent(new byte[(1024 * 1024) + 1]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded");
        var answer = await host.SendAsync(request);
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge"), (answer.Status, answer.Code));
    }
}
