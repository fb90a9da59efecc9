using System.Collections.Immutable;
using System.Text.Json;
using Lifecycle.Core.Providers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// /engine/v1/{region}/{operation}: the provider seam of this server's engine over HTTP (loopback), so the nodes of a
/// cluster share one local engine (a region of the local engine is locked by one process). One POST per seam
/// operation; errors come back as 4xx/5xx with the provider error's kind and code. <see cref="RemoteProviderRegistry"/>
/// is the client.
/// </summary>
internal static class EngineEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/engine/v1/regions", (IProviderRegistry registry) => Results.Ok(registry.Regions));
        app.MapPost("/engine/v1/{region}/{operation}", async (string region, string operation, HttpRequest request, IProviderRegistry registry, CancellationToken ct) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct).ConfigureAwait(false);
            var args = body.RootElement;
            var o = RemoteEngineJson.Options;
            try
            {
                var provider = registry.For(region);
                object? result = operation switch
                {
                    "describe-volumes" => await provider.DescribeVolumesAsync(Arg<TagFilter?>(args, "filter", o), ct).ConfigureAwait(false),
                    "describe-snapshots" => await provider.DescribeSnapshotsAsync(Arg<SnapshotQuery?>(args, "query", o), ct).ConfigureAwait(false),
                    "create-snapshot" => await provider.CreateSnapshotAsync(Arg<CreateSnapshotRequest>(args, "request", o)!, ct).ConfigureAwait(false),
                    "create-snapshots" => await provider.CreateSnapshotsAsync(Arg<CreateSnapshotsRequest>(args, "request", o)!, ct).ConfigureAwait(false),
                    "copy-snapshot" => await provider.CopySnapshotAsync(Arg<CopySnapshotRequest>(args, "request", o)!, ct).ConfigureAwait(false),
                    "delete-snapshot" => await Done(provider.DeleteSnapshotAsync(Arg<string>(args, "snapshotId", o)!, ct)).ConfigureAwait(false),
                    "archive-snapshot" => await Done(provider.ArchiveSnapshotAsync(Arg<string>(args, "snapshotId", o)!, ct)).ConfigureAwait(false),
                    "restore-snapshot-tier" => await Done(provider.RestoreSnapshotTierAsync(Arg<string>(args, "snapshotId", o)!, Arg<int?>(args, "days", o), ct)).ConfigureAwait(false),
                    "enable-fast-snapshot-restores" => await provider.EnableFastSnapshotRestoresAsync(Arg<string>(args, "snapshotId", o)!, Arg<ImmutableArray<string>>(args, "zones", o), ct).ConfigureAwait(false),
                    "disable-fast-snapshot-restores" => await provider.DisableFastSnapshotRestoresAsync(Arg<string>(args, "snapshotId", o)!, Arg<ImmutableArray<string>>(args, "zones", o), ct).ConfigureAwait(false),
                    "describe-fast-snapshot-restores" => await provider.DescribeFastSnapshotRestoresAsync(Arg<string?>(args, "snapshotId", o), ct).ConfigureAwait(false),
                    "list-recycle-bin" => await provider.ListSnapshotsInRecycleBinAsync(ct).ConfigureAwait(false),
                    "restore-from-recycle-bin" => await provider.RestoreSnapshotFromRecycleBinAsync(Arg<string>(args, "snapshotId", o)!, ct).ConfigureAwait(false),
                    "create-volume" => await provider.CreateVolumeAsync(Arg<CreateVolumeRequest>(args, "request", o)!, ct).ConfigureAwait(false),
                    "wait-snapshot" => await WaitAsync(provider, Arg<string>(args, "snapshotId", o)!, ct).ConfigureAwait(false),
                    "create-tags" => await Done(provider.CreateTagsAsync(Arg<string>(args, "resourceId", o)!, Arg<Dictionary<string, string>>(args, "tags", o)!, ct)).ConfigureAwait(false),
                    _ => throw ProviderException.InvalidParameter($"unknown engine operation '{operation}'"),
                };
                return Results.Json(new RemoteEngineResult(result), o);
            }
            catch (ProviderException e)
            {
                var status = e.Kind switch
                {
                    ProviderErrorKind.NotFound => StatusCodes.Status404NotFound,
                    ProviderErrorKind.Throttled => StatusCodes.Status429TooManyRequests,
                    ProviderErrorKind.Transient => StatusCodes.Status503ServiceUnavailable,
                    ProviderErrorKind.Unauthorized => StatusCodes.Status403Forbidden,
                    ProviderErrorKind.Unknown => StatusCodes.Status500InternalServerError,
                    _ => StatusCodes.Status400BadRequest,
                };
                return Results.Json(new RemoteEngineError(e.Kind, e.Code, e.Message), o, statusCode: status);
            }
        });
    }

    /// <summary>Waits up to 30 s (the client asks again while the snapshot is pending, so no request runs long).</summary>
    private static async Task<object?> WaitAsync(ISnapshotProvider provider, string snapshotId, CancellationToken cancellationToken)
    {
        if (provider is not Lifecycle.Scheduling.Execution.ISnapshotCompletion completion)
        {
            return (await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        }

        using var cap = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cap.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            return await completion.WaitForCompletionAsync(snapshotId, cap.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        }
    }

    private static async Task<object?> Done(Task task)
    {
        await task.ConfigureAwait(false);
        return null;
    }

    private static T? Arg<T>(JsonElement args, string name, JsonSerializerOptions options) =>
        args.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.Deserialize<T>(options) : default;
}

internal sealed record RemoteEngineResult(object? Result);

internal sealed record RemoteEngineError(ProviderErrorKind Kind, string Code, string Message);

internal static class RemoteEngineJson
{
    public static JsonSerializerOptions Options { get; } = Lifecycle.Scheduling.SchedulingJson.Options;
}
