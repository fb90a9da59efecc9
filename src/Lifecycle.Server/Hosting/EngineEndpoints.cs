using System.Collections.Immutable;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// /engine/v1/{region}/{operation}: the provider seam of this server's engine over HTTP (loopback), so the nodes of a
/// cluster share one local engine (a region of the local engine is locked by one process). One POST per seam
/// operation; errors come back as 4xx/5xx with the provider error's kind and code. <see cref="RemoteProviderRegistry"/>
/// is the client. Admin scope only; a delete names the policy it acts for and follows that policy's rules; no call
/// sets a <c>lifecycle:</c> tag except through a create or copy. (It goes away with the EC2-compatible endpoint.)
/// </summary>
internal static class EngineEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/engine/v1/regions", (IProviderRegistry registry) => Results.Ok(registry.Regions)).RequireScope(AccessScope.Admin);
        app.MapPost("/engine/v1/{region}/{operation}", async (string region, string operation, HttpRequest request, IProviderRegistry registry, CancellationToken ct) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct).ConfigureAwait(false);
            var args = body.RootElement;
            var o = RemoteEngineJson.Options;
            try
            {
                if (args.ValueKind != JsonValueKind.Object)
                {
                    throw ProviderException.InvalidParameter($"body: expected a JSON object of arguments, not {args.ValueKind.ToString().ToLowerInvariant()}");
                }

                // A read never creates a region: one that does not exist yet holds nothing.
                var exists = registry.Regions.Contains(region, StringComparer.Ordinal);
                object? result = operation switch
                {
                    "describe-volumes" => exists ? await registry.For(region).DescribeVolumesAsync(Arg<TagFilter?>(args, "filter", o), ct).ConfigureAwait(false) : ImmutableArray<VolumeInfo>.Empty,
                    "describe-snapshots" => exists ? await registry.For(region).DescribeSnapshotsAsync(Arg<SnapshotQuery?>(args, "query", o), ct).ConfigureAwait(false) : ImmutableArray<SnapshotInfo>.Empty,
                    "describe-fast-snapshot-restores" => exists ? await registry.For(region).DescribeFastSnapshotRestoresAsync(Arg<string?>(args, "snapshotId", o), ct).ConfigureAwait(false) : ImmutableArray<FastRestoreZoneState>.Empty,
                    "list-recycle-bin" => exists ? await registry.For(region).ListSnapshotsInRecycleBinAsync(ct).ConfigureAwait(false) : ImmutableArray<RecycleBinEntry>.Empty,
                    "wait-snapshot" => exists ? await WaitAsync(registry.For(region), Required<string>(args, "snapshotId", o), ct).ConfigureAwait(false) : null,
                    "create-snapshot" => await registry.For(region).CreateSnapshotAsync(Required<CreateSnapshotRequest>(args, "request", o), ct).ConfigureAwait(false),
                    "create-snapshots" => await registry.For(region).CreateSnapshotsAsync(Required<CreateSnapshotsRequest>(args, "request", o), ct).ConfigureAwait(false),
                    "copy-snapshot" => await registry.For(region).CopySnapshotAsync(Required<CopySnapshotRequest>(args, "request", o), ct).ConfigureAwait(false),
                    "delete-snapshot" => await Done(DeleteOwnedAsync(registry, region, exists, Required<string>(args, "snapshotId", o), Required<string>(args, "policy", o), ct)).ConfigureAwait(false),
                    "archive-snapshot" => await Done(registry.For(region).ArchiveSnapshotAsync(Required<string>(args, "snapshotId", o), ct)).ConfigureAwait(false),
                    "restore-snapshot-tier" => await Done(registry.For(region).RestoreSnapshotTierAsync(Required<string>(args, "snapshotId", o), Arg<int?>(args, "days", o), ct)).ConfigureAwait(false),
                    "enable-fast-snapshot-restores" => await registry.For(region).EnableFastSnapshotRestoresAsync(Required<string>(args, "snapshotId", o), Required<ImmutableArray<string>>(args, "zones", o), ct).ConfigureAwait(false),
                    "disable-fast-snapshot-restores" => await registry.For(region).DisableFastSnapshotRestoresAsync(Required<string>(args, "snapshotId", o), Required<ImmutableArray<string>>(args, "zones", o), ct).ConfigureAwait(false),
                    "restore-from-recycle-bin" => await registry.For(region).RestoreSnapshotFromRecycleBinAsync(Required<string>(args, "snapshotId", o), ct).ConfigureAwait(false),
                    "create-volume" => await registry.For(region).CreateVolumeAsync(Required<CreateVolumeRequest>(args, "request", o), ct).ConfigureAwait(false),
                    "create-tags" => await Done(CreateTagsAsync(registry.For(region), Required<string>(args, "resourceId", o), Required<Dictionary<string, string>>(args, "tags", o), ct)).ConfigureAwait(false),
                    _ => throw ProviderException.InvalidParameter($"unknown engine operation '{operation}'"),
                };
                return Results.Json(new RemoteEngineResult(result), o);
            }
            catch (ProviderException e)
            {
                return Results.Json(new RemoteEngineError(e.Kind, e.Code, e.Message), o, statusCode: Lifecycle.Server.Api.Problems.StatusOf(e.Kind));
            }
            catch (JsonException e)
            {
                var error = ProviderException.InvalidParameter($"body{(e.Path is { Length: > 0 } path ? " at " + path : "")}: {e.Message.Split(" Path:")[0]}");
                return Results.Json(new RemoteEngineError(error.Kind, error.Code, error.Message), o, statusCode: StatusCodes.Status400BadRequest);
            }
        }).RequireScope(AccessScope.Admin);
    }

    /// <summary>
    /// A delete from outside follows a policy's rules: only a snapshot that carries <c>lifecycle:policy</c> of the
    /// named policy, never the newest completed one of its volume in that policy (keepLatest), and through the
    /// engine's own delete, so recycle-bin rules apply. Gone already is success, as for every delete.
    /// </summary>
    private static async Task DeleteOwnedAsync(IProviderRegistry registry, string region, bool exists, string snapshotId, string policy, CancellationToken ct)
    {
        if (!exists)
        {
            return;
        }

        var provider = registry.For(region);
        var snapshot = (await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, ct).ConfigureAwait(false)).FirstOrDefault();
        if (snapshot is null)
        {
            return;
        }

        if (!snapshot.Tags.TryGetValue(OwnershipTags.Policy, out var owner) || owner != policy)
        {
            throw new ProviderException(ProviderErrorKind.Unauthorized, "SnapshotNotOwned",
                owner is null
                    ? $"snapshot {snapshotId} is not owned by any policy; the engine endpoint deletes only a policy's own snapshots"
                    : $"snapshot {snapshotId} is owned by policy '{owner}', not '{policy}'; only its own policy deletes it");
        }

        await SnapshotSafety.EnsureNotNewestAsync(provider, snapshot, policy, "KeepLatest", ct).ConfigureAwait(false);
        await provider.DeleteSnapshotAsync(snapshotId, ct).ConfigureAwait(false);
    }

    /// <summary>The ownership tags are the policies' own: no remote caller sets or changes them.</summary>
    private static Task CreateTagsAsync(ISnapshotProvider provider, string resourceId, Dictionary<string, string> tags, CancellationToken ct) =>
        SnapshotSafety.ReservedKey(tags.Keys) is { } reserved
            ? throw new ProviderException(ProviderErrorKind.Unauthorized, "ReservedTag", $"tags: '{reserved}' is reserved for the policies' own tags")
            : provider.CreateTagsAsync(resourceId, tags, ct);

    /// <summary>Waits up to 30 s (the client asks again while the snapshot is pending, so no request runs long).</summary>
    private static async Task<object?> WaitAsync(ISnapshotProvider provider, string snapshotId, CancellationToken cancellationToken)
    {
        using var cap = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cap.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            return await provider.WaitForCompletionAsync(snapshotId, cap.Token).ConfigureAwait(false);
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

    private static T? Arg<T>(JsonElement args, string name, JsonSerializerOptions options)
    {
        if (!args.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return default;
        }

        try
        {
            return value.Deserialize<T>(options);
        }
        catch (JsonException e)
        {
            throw ProviderException.InvalidParameter($"{name}{e.Path?.TrimStart('$')}: {e.Message.Split(" Path:")[0]}");
        }
    }

    private static T Required<T>(JsonElement args, string name, JsonSerializerOptions options) =>
        Arg<T>(args, name, options) is { } value && (value is not ImmutableArray<string> array || !array.IsDefault)
            ? value
            : throw ProviderException.InvalidParameter($"{name}: required");
}

internal sealed record RemoteEngineResult(object? Result);

internal sealed record RemoteEngineError(ProviderErrorKind Kind, string Code, string Message)
{
    /// <summary>The same text under the name every other 4xx of the server uses.</summary>
    public string Detail => Message;
}

internal static class RemoteEngineJson
{
    /// <summary>
    /// The store's JSON settings, but strict: a missing constructor argument or a null where the type says non-null is
    /// a JsonException (a 400 naming the field), not a null handed to the engine.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = new(Lifecycle.Scheduling.SchedulingJson.Options)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };
}
