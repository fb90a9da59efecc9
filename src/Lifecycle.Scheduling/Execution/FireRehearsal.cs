using System.Collections.Immutable;
using System.Diagnostics;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Policies;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Scheduling.Execution;

/// <summary>
/// What a start's rehearsal did: the policies it rehearsed, the creates it planned (and did not enqueue), the token
/// lookups it made, the reads that failed, and how long it took.
/// </summary>
public sealed record RehearsalResult(int Policies, int PlannedCreates, int TokenLookups, int FailedReads, TimeSpan Elapsed);

/// <summary>
/// Walks the read side of each enabled policy's next fire once a node has started, so that its first fire does not pay
/// for the runtime compiling that path (the published server is ReadyToRun, but the generic code over our types that a
/// fire runs, such as async state machines and the action format's metadata, is compiled when first used, and code
/// called often is compiled again, optimised, in the background). bench scheduler, 1,000 creates through /ec2 with
/// 100 retained snapshots a volume: first fires after a start 2.37–2.79 s (p99, four runs) against 1.61–1.94 s for
/// the next. Rehearsed: 1.71, 2.59 and 2.11 s. Without retained snapshots, the JIT compiled 5,668 methods in a cold
/// first fire's first 5 s (the AWS SDK's, Kestrel's and HttpClient's optimised code among them) and 3,892 in a
/// rehearsed one's (Server README, "tenth round").
/// <para>
/// Nothing is written: per policy, the reads a fire makes (its target volumes, its snapshots of the coming fire time),
/// the plan of its creates, each action's stored form (built and read back, not stored), and the token lookup the
/// executor makes before a create (for a few of them: the coming fire's tokens, which no snapshot has yet). Three
/// passes: the first compiles the path; the runtime starts counting calls once compiling has paused, so the rehearsal
/// waits for that, and the next two call the shared paths often enough (30 counted calls) to be optimised; then it
/// waits for the optimised code to be compiled. A read that fails is logged and skipped: the rehearsal never fails a
/// start, and a fire does the same reads again. The create side (Hangfire's job, the run store's claim, the create
/// call) cannot be rehearsed without creating, and is not.
/// </para>
/// </summary>
public sealed class FireRehearsal
{
    /// <summary>
    /// Passes over the policies: the first compiles the path, the others call it often enough (the runtime optimises a
    /// method after 30 calls counted once compiling has paused) for the shared paths to be optimised before a fire.
    /// </summary>
    internal const int Passes = 3;

    /// <summary>Compiling has paused when no method was compiled for this long.</summary>
    private static readonly TimeSpan JitQuiet = TimeSpan.FromMilliseconds(250);

    /// <summary>At most this long waiting for compiling to pause (a busy start may never be quiet).</summary>
    private static readonly TimeSpan JitSettleLimit = TimeSpan.FromSeconds(5);

    /// <summary>Token lookups per policy and pass (the executor makes one per create).</summary>
    internal const int TokenLookupsPerPolicy = 4;

    private readonly InventoryReader inventory;
    private readonly AppliedPolicies applied;
    private readonly IEngineRegistry engines;
    private readonly TimeProvider timeProvider;
    private readonly ILogger<FireRehearsal> logger;

    public FireRehearsal(InventoryReader inventory, AppliedPolicies applied, IEngineRegistry engines, TimeProvider timeProvider, ILogger<FireRehearsal> logger)
    {
        this.inventory = inventory;
        this.applied = applied;
        this.engines = engines;
        this.timeProvider = timeProvider;
        this.logger = logger;
    }

