using Lifecycle.Core.Providers;
using Microsoft.AspNetCore.Http;

namespace Lifecycle.Server.Api;

/// <summary>RFC 9457 problem responses with the details a pipeline needs. Every 4xx carries a <c>detail</c>.</summary>
internal static class Problems
{
    public static IResult NotFound(string detail) =>
        Results.Problem(title: "Not found", detail: detail, statusCode: StatusCodes.Status404NotFound);

    /// <summary>422 whose detail carries the first located errors (FILE:LINE:COLUMN: FIELD: message).</summary>
    public static IResult Invalid(string title, Lifecycle.Scheduling.Policies.ApplyResult result) =>
        Results.Problem(title: title,
            detail: result.Diagnostics.IsDefaultOrEmpty ? title : string.Join("\n", result.Diagnostics.Take(10)) + (result.Diagnostics.Length > 10 ? $"\n… {result.Diagnostics.Length - 10} more" : ""),
            statusCode: StatusCodes.Status422UnprocessableEntity,
            extensions: new Dictionary<string, object?> { ["result"] = result });

    public static IResult Conflict(string title, string detail, object? result = null) =>
        Results.Problem(title: title, detail: detail, statusCode: StatusCodes.Status409Conflict,
            extensions: result is null ? null : new Dictionary<string, object?> { ["result"] = result });

    public static IResult BadRequest(string detail) =>
        Results.Problem(title: "Bad request", detail: detail, statusCode: StatusCodes.Status400BadRequest);

    public static IResult Forbidden(string detail) =>
        Results.Problem(title: "Forbidden", detail: detail, statusCode: StatusCodes.Status403Forbidden);

    /// <summary>Writes a problem from middleware (before or outside an endpoint).</summary>
    public static Task Write(HttpContext context, int status, string title, string detail) =>
        Results.Problem(title: title, detail: detail, statusCode: status).ExecuteAsync(context);

    /// <summary>The HTTP status of a provider error.</summary>
    public static int StatusOf(ProviderErrorKind kind) => kind switch
    {
        ProviderErrorKind.NotFound => StatusCodes.Status404NotFound,
        ProviderErrorKind.Throttled => StatusCodes.Status429TooManyRequests,
        ProviderErrorKind.Transient => StatusCodes.Status503ServiceUnavailable,
        ProviderErrorKind.Unauthorized => StatusCodes.Status403Forbidden,
        ProviderErrorKind.Unknown => StatusCodes.Status502BadGateway,
        ProviderErrorKind.IncorrectState or ProviderErrorKind.LimitExceeded => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>The detail of a problem the framework raised without one (no route, wrong method, …).</summary>
    public static string DefaultDetail(HttpContext context, int status) => status switch
    {
        StatusCodes.Status404NotFound => $"no route matches {context.Request.Method} {context.Request.Path}",
        StatusCodes.Status405MethodNotAllowed => $"{context.Request.Method} is not allowed on {context.Request.Path}",
        StatusCodes.Status413PayloadTooLarge => "the request body is larger than the server accepts",
        StatusCodes.Status415UnsupportedMediaType => "the request body must be application/json",
        _ => $"HTTP {status} on {context.Request.Method} {context.Request.Path}",
    };
}
