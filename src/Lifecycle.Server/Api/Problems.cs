using Microsoft.AspNetCore.Http;

namespace Lifecycle.Server.Api;

/// <summary>RFC 9457 problem responses with the details a pipeline needs.</summary>
internal static class Problems
{
    public static IResult NotFound(string detail) =>
        Results.Problem(title: "Not found", detail: detail, statusCode: StatusCodes.Status404NotFound);

    public static IResult Invalid(string title, object result) =>
        Results.Problem(title: title, statusCode: StatusCodes.Status422UnprocessableEntity,
            extensions: new Dictionary<string, object?> { ["result"] = result });

    public static IResult Conflict(string title, string detail, object result) =>
        Results.Problem(title: title, detail: detail, statusCode: StatusCodes.Status409Conflict,
            extensions: new Dictionary<string, object?> { ["result"] = result });

    public static IResult BadRequest(string detail) =>
        Results.Problem(title: "Bad request", detail: detail, statusCode: StatusCodes.Status400BadRequest);
}