    public async Task<RehearsalResult> RunAsync(CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var policies = (await applied.GetAsync(cancellationToken).ConfigureAwait(false)).Policies.Policies
            .Where(p => p.Enabled && engines.Engines.Contains(p.Engine)).ToList();
        var planner = new SnapshotPlanner();
        int planned = 0, lookups = 0, failed = 0;
        for (var pass = 0; pass < Passes; pass++)
        {
            if (pass == 1)
            {
                // The runtime counts calls to optimise only once it has compiled nothing new for a moment.
                await JitSettledAsync(cancellationToken).ConfigureAwait(false);
            }

            await PassAsync().ConfigureAwait(false);
        }

        // The optimised code is compiled in the background: done before a fire needs the cores.
        await JitSettledAsync(cancellationToken).ConfigureAwait(false);

        var result = new RehearsalResult(policies.Count, planned / Passes, lookups, failed, Stopwatch.GetElapsedTime(started));
        logger.LogInformation("start rehearsal: {Policies} policies, {Creates} creates planned for their next fires (none enqueued), {Lookups} token lookups, {Failed} failed reads, in {Elapsed:0} ms",
            result.Policies, result.PlannedCreates, result.TokenLookups, result.FailedReads, result.Elapsed.TotalMilliseconds);
        return result;

        async Task PassAsync()
        {
            var now = timeProvider.GetUtcNow();
            await Parallel.ForEachAsync(policies, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (policy, ct) =>
            {
                if (NextFire(policy, now) is not { } fire)
                {
                    return;
                }

                ImmutableArray<PlannedAction> creates;
                try
                {
                    // The coming fire's read. Not shared, as a fire's are: a pass joining the last one's reads would
                    // not call the provider again.
                    creates = await inventory.DueCreatesAsync(planner, new PolicySet([policy]), fire, ct, shareRecent: false).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ProviderException or HttpRequestException or TimeoutException)
                {
                    Interlocked.Increment(ref failed);
                    logger.LogInformation("start rehearsal: policy {Policy}'s read failed ({Error}); its fire reads again", policy.Name, e.Message);
                    return;
                }

                foreach (var create in creates)
                {
                    _ = ActionPayload.Deserialize(ActionPayload.Serialize(create));
                }

                Interlocked.Add(ref planned, creates.Length);
                var lookedUp = await LookUpTokensAsync(policy.Engine, creates.Take(TokenLookupsPerPolicy), ct).ConfigureAwait(false);
                Interlocked.Add(ref lookups, lookedUp);
                if (lookedUp < Math.Min(creates.Length, TokenLookupsPerPolicy))
                {
                    Interlocked.Increment(ref failed);
                }
            }).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until the runtime compiled no method for <see cref="JitQuiet"/>, at most <see cref="JitSettleLimit"/>, on
    /// the machine's clock (the compiler's pace, not the schedules' time).
    /// </summary>
    private static async Task JitSettledAsync(CancellationToken cancellationToken)
    {
        var waiting = Stopwatch.StartNew();
        var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        while (waiting.Elapsed < JitSettleLimit)
        {
            await Task.Delay(JitQuiet, cancellationToken).ConfigureAwait(false);
            var now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now == compiled)
            {
                return;
            }

            compiled = now;
        }
    }

    /// <summary>The first fire of the policy's schedules after <paramref name="now"/> (null: none of them fires again).</summary>
    internal static DateTimeOffset? NextFire(SnapshotPolicy policy, DateTimeOffset now) =>
        policy.Schedules.Select(s => ScheduleCalendar.For(s.Trigger).NextAfter(now)).OfType<DateTimeOffset>().Order().Cast<DateTimeOffset?>().FirstOrDefault();

    /// <summary>The lookups a create makes first, for tokens of a fire that has not come: found nothing, deleted nothing.</summary>
    private async Task<int> LookUpTokensAsync(EngineKind engine, IEnumerable<PlannedAction> creates, CancellationToken cancellationToken)
    {
        var done = 0;
        await Task.WhenAll(creates.Where(c => c.Token is not null).Select(async create =>
        {
            try
            {
                var provider = engines.For(engine).For(create.Region);
                _ = await provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key(OwnershipTags.Token, create.Token!) }, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref done);
            }
            catch (Exception e) when (e is ProviderException or HttpRequestException or TimeoutException)
            {
                logger.LogDebug("start rehearsal: token lookup in {Region} failed: {Error}", create.Region, e.Message);
            }
        })).ConfigureAwait(false);
        return done;
    }
}

/// <summary>
/// Runs the <see cref="FireRehearsal"/> once, in the background, when the host has started: after every hosted service's
/// start, among them the policy directory's apply, so a first start with <c>--policies</c> rehearses those policies.
/// </summary>
internal sealed class FireRehearsalService(FireRehearsal rehearsal, IHostApplicationLifetime lifetime, ILogger<FireRehearsalService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            }

            await rehearsal.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Never a failed start: the rehearsal only saves the first fire some time.
            logger.LogWarning("start rehearsal stopped: {Error}", e.Message);
        }
    }
}
