using Lifecycle.Core.Providers;
using Microsoft.AspNetCore.Http;

namespace Lifecycle.Server.Ec2;

/// <summary>
/// An error answered in EC2's envelope (<c>&lt;Response&gt;&lt;Errors&gt;&lt;Error&gt;&lt;Code/&gt;&lt;Message/&gt;</c>).
/// Clients classify by <see cref="Code"/> (the SDKs retry <c>RequestLimitExceeded</c> and 5xx only), so every refusal
/// of the endpoint is one of these with a message naming the parameter, never a bare status.
/// </summary>
public sealed class Ec2Error(string code, string message, int status = StatusCodes.Status400BadRequest) : Exception(message)
{
    public string Code { get; } = code;

    public int Status { get; } = status;

    public static Ec2Error InvalidParameterValue(string message) => new("InvalidParameterValue", message);

    public static Ec2Error MissingParameter(string name) => new("MissingParameter", $"The request must contain the parameter {name}");

    public static Ec2Error InvalidParameterCombination(string message) => new("InvalidParameterCombination", message);

    /// <summary>
    /// The engine's typed error as EC2 answers it: its code (the engine uses EC2's codes), and the status EC2 gives
    /// that kind (throttling 503, transient 500/503, everything a caller got wrong 400).
    /// </summary>
    public static Ec2Error From(ProviderException e) => e.Kind switch
    {
        ProviderErrorKind.Throttled => new("RequestLimitExceeded", e.Message, StatusCodes.Status503ServiceUnavailable),
        ProviderErrorKind.Transient => new(e.Code == "RegionLocked" ? "Unavailable" : "InternalError", e.Message,
            e.Code == "RegionLocked" ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError),
        ProviderErrorKind.Unauthorized => new("UnauthorizedOperation", e.Message, StatusCodes.Status403Forbidden),
        ProviderErrorKind.Unknown => new("InternalError", e.Message, StatusCodes.Status500InternalServerError),
        ProviderErrorKind.NotFound => new(e.Code, e.Message),
        ProviderErrorKind.LimitExceeded => new(e.Code, e.Message),
        ProviderErrorKind.IncorrectState => new(e.Code, e.Message),
        _ => new(e.Code is { Length: > 0 } code ? code : "InvalidParameterValue", e.Message),
    };
}
