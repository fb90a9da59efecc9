using System.Net;
using Amazon.Runtime;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws.Errors;

/// <summary>
/// The one place that turns EC2 error codes and transport failures into <see cref="ProviderException"/> kinds (the
/// executor retries by kind). The EC2 code stays in <see cref="ProviderException.Code"/>.
/// </summary>
internal static class Ec2Errors
{
    private static readonly HashSet<string> Throttling = new(StringComparer.Ordinal)
    {
        "RequestLimitExceeded", "EC2ThrottledException", "Throttling", "ThrottlingException", "RequestThrottled", "RequestThrottledException",
    };

    // Limits that clear by themselves as snapshots and copies finish: try again later, not in a tight loop.
    private static readonly HashSet<string> RetryLater = new(StringComparer.Ordinal)
    {
        "SnapshotCreationPerVolumeRateExceeded", "ConcurrentSnapshotLimitExceeded", "PendingSnapshotLimitExceeded",
        "ResourceLimitExceeded", "ConcurrentCopyLimitExceeded", "CopySnapshotLimitExceeded",
    };

    // Quotas an operator has to raise: no retry helps.
    private static readonly HashSet<string> LimitExceeded = new(StringComparer.Ordinal)
    {
        "SnapshotLimitExceeded", "TagLimitExceeded", "VolumeLimitExceeded", "MaxIOPSLimitExceeded",
    };

    private static readonly HashSet<string> IncorrectState = new(StringComparer.Ordinal)
    {
        "IncorrectState", "IncorrectInstanceState", "InvalidSnapshot.InUse", "InvalidVolume.InUse",
    };

    private static readonly HashSet<string> InvalidParameter = new(StringComparer.Ordinal)
    {
        "MissingParameter", "UnknownParameter", "InvalidFilter", "InvalidID", "InvalidPaginationToken", "IdempotentParameterMismatch",
        "InvalidVolume.ZoneMismatch", "DryRunOperation",
    };

    private static readonly HashSet<string> Unauthorized = new(StringComparer.Ordinal)
    {
        "UnauthorizedOperation", "AuthFailure", "OptInRequired", "Blocked", "PendingVerification", "SignatureDoesNotMatch",
        "InvalidClientTokenId", "MissingAuthenticationToken",
    };

    private static readonly HashSet<string> Transient = new(StringComparer.Ordinal)
    {
        "InternalError", "InternalFailure", "Unavailable", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
        "RequestExpired", "ConcurrentTagAccess",
    };

    /// <summary>The kind of an EC2 error code (HTTP status as the fallback for codes not listed).</summary>
    public static ProviderErrorKind KindOf(string code, HttpStatusCode status)
    {
        if (Throttling.Contains(code))
        {
            return ProviderErrorKind.Throttled;
        }

        if (RetryLater.Contains(code))
        {
            return ProviderErrorKind.RetryLater;
        }

        if (LimitExceeded.Contains(code))
        {
            return ProviderErrorKind.LimitExceeded;
        }

        if (code.EndsWith(".NotFound", StringComparison.Ordinal))
        {
            return ProviderErrorKind.NotFound;
        }

        if (IncorrectState.Contains(code))
        {
            return ProviderErrorKind.IncorrectState;
        }

        if (InvalidParameter.Contains(code) || code.StartsWith("InvalidParameter", StringComparison.Ordinal) || code.EndsWith(".Malformed", StringComparison.Ordinal))
        {
            return ProviderErrorKind.InvalidParameter;
        }

        if (Unauthorized.Contains(code))
        {
            return ProviderErrorKind.Unauthorized;
        }

        if (Transient.Contains(code) || (int)status >= 500)
        {
            return ProviderErrorKind.Transient;
        }

        return status switch
        {
            HttpStatusCode.TooManyRequests => ProviderErrorKind.Throttled,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ProviderErrorKind.Unauthorized,
            _ => ProviderErrorKind.Unknown,
        };
    }

    /// <summary>
    /// The provider failure for an exception of an SDK call, or null when it is the caller's cancellation (which must
    /// propagate as it is).
    /// </summary>
    public static ProviderException? Classify(Exception error, CancellationToken cancellationToken)
    {
        switch (error)
        {
            case ProviderException provider:
                return provider;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return null;
            case AmazonServiceException service when !string.IsNullOrEmpty(service.ErrorCode):
                return Create(KindOf(service.ErrorCode, service.StatusCode), service.ErrorCode, service.Message, service);
            case AmazonServiceException service:
                return Create(KindOf("", service.StatusCode), $"Http{(int)service.StatusCode}", service.Message, service);
            case OperationCanceledException or TimeoutException:
                return Create(ProviderErrorKind.Transient, "RequestTimeout", $"the request timed out: {error.Message}", error);
            case HttpRequestException or IOException:
                return Create(ProviderErrorKind.Transient, "NetworkError", error.Message, error);
            case AmazonClientException client when client.InnerException is HttpRequestException or IOException or TimeoutException:
                return Create(ProviderErrorKind.Transient, "NetworkError", client.Message, client);
            case AmazonClientException client when client.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase):
                return Create(ProviderErrorKind.Unauthorized, "NoCredentials", client.Message, client);
            case AmazonClientException client:
                return Create(ProviderErrorKind.Unknown, "ClientError", client.Message, client);
            default:
                return null;
        }
    }

    public static ProviderException Create(ProviderErrorKind kind, string code, string message, Exception? inner = null, TimeSpan? retryAfter = null) =>
        new(kind, code, message, inner, retryAfter);
}
