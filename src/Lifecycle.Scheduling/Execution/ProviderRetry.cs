using Lifecycle.Core.Providers;
using Polly;
using Polly.Retry;

namespace Lifecycle.Scheduling.Execution;

/// <summary>Retry options for provider calls: only throttling and transient faults, exponential backoff with jitter.</summary>
public sealed record ProviderRetryOptions
{
    /// <summary>Retries after the first attempt (1..20).</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>First delay; doubles each retry (with jitter), capped at <see cref="MaxDelay"/>.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Builds the retry pipeline of provider calls. The retry decision lives here: <see cref="ProviderException.IsRetryable"/>.
/// A pipeline is built once and shared by every call (building one validates its options by reflection); what a retry
/// reports about its call comes through the call's <see cref="ResilienceContext"/>.
/// </summary>
public static class ProviderRetry
{
    public static ResiliencePipeline Create(ProviderRetryOptions options, TimeProvider timeProvider, Func<ProviderException, int, ResilienceContext, ValueTask>? onRetry = null)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        return builder.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<ProviderException>(e => e.IsRetryable),
            MaxRetryAttempts = Math.Clamp(options.MaxRetries, 1, 20),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.BaseDelay,
            MaxDelay = options.MaxDelay,
            OnRetry = args => args.Outcome.Exception is ProviderException e && onRetry is not null
                ? onRetry(e, args.AttemptNumber + 1, args.Context)
                : ValueTask.CompletedTask,
        }).Build();
    }
}
