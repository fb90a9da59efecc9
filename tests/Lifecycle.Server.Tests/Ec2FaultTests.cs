using System.Net;
using Lifecycle.Server.Ec2;

namespace Lifecycle.Server.Tests;

/// <summary>The LIFECYCLE_EC2_FAULTS failpoint: its shares of calls fail in EC2's envelope before anything happens.</summary>
public sealed class Ec2FaultTests
{
    [Theory]
    [InlineData("throttle=1", HttpStatusCode.ServiceUnavailable, "RequestLimitExceeded")]
    [InlineData("error=1", HttpStatusCode.InternalServerError, "InternalError")]
    public async Task EveryCall_FailsWithTheFault_AndNothingIsCreated(string faults, HttpStatusCode status, string code)
    {
        await using var host = await Ec2TestHost.StartAsync(endpoint: new Ec2EndpointOptions { Regions = [Ec2TestHost.Region] }.WithFaultsFrom(faults));
        var answer = await host.CallAsync("CreateVolume", ("AvailabilityZone", "eu-west-1a"), ("Size", "1"));
        Assert.Equal((status, code), (answer.Status, answer.Code));
        Assert.Empty(host.Engine.Regions);
    }

    [Fact]
    public async Task AShareOfCalls_Fails_AndTheRestSucceed()
    {
        await using var host = await Ec2TestHost.StartAsync(endpoint: new Ec2EndpointOptions { Regions = [Ec2TestHost.Region] }.WithFaultsFrom("throttle=0.5"));
        var answers = new List<Ec2Answer>();
        for (var i = 0; i < 200; i++)
        {
            answers.Add(await host.CallAsync("DescribeRegions"));
        }

        var throttled = answers.Count(a => a.Code == "RequestLimitExceeded");
        Assert.InRange(throttled, 50, 150);
        Assert.Equal(200 - throttled, answers.Count(a => a.Status == HttpStatusCode.OK));
    }

    [Theory]
    [InlineData("throttle=2")]
    [InlineData("slow=0.1")]
    [InlineData("throttle=0.6,error=0.6")]
    [InlineData("throttle")]
    public void AMalformedValue_IsRefused_NamingTheVariable(string faults) =>
        Assert.Contains(Ec2EndpointOptions.FaultsVariable, Assert.Throws<ArgumentException>(() => new Ec2EndpointOptions().WithFaultsFrom(faults)).Message, StringComparison.Ordinal);
}
