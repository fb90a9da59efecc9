namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The scheduled run of <see cref="ScheduledServerFixture"/> with the engine on another server: an engine host
/// (<c>serve --engine local</c>, no policies) serves the local engine at <c>/ec2</c>, and the node that runs the
/// policies uses <c>--engine aws --aws-endpoint-url</c> with the host's EC2 credentials file, so every engine call of
/// the scheduler goes through AWSSDK.EC2 and SigV4 to the endpoint.
/// </summary>
public sealed class ScheduledServerOnEndpointFixture : ScheduledServerFixture
{
    private ServerProcess? engineHost;

    public ScheduledServerOnEndpointFixture()
        : base("sched-ec2")
    {
    }

    /// <summary>The engine host's log (the endpoint's side of every call).</summary>
    public string EngineHostLog { get; private set; } = "";

    protected override async Task StartEngineAsync()
    {
        // The host is on the node's clock too, so the snapshots' start times and the fires compare (it judges SigV4
        // dates on the real clock, as the node's AWS SDK signs with it).
        engineHost = await EndpointNodes.StartEngineHostAsync(Environment.DataDirectory, [Region, CopyRegion], Clock.Environment);
    }

    protected override Task<ServerProcess> StartServerAsync() =>
        EndpointNodes.StartNodeAsync(engineHost ?? throw new InvalidOperationException("the engine host is not started"), Path.Combine(Environment.Root, "node"),
            ["--policies", Environment.PoliciesDirectory, "--regions", $"{Region},{CopyRegion}"], Clock.Environment);

    protected override async Task StopEngineAsync()
    {
        if (engineHost is not null)
        {
            await engineHost.StopAsync();
            EngineHostLog = engineHost.Log;
        }
    }

    public override async Task DisposeAsync()
    {
        if (engineHost is not null)
        {
            await engineHost.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

/// <summary>Starts an engine host and the nodes that reach its engine through the EC2-compatible endpoint.</summary>
public static class EndpointNodes
{
    /// <summary>
    /// <c>serve --engine local</c> on <paramref name="dataDirectory"/> (its engine in DATA/engine, its EC2 credentials
    /// in DATA/ec2-credentials), serving <paramref name="regions"/>; it runs no policies of its own.
    /// </summary>
    public static Task<ServerProcess> StartEngineHostAsync(string dataDirectory, IEnumerable<string> regions, IReadOnlyDictionary<string, string>? environment = null) =>
        ServerProcess.StartAsync(["--data", dataDirectory, "--regions", string.Join(',', regions), "--node", "engine-host"], environment: environment);

    /// <summary>The host's credentials file, in the AWS shared-credentials format.</summary>
    public static string CredentialsOf(ServerProcess engineHost) => Path.Combine(engineHost.DataDirectory, "ec2-credentials");

    /// <summary>The environment the AWS SDK (and the aws CLI) need to sign for the host's endpoint and nothing else.</summary>
    public static Dictionary<string, string> AwsEnvironment(ServerProcess engineHost) => new()
    {
        ["AWS_SHARED_CREDENTIALS_FILE"] = CredentialsOf(engineHost),
        ["AWS_CONFIG_FILE"] = "/dev/null",
        ["AWS_PROFILE"] = "default",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    /// <summary><c>serve --engine aws --aws-endpoint-url HOST/ec2</c> with its own data directory.</summary>
    public static Task<ServerProcess> StartNodeAsync(ServerProcess engineHost, string dataDirectory, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var variables = AwsEnvironment(engineHost);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            variables[key] = value;
        }

        return ServerProcess.StartAsync(
            ["--engine", "aws", "--aws-endpoint-url", new Uri(engineHost.BaseAddress, "/ec2").ToString(), "--data", dataDirectory, .. arguments],
            environment: variables);
    }
}
