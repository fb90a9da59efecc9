using System.Diagnostics;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.Core.Simulation;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Views;

/// <summary>
/// The views' inventory, read in the background: a page never lists the provider's snapshots itself (a region may
/// hold a million), it reads the last <see cref="InventoryView"/>. The view is refreshed when it is older than
/// <see cref="MaxAge"/> (at least four times as long as the last read took, so a large inventory is not read back to
/// back) or when another revision was applied; the page gets the current one meanwhile and says how old it is. Only
/// the first request waits for a read. One refresh at a time.
/// </summary>
public sealed class InventoryViewCache(
    AppliedPolicies applied, InventoryReader reader, IEngineRegistry engines, TimeProvider time, ILogger<InventoryViewCache> logger)
{
    /// <summary>How old a view may be before a page asks for a new one.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    private readonly Lock gate = new();
    private InventoryView? current;
    private Task<InventoryView>? refreshing;
    private bool pinned;

    /// <summary>The current view; starts a refresh when it is stale (waits only when there is none yet).</summary>
    public async Task<InventoryView> GetAsync(CancellationToken cancellationToken = default)
    {
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        Task<InventoryView>? wait = null;
        lock (gate)
        {
            var view = current;
            var stale = !pinned && (view is null
                || view.RevisionSeq != set.Seq
                || time.GetUtcNow() - view.Taken > Max(MaxAge, view.ReadDuration * 4));
            if (stale && refreshing is null)
            {
                refreshing = Task.Run(RefreshAsync, CancellationToken.None);
            }

            if (view is not null)
            {
                return view;
            }

            wait = refreshing;
        }

        return await wait!.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<InventoryView> RefreshAsync()
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            var set = await applied.GetAsync().ConfigureAwait(false);
            var now = time.GetUtcNow();
            var inventory = await reader.ReadAsync(set.Policies).ConfigureAwait(false);
            var plan = new SnapshotPlanner().Plan(set.Policies, inventory, now);
            var bin = new List<RecycleBinEntry>();
            var notes = new List<string>();
            foreach (var engine in set.Policies.Policies.Select(p => p.Engine).Distinct().Where(engines.Engines.Contains))
            {
                var registry = engines.For(engine);
                foreach (var region in InventoryReader.RegionsOf(new Lifecycle.Core.Policies.PolicySet([.. set.Policies.Policies.Where(p => p.Engine == engine)])))
                {
                    if (!registry.Regions.Contains(region))
                    {
                        continue;
                    }

                    try
                    {
                        bin.AddRange(await registry.For(region).ListSnapshotsInRecycleBinAsync().ConfigureAwait(false));
                    }
                    catch (ProviderException e)
                    {
                        // The recycle bin is a side view (EC2 needs rbin permissions for it): the rest is still shown.
                        notes.Add($"the recycle bin of {engine.ToString().ToLowerInvariant()} region {region} could not be read: {e.Code}: {e.Message}");
                    }
                }
            }

            var view = InventoryView.Build(set.Policies, inventory, plan, bin, now, StoragePrices.Default, Stopwatch.GetElapsedTime(started), set.Seq, notes);
            lock (gate)
            {
                current = view;
            }

            return view;
        }
        catch (Exception e)
        {
            // The pages keep the last view (and say how old it is); the next page request tries again.
            logger.LogWarning("the backup views could not read the inventory: {Error}", e.Message);
            lock (gate)
            {
                if (current is not null)
                {
                    return current;
                }
            }

            throw;
        }
        finally
        {
            lock (gate)
            {
                refreshing = null;
            }
        }
    }

    /// <summary>
    /// Installs a view built elsewhere and stops refreshing it (<c>lifecycle bench views</c> pins one of a million
    /// synthetic snapshots, which no engine of the benchmark's server holds).
    /// </summary>
    internal void Pin(InventoryView view)
    {
        lock (gate)
        {
            current = view;
            pinned = true;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
