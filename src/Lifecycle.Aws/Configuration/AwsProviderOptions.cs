using System.Collections.Immutable;
using Amazon.Runtime;

namespace Lifecycle.Aws.Configuration;

/// <summary>
/// Options of the AWS provider: where to connect, whose credentials, and the EC2 limits it respects.
/// Every duration has a valid range (see <see cref="Validate"/>); tests lower the limits, production keeps the defaults.
/// </summary>
public sealed record AwsProviderOptions
{
    /// <summary>The regions the provider acts in (e.g. eu-west-1). At least one.</summary>
    public ImmutableArray<string> Regions { get; init; } = [];

    /// <summary>
    /// Also act in regions beyond <see cref="Regions"/> when asked (the server: the regions its applied policies name,
    /// which an apply may change). <see cref="Regions"/> then lists what is served without a policy, and may be empty.
    /// </summary>
    public bool AnyRegion { get; init; }

    /// <summary>A shared-config profile (<c>--aws-profile</c>); null uses the SDK's default chain.</summary>
    public string? Profile { get; init; }

    /// <summary>A role to assume through STS (<c>--aws-role-arn</c>), with the chain's (or the profile's) credentials as source.</summary>
    public string? RoleArn { get; init; }

    public string RoleSessionName { get; init; } = "lifecycle";

    /// <summary>An EC2-compatible endpoint (<c>--aws-endpoint-url</c>), e.g. a Lifecycle server's /ec2; null is real AWS.</summary>
    public Uri? EndpointUrl { get; init; }

    /// <summary>Explicit credentials (tests, embedding); when set, the profile and the default chain are not consulted.</summary>
    public AWSCredentials? Credentials { get; init; }

    /// <summary>EC2 refuses a second CreateSnapshot of one volume within 15 s (SnapshotCreationPerVolumeRateExceeded). 0..10 min.</summary>
    public TimeSpan MinimumSnapshotInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Pending snapshots one volume may have before a create is refused with RetryLater (EC2 allows 5 for most volume types). 1..100.</summary>
    public int MaxPendingSnapshotsPerVolume { get; init; } = 5;

    /// <summary>
    /// Interval of the one batched DescribeSnapshots that completes the waiters of a region. Null: 15 s against AWS (the
    /// SDK waiters' interval), 1 s against an <see cref="EndpointUrl"/>. 50 ms..10 min.
    /// </summary>
    public TimeSpan? CompletionPollInterval { get; init; }

    /// <summary>The first completion check after a create (small snapshots complete in seconds); never later than the poll interval.</summary>
    public TimeSpan FirstCompletionCheck { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long an id just returned by a create or copy may still be unknown to describes (EC2's eventual consistency). 0..10 min.</summary>
    public TimeSpan EventualConsistencyWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Copies in progress per destination region (EC2: 20); further copies queue in the provider. 1..100.</summary>
    public int MaxConcurrentCopiesPerRegion { get; init; } = 20;

    /// <summary>How often one call is retried after RequestLimitExceeded, behind the region's backoff, before it reports Throttled. 0..10.</summary>
    public int ThrottleRetries { get; init; } = 3;

    /// <summary>First backoff after a throttle; doubles per throttle (with jitter) up to <see cref="MaxThrottleDelay"/>, halves per success.</summary>
    public TimeSpan ThrottleBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxThrottleDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// HTTP connections per region's client. Beyond it calls wait for a connection instead of opening more: a fire of
    /// 1,000 creates otherwise opens 1,000 connections at once. 1..1000.
    /// </summary>
    public int MaxConnectionsPerRegion { get; init; } = 256;

    /// <summary>HTTP timeout of one attempt. 1 s..5 min.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The SDK's HttpClient factory per region (tests count or record calls with it; a proxy setup may use it too).</summary>
    public Func<string, HttpClientFactory>? HttpClientFactory { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal TimeSpan EffectiveFirstCompletionCheck => FirstCompletionCheck < EffectiveCompletionPollInterval ? FirstCompletionCheck : EffectiveCompletionPollInterval;

    internal TimeSpan EffectiveCompletionPollInterval =>
        CompletionPollInterval ?? (EndpointUrl is null ? TimeSpan.FromSeconds(15) : TimeSpan.FromSeconds(1));

    /// <summary>Every problem of these options (empty when valid), all at once.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Regions.IsDefaultOrEmpty && !AnyRegion)
        {
            errors.Add("at least one region is required");
        }
        else if (!Regions.IsDefaultOrEmpty && Regions.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add("a region name is empty");
        }

        if (EndpointUrl is { IsAbsoluteUri: false } || EndpointUrl is { Scheme: not ("http" or "https") })
        {
            errors.Add($"endpoint URL {EndpointUrl} must be an absolute http(s) URL");
        }

        Range(errors, nameof(MinimumSnapshotInterval), MinimumSnapshotInterval, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Range(errors, nameof(CompletionPollInterval), EffectiveCompletionPollInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(10));
        Range(errors, nameof(FirstCompletionCheck), FirstCompletionCheck, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Range(errors, nameof(EventualConsistencyWindow), EventualConsistencyWindow, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Range(errors, nameof(ThrottleBaseDelay), ThrottleBaseDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        Range(errors, nameof(MaxThrottleDelay), MaxThrottleDelay, ThrottleBaseDelay, TimeSpan.FromMinutes(5));
        Range(errors, nameof(RequestTimeout), RequestTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        if (MaxPendingSnapshotsPerVolume is < 1 or > 100)
        {
            errors.Add($"{nameof(MaxPendingSnapshotsPerVolume)} must be 1..100, not {MaxPendingSnapshotsPerVolume}");
        }

        if (MaxConnectionsPerRegion is < 1 or > 1000)
        {
            errors.Add($"{nameof(MaxConnectionsPerRegion)} must be 1..1000, not {MaxConnectionsPerRegion}");
        }

        if (MaxConcurrentCopiesPerRegion is < 1 or > 100)
        {
            errors.Add($"{nameof(MaxConcurrentCopiesPerRegion)} must be 1..100, not {MaxConcurrentCopiesPerRegion}");
        }

        if (ThrottleRetries is < 0 or > 10)
        {
            errors.Add($"{nameof(ThrottleRetries)} must be 0..10, not {ThrottleRetries}");
        }

        return errors;
    }

    private static void Range(List<string> errors, string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{name} must be {min}..{max}, not {value}");
        }
    }
}
