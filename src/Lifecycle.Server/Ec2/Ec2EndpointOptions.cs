using System.Globalization;

namespace Lifecycle.Server.Ec2;

/// <summary>Settings of the EC2-compatible endpoint (<see cref="Ec2Endpoint.MapEc2Endpoint"/>).</summary>
public sealed record Ec2EndpointOptions
{
    /// <summary>Test-only: <c>LIFECYCLE_EC2_FAULTS=throttle=0.2,error=0.1</c> answers that share of calls with a fault.</summary>
    public const string FaultsVariable = "LIFECYCLE_EC2_FAULTS";

    /// <summary>Regions served besides those that exist (a request scoped to any other region is refused).</summary>
    public IReadOnlyList<string> Regions { get; init; } = [];

    /// <summary>More served regions, asked per request (the server adds the regions its applied policies name).</summary>
    public Func<CancellationToken, Task<IEnumerable<string>>>? MoreRegions { get; init; }

    /// <summary>The account id snapshots and volumes are owned by (<c>ownerId</c>, <c>Owner.N=self</c>).</summary>
    public string AccountId { get; init; } = "000000000000";

    /// <summary>The clock for signature skew and idempotency tokens.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Share (0..1) of calls answered <c>RequestLimitExceeded</c> (503) before doing anything.</summary>
    public double ThrottleShare { get; init; }

    /// <summary>Share (0..1) of calls answered <c>InternalError</c> (500) before doing anything.</summary>
    public double ErrorShare { get; init; }

    /// <summary>The largest request body read (form-encoded parameters; EC2 requests are a few KiB).</summary>
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// These options with the fault shares of <see cref="FaultsVariable"/> (test-only), e.g. <c>throttle=0.2,error=0.1</c>.
    /// Throws <see cref="ArgumentException"/> naming the variable for anything else.
    /// </summary>
    public Ec2EndpointOptions WithFaultsFrom(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return this;
        }

        double throttle = 0, error = 0;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length != 2 || !double.TryParse(pair[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var share) || share is < 0 or > 1)
            {
                throw new ArgumentException($"{FaultsVariable}: '{part}' is not NAME=SHARE with a share from 0 to 1 (throttle=0.2,error=0.1)");
            }

            switch (pair[0])
            {
                case "throttle":
                    throttle = share;
                    break;
                case "error":
                    error = share;
                    break;
                default:
                    throw new ArgumentException($"{FaultsVariable}: unknown fault '{pair[0]}' (throttle, error)");
            }
        }

        if (throttle + error > 1)
        {
            throw new ArgumentException($"{FaultsVariable}: the shares add up to more than 1");
        }

        return this with { ThrottleShare = throttle, ErrorShare = error };
    }
}
