using System.Collections.Immutable;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quartz;

namespace Lifecycle.Server.Api;

/// <summary>/api/v1 runs, actions (retry), revisions, audit and snapshots.</summary>
internal static class RunEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/runs", async (string? policy, string? state, DateTimeOffset? from, DateTimeOffset? to, int? limit, RunStore store, CancellationToken ct) =>
            Results.Ok(await store.ListRunsAsync(new RunFilter { Policy = policy, State = state, From = from, To = to, Limit = Math.Clamp(limit ?? 200, 1, 10_000) }, ct).ConfigureAwait(false))).RequireScope(AccessScope.Read);

        api.MapGet("/runs/{id}", async (string id, RunStore store, CancellationToken ct) =>
        {
            var run = await store.GetRunAsync(id, ct).ConfigureAwait(false);
            if (run is null)
            {
                return Problems.NotFound($"run '{id}' does not exist");
            }

            var actions = await store.ListActionsAsync(new ActionFilter { RunId = id, Limit = 100_000 }, ct).ConfigureAwait(false);
            return Results.Ok(new RunDetail(run, actions));
        }).RequireScope(AccessScope.Read);

        api.MapGet("/actions", async (string? policy, string? volume, string? state, string? kind, DateTimeOffset? from, DateTimeOffset? to, int? limit, RunStore store, CancellationToken ct) =>
            Results.Ok(await store.ListActionsAsync(new ActionFilter
            {
                Policy = policy, Volume = volume, State = state, Kind = kind, From = from, To = to, Limit = Math.Clamp(limit ?? 500, 1, 100_000),
            }, ct).ConfigureAwait(false))).RequireScope(AccessScope.Read);

        api.MapGet("/actions/{id}", async (string id, RunStore store, CancellationToken ct) =>
        {
            var action = await store.GetActionAsync(id, ct).ConfigureAwait(false);
            return action is null
                ? Problems.NotFound($"action '{id}' does not exist")
                : Results.Ok(new ActionDetail(action, await store.ListHooksAsync(id, ct).ConfigureAwait(false)));
        }).RequireScope(AccessScope.Read);

        api.MapPost("/actions/{id}:retry", async (string id, HttpContext http, PolicyOperations operations, CancellationToken ct) =>
            (await operations.RetryAsync(id, http.Actor(), ct).ConfigureAwait(false)).ToResult($"/api/v1/actions/{id}")).RequireScope(AccessScope.Operate);

        api.MapGet("/revisions", async (int? limit, RunStore store, CancellationToken ct) =>
            Results.Ok(await store.ListRevisionsAsync(Math.Clamp(limit ?? 20, 1, 1000), ct).ConfigureAwait(false))).RequireScope(AccessScope.Read);

        api.MapGet("/audit", async (int? limit, RunStore store, CancellationToken ct) =>
            Results.Ok(await store.ListAuditAsync(Math.Clamp(limit ?? 100, 1, 10_000), ct).ConfigureAwait(false))).RequireScope(AccessScope.Read);

        api.MapGet("/snapshots", async (string? region, string? policy, string? volume, IProviderRegistry registry, AppliedPolicies applied, ServerOptions options, CancellationToken ct) =>
        {
            var existing = registry.Regions;
            if (region is not null && !existing.Contains(region, StringComparer.Ordinal))
            {
                // A read never creates a region; one that is served but not created yet holds nothing.
                var served = ServedRegions((await applied.GetAsync(ct).ConfigureAwait(false)).Policies, options).Union(existing).Order(StringComparer.Ordinal).ToList();
                return served.Contains(region, StringComparer.Ordinal)
                    ? Results.Ok(ImmutableArray<SnapshotView>.Empty)
                    : Problems.NotFound($"region: '{(region.Length > 64 ? region[..64] + "…" : region)}' is not served here (served: {string.Join(", ", served)}; add one with --regions)");
            }

            var regions = region is null ? existing : [region];
            var views = ImmutableArray.CreateBuilder<SnapshotView>();
            foreach (var name in regions)
            {
                var query = new SnapshotQuery
                {
                    Tags = policy is null ? null : TagFilter.Key(OwnershipTags.Policy, policy),
                    VolumeIds = volume is null ? [] : [volume],
                };
                foreach (var s in await registry.For(name).DescribeSnapshotsAsync(query, ct).ConfigureAwait(false))
                {
                    views.Add(new SnapshotView(s.Id, s.Region, s.VolumeId, s.State.ToString().ToLowerInvariant(), s.Tier.ToString().ToLowerInvariant(), s.StartTime, s.Tags,
                        s.FastRestore.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value.ToString().ToLowerInvariant()), s.SourceSnapshotId));
                }
            }

            return Results.Ok(views.ToImmutable());
        }).RequireScope(AccessScope.Read);
    }

    /// <summary>The most volumes and snapshots one inventory response carries (the server reads no more than that).</summary>
    internal const int MaxInventoryItems = 250_000;

    /// <summary>
    /// GET /api/v1/inventory[?region=R][&amp;limit=N]: every volume and every live snapshot of the default engine's existing regions
    /// (or of one), in the inventory JSON format (policies/inventory.md), for <c>lifecycle simulate --server</c> (the
    /// pipeline's simulation). Read scope; a read never creates a region. Bounded: past <c>limit</c> items (at most and
    /// by default <see cref="MaxInventoryItems"/>) it stops reading and answers 422 rather than a partial inventory.
    /// </summary>
    internal static void MapInventory(IEndpointRouteBuilder api) =>
        api.MapGet("/inventory", async (string? region, int? limit, IProviderRegistry registry, CancellationToken ct) =>
        {
            if (region is not null && !registry.Regions.Contains(region))
            {
                return Problems.NotFound($"region: '{region}' is not a region of this server's engine");
            }

            if (limit is < 1 or > MaxInventoryItems)
            {
                return Problems.BadRequest($"limit: {limit} is not between 1 and {MaxInventoryItems}");
            }

            var bound = limit ?? MaxInventoryItems;

            var volumes = ImmutableArray.CreateBuilder<Lifecycle.Core.Inventory.VolumeInfo>();
            var snapshots = ImmutableArray.CreateBuilder<Lifecycle.Core.Inventory.SnapshotInfo>();
            foreach (var name in region is null ? registry.Regions.Order(StringComparer.Ordinal) : (IEnumerable<string>)[region])
            {
                var provider = registry.For(name);
                volumes.AddRange(await provider.DescribeVolumesAsync(null, ct).ConfigureAwait(false));
                if (volumes.Count <= bound - snapshots.Count)
                {
                    snapshots.AddRange(await provider.DescribeSnapshotsAsync(new SnapshotQuery(), ct).ConfigureAwait(false));
                }

                if (volumes.Count + snapshots.Count > bound)
                {
                    return Results.Problem(title: "Inventory too large", statusCode: StatusCodes.Status422UnprocessableEntity,
                        detail: $"limit: reading region {name}, the inventory passed {bound} volumes and snapshots"
                            + (bound < MaxInventoryItems ? "" : ", more than one response carries")
                            + (region is null ? "; ask for one region at a time (?region=…)" : "") + ", or give lifecycle simulate an inventory file (--inventory)");
                }
            }

            var inventory = new Lifecycle.Core.Inventory.Inventory { Volumes = volumes.ToImmutable(), Snapshots = snapshots.ToImmutable() };
            return Results.Text(Lifecycle.Core.Inventory.InventoryJson.Write(inventory), "application/json");
        }).RequireScope(AccessScope.Read);

    /// <summary>The regions this server serves: <c>--regions</c> and every region (and copy target) of the applied policies.</summary>
    internal static IEnumerable<string> ServedRegions(Lifecycle.Core.Policies.PolicySet policies, ServerOptions options) =>
        options.Regions
            .Concat(policies.Policies.SelectMany(p => p.Regions))
            .Concat(policies.Policies.SelectMany(p => p.Schedules).SelectMany(s => s.Copies).Select(c => c.Region))
            .Distinct(StringComparer.Ordinal);
}
