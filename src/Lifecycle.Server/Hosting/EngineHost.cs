using Lifecycle.Aws;
using Lifecycle.Aws.Configuration;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;

namespace Lifecycle.Server.Hosting;

/// <summary>The engine a server runs policies against, opened for the server's lifetime.</summary>
public sealed class EngineHost : IDisposable
{
    private readonly IDisposable? owned;

    private EngineHost(IEngineRegistry engines, string description, LocalEngine.LocalEngine? local, IDisposable? owned)
    {
        Engines = engines;
        Description = description;
        Local = local;
        this.owned = owned;
    }

    /// <summary>The engines policies run against (a policy's <c>engine:</c> picks one).</summary>
    public IEngineRegistry Engines { get; }

    public string Description { get; }

    /// <summary>The bundled engine when <c>--engine local</c> (the demo seeds volumes through it).</summary>
    public LocalEngine.LocalEngine? Local { get; }

    public static EngineHost Open(ServerOptions options, TimeProvider timeProvider)
    {
        switch (options.Engine)
        {
            case "local":
                var directory = Path.GetFullPath(options.EngineDirectoryOrDefault);
                var keyRing = Path.Combine(Path.GetFullPath(options.DataDirectory), "keyring.json");
                if (options.Demo)
                {
                    EnsureDemoKeys(keyRing);
                }

                var engine = LocalEngine.LocalEngine.Open(new LocalEngineOptions
                {
                    DataDirectory = directory,
                    KeyRingPath = keyRing,
                    TimeProvider = timeProvider,
                    // The demo and the tests watch fast-restore states change within a run.
                    FastRestoreEnablingTime = TimeSpan.FromSeconds(5),
                    FastRestoreOptimizingTime = TimeSpan.FromSeconds(5),
                    FastRestoreDisablingTime = TimeSpan.FromSeconds(5),
                });
                // engine: aws policies run on AWS beside the local ones (credentials are resolved at their first call).
                var aws = new AwsProviderRegistry(AwsOptions(options, timeProvider));
                return new EngineHost(
                    new EngineRegistry(EngineKind.Local, new Dictionary<EngineKind, IProviderRegistry> { [EngineKind.Local] = engine, [EngineKind.Aws] = aws }),
                    $"local engine at {directory}", engine, new Owned(engine, aws));
            case "aws":
                // No engine in this process. Against an EC2-compatible endpoint (an engine host's /ec2), engine: local
                // policies run there too: a cluster on the local engine is one engine host and N such nodes.
                var provider = new AwsProviderRegistry(AwsOptions(options, timeProvider));
                var engines = new Dictionary<EngineKind, IProviderRegistry> { [EngineKind.Aws] = provider };
                if (options.AwsEndpointUrl is not null)
                {
                    engines[EngineKind.Local] = provider;
                }

                return new EngineHost(new EngineRegistry(EngineKind.Aws, engines),
                    options.AwsEndpointUrl is null ? "AWS EC2" : $"EC2-compatible endpoint {options.AwsEndpointUrl}", null, provider);
            default:
                throw new ArgumentException($"unknown engine '{options.Engine}'; use local or aws");
        }
    }

    public void Dispose() => owned?.Dispose();

    /// <summary>The AWS provider's options from serve's: its regions are --regions plus any a policy names.</summary>
    internal static AwsProviderOptions AwsOptions(ServerOptions options, TimeProvider timeProvider)
    {
        Uri? endpoint = null;
        if (options.AwsEndpointUrl is { } url && (!Uri.TryCreate(url, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https")))
        {
            throw new ArgumentException($"--aws-endpoint-url: '{url}' is not an http(s) URL");
        }

        return new AwsProviderOptions
        {
            Regions = [.. options.Regions],
            AnyRegion = true,
            EndpointUrl = endpoint,
            Profile = options.AwsProfile,
            RoleArn = options.AwsRoleArn,
            TimeProvider = timeProvider,
        };
    }

    private sealed class Owned(params IDisposable[] parts) : IDisposable
    {
        public void Dispose()
        {
            foreach (var part in parts)
            {
                part.Dispose();
            }
        }
    }

    /// <summary>
    /// The demo runs the example policies too: they encrypt copies with the key ring's default key and with
    /// <c>dr-key</c>, so the demo's key ring has both (created once, kept outside the engine directory).
    /// </summary>
    private static void EnsureDemoKeys(string keyRing)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(keyRing)!);
        var existing = File.Exists(keyRing) ? Lifecycle.LocalEngine.Encryption.KeyRing.Load(keyRing).KeyIds : [];
        if (!existing.Contains("demo-default"))
        {
            Lifecycle.LocalEngine.Encryption.KeyRing.AddKey(keyRing, "demo-default", makeDefault: true);
        }

        if (!existing.Contains("dr-key"))
        {
            Lifecycle.LocalEngine.Encryption.KeyRing.AddKey(keyRing, "dr-key", makeDefault: false);
        }
    }
}
