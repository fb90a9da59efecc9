using System.Collections.Immutable;
using Amazon;
using Amazon.EC2;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using Lifecycle.Aws.Configuration;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws;

/// <summary>
/// The AWS providers: one <see cref="AmazonEC2Client"/> (and one provider with its limits and completion poller) per
/// configured region, created on first use and kept for the registry's lifetime, so the per-region limits hold across
/// runs. Credentials: <see cref="AwsProviderOptions.Credentials"/>, else the profile, else the SDK's default chain
/// (environment, shared config, web identity, container and instance metadata); with a role ARN those are the source
/// credentials of an STS AssumeRole session that the SDK refreshes.
/// </summary>
public sealed class AwsProviderRegistry : IProviderRegistry, IDisposable
{
    private readonly AwsProviderOptions options;
    private readonly Lock gate = new();
    private readonly Dictionary<string, Ec2SnapshotProvider> providers = new(StringComparer.Ordinal);
    private AWSCredentials? credentials;
    private bool disposed;

    public AwsProviderRegistry(AwsProviderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid AWS provider options: " + string.Join("; ", errors), nameof(options));
        }

        this.options = options;
    }

    public ImmutableArray<string> Regions => options.Regions.IsDefault ? [] : options.Regions;

    public ISnapshotProvider For(string region) => Provider(region);

    internal Ec2SnapshotProvider Provider(string region)
    {
        if (!Acts(region))
        {
            throw ProviderException.NotFound("UnknownRegion", $"region {region} is not one of the configured regions ({string.Join(", ", options.Regions)})");
        }

        // Under a lock rather than a Lazy: a failure (no credentials yet, an instance-metadata timeout) is not cached,
        // the next call tries again; and no second client is ever made and dropped undisposed.
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!providers.TryGetValue(region, out var provider))
            {
                credentials ??= ResolveCredentials(options);
                providers[region] = provider = Create(region, credentials);
            }

            return provider;
        }
    }

    /// <summary>A configured region, or with <see cref="AwsProviderOptions.AnyRegion"/> any well-formed name.</summary>
    private bool Acts(string region) =>
        Regions.Contains(region, StringComparer.Ordinal)
        || (options.AnyRegion && region.Length is > 0 and <= 64 && region.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));

    private Ec2SnapshotProvider Create(string region, AWSCredentials credentials)
    {
        var config = new AmazonEC2Config
        {
            // Retries are the provider's (Ec2SnapshotProvider.CallAsync): the SDK's retry quota is shared by the whole
            // process, so one region's throttling storm would make every other call fail at its first attempt.
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = 0,
            ThrottleRetries = false,
            Timeout = options.RequestTimeout,
            MaxConnectionsPerServer = options.MaxConnectionsPerRegion,
        };
        if (options.EndpointUrl is not null)
        {
            config.ServiceURL = options.EndpointUrl.ToString();
            config.AuthenticationRegion = region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }

        if (options.HttpClientFactory is not null)
        {
            config.HttpClientFactory = options.HttpClientFactory(region);
        }

        var client = new AmazonEC2Client(credentials, config);
        return new Ec2SnapshotProvider(region, client, options, r => Acts(r) ? Provider(r) : null);
    }

    internal static AWSCredentials ResolveCredentials(AwsProviderOptions options)
    {
        var source = options.Credentials;
        if (source is null && options.Profile is not null)
        {
            if (!new CredentialProfileStoreChain().TryGetAWSCredentials(options.Profile, out source))
            {
                throw new ProviderException(ProviderErrorKind.Unauthorized, "NoCredentials", $"AWS profile {options.Profile} was not found or has no credentials");
            }
        }

        if (source is null)
        {
            try
            {
                source = DefaultAWSCredentialsIdentityResolver.GetCredentials();
            }
            catch (AmazonClientException e)
            {
                throw new ProviderException(ProviderErrorKind.Unauthorized, "NoCredentials", $"no AWS credentials found (environment, shared config, container or instance metadata): {e.Message}", e);
            }
        }

        return options.RoleArn is null ? source : new AssumeRoleAWSCredentials(source, options.RoleArn, options.RoleSessionName);
    }

    public void Dispose()
    {
        List<Ec2SnapshotProvider> created;
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
            created = [.. providers.Values];
        }

        foreach (var provider in created)
        {
            provider.Dispose();
        }
    }
}
