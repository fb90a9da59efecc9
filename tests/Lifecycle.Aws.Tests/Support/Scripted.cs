using Amazon.Runtime;
using Lifecycle.Aws.Configuration;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.Aws.Tests.Support;

/// <summary>Registries over a <see cref="ScriptedEc2"/>, with limits lowered so the tests run in milliseconds.</summary>
public static class Scripted
{
    public const string Region = "eu-west-1";
    public const string OtherRegion = "eu-central-1";

    public static AwsProviderOptions Options(ScriptedEc2 ec2) => new()
    {
        Regions = [Region, OtherRegion],
        EndpointUrl = new Uri("http://ec2.scripted.test/"),
        Credentials = new BasicAWSCredentials("AKIAAAAAAAAAAAAAAAAA", "secret-of-the-tests"),
        HttpClientFactory = _ => new HandlerClientFactory(ec2),
        MinimumSnapshotInterval = TimeSpan.Zero,
        CompletionPollInterval = TimeSpan.FromMilliseconds(100),
        FirstCompletionCheck = TimeSpan.FromMilliseconds(20),
        EventualConsistencyWindow = TimeSpan.FromSeconds(2),
        ThrottleBaseDelay = TimeSpan.FromMilliseconds(10),
        MaxThrottleDelay = TimeSpan.FromMilliseconds(40),
    };

    public static AwsProviderRegistry Registry(ScriptedEc2 ec2, Func<AwsProviderOptions, AwsProviderOptions>? tweak = null) =>
        new((tweak ?? (o => o))(Options(ec2)));

    /// <summary>Waits for a condition (polling), failing after a timeout; never a fixed sleep before an assert.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(condition, what, timeout ?? TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5));
}
