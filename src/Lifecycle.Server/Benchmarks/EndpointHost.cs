using Lifecycle.Aws;
using Lifecycle.Aws.Configuration;
using Lifecycle.Server.Ec2;
using Lifecycle.Server.Hosting;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Benchmarks;

/// <summary>
/// A benchmark's EC2-compatible endpoint: a local engine served at /ec2 on a loopback port with fresh credentials,
/// and the AWS provider that signs for it (what a node of a cluster on the local engine runs).
/// </summary>
internal sealed class EndpointHost : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly string region;

    private EndpointHost(WebApplication app, Uri address, string keyId, string secret, string region)
    {
        this.app = app;
        Address = address;
        KeyId = keyId;
        Secret = secret;
        this.region = region;
    }

    /// <summary>The server's address (the endpoint is at <see cref="Ec2Endpoint.Path"/> under it).</summary>
    public Uri Address { get; }

    /// <summary>The key pair the endpoint accepts.</summary>
    public string KeyId { get; }

    public string Secret { get; }

    public static async Task<EndpointHost> StartAsync(LocalEngine.LocalEngine engine, string root, string region, CancellationToken cancellationToken)
    {
        var keyId = Ec2Credentials.NewAccessKeyId();
        var secret = Ec2Credentials.NewSecretKey();
        var path = Path.Combine(root, "ec2-credentials-" + Guid.NewGuid().ToString("N")[..8]);
        TokenStore.WriteSecretFile(path, $"[default]\naws_access_key_id = {keyId}\naws_secret_access_key = {secret}\n");
        var builder = WebApplication.CreateSlimBuilder(ServerHostOptions.Options());
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapEc2Endpoint(engine, Ec2Credentials.Load(path), new Ec2EndpointOptions { Regions = [region] });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new EndpointHost(app, address, keyId, secret, region);
    }

    /// <summary>The AWS provider for the endpoint, with serve's defaults but for the explicit credentials.</summary>
    public AwsProviderRegistry Provider() => new(new AwsProviderOptions
    {
        Regions = [region],
        EndpointUrl = new Uri(Address, Ec2Endpoint.Path),
        Credentials = new Amazon.Runtime.BasicAWSCredentials(KeyId, Secret),
    });

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }
}
