using System.Collections.Immutable;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Polly;

namespace Lifecycle.Scheduling.Execution;

/// <summary>Options of the executor.</summary>
public sealed record ExecutorOptions
{
    public ProviderRetryOptions Retry { get; init; } = new();

    /// <summary>How long a pending snapshot or copy may take to complete (from its create) before the action fails.</summary>
    public TimeSpan CompletionTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>
    /// How long one completion check waits for the provider (the local engine's signal; EC2: the provider's batched
    /// DescribeSnapshots, first one a second after the create). A snapshot still pending after it is checked again after
    /// <see cref="CompletionRecheckDelay"/>: no job waits while a snapshot completes.
    /// </summary>
    public TimeSpan CompletionCheckWait { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan CompletionRecheckDelay { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A completion is followed in process (the provider's wait, holding no worker) for up to this long before its check
    /// runs: a snapshot that completes within it is finished at once.
    /// </summary>
    public TimeSpan InProcessCompletionWait { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A create or copy refused by a limit that clears by itself (<see cref="ProviderErrorKind.RetryLater"/>) is tried
    /// again after this delay (doubling up to <see cref="RetryLaterMaxDelay"/>, or the engine's own RetryAfter) until
    /// <see cref="RetryLaterWindow"/> has passed, and a create never past the schedule's next fire.
    /// </summary>
    public TimeSpan RetryLaterDelay { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RetryLaterMaxDelay { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan RetryLaterWindow { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>
/// The result of one step of an action: finished (succeeded, failed, skipped), accepted by the provider and pending
/// (<see cref="ActionStates.Completing"/>: a completion check follows), or to be tried again at <see cref="RetryAt"/>.
/// </summary>
public sealed record ActionOutcome(string State, string? ResultSnapshotId = null, string? Consistency = null, string? Error = null, string? Note = null)
{
    /// <summary>When the action is to be claimed again (state enqueued: a retry; completing: the next completion check).</summary>
    public DateTimeOffset? RetryAt { get; init; }

    public bool IsFinished => ActionStates.IsFinished(State);

    public static ActionOutcome Accepted(string snapshotIds, string? consistency, string? note) => new(ActionStates.Completing, snapshotIds, consistency, null, note);

    public static ActionOutcome Later(DateTimeOffset at, string reason) => new(ActionStates.Enqueued, Error: reason) { RetryAt = at };

    public static ActionOutcome Succeeded(string? snapshotId = null, string? consistency = null, string? note = null) =>
        new(ActionStates.Succeeded, snapshotId, consistency, null, note);

    public static ActionOutcome Failed(string error) => new(ActionStates.Failed, Error: error);

    public static ActionOutcome Skipped(string reason) => new(ActionStates.Skipped, Error: reason);
}

/// <summary>
/// Executes one step of a planned action against the providers, and returns without waiting for snapshots to complete
/// (<see cref="CheckCompletionAsync"/> is the later step). Creates and copies are exactly-once: the token is looked up at
/// the provider before every call, so a re-run, a retry after a crash or a duplicate delivery finds the snapshot
/// instead of creating another (the run store's leased claim keeps two deliveries from running one action at once).
/// Hooks wrap creates: pre hooks, create, post hooks (always once pre hooks ran, even when the create failed).
/// </summary>
public sealed class ActionExecutor
{
    /// <summary>Attempts of a create or copy whose snapshot ended in error before the action fails.</summary>
    public const int MaxBuildAttempts = 3;

    private readonly IEngineRegistry engines;
    private readonly RunStore store;
    private readonly IHookRunner hooks;
    private readonly HookLeftoverReaper leftovers;
    private readonly TimeProvider timeProvider;
    private readonly ExecutorOptions options;
    private readonly ILogger logger;

    /// <summary>The one retry pipeline of this executor's provider calls; a retry is counted on the action it is for.</summary>
    private readonly ResiliencePipeline retry;

    public ActionExecutor(
        IEngineRegistry engines, RunStore store, IHookRunner hooks, HookLeftoverReaper leftovers, TimeProvider timeProvider, ExecutorOptions options,
        ILogger<ActionExecutor> logger)
    {
        this.engines = engines;
        this.store = store;
        this.hooks = hooks;
        this.leftovers = leftovers;
        this.timeProvider = timeProvider;
        this.options = options;
        this.logger = logger;
        retry = ProviderRetry.Create(options.Retry, timeProvider, (e, attempt, context) =>
        {
            var actionId = context.Properties.GetValue(ActionRetry.ActionKey, "");
            logger.LogWarning("action {Action}: {Code} ({Kind}), retry {Attempt}", actionId, e.Code, e.Kind, attempt);
            return new ValueTask(store.CountRetryAsync(actionId, $"{e.Code}: {e.Message}", CancellationToken.None));
        });
    }

    /// <summary>
    /// Runs the action up to the provider's acceptance. Never throws for a provider or hook failure (it returns it);
    /// throws on cancellation. <paramref name="queuedAt"/> and <paramref name="attempt"/> (1 for the first) bound and
    /// space the retries after a limit that clears by itself.
    /// </summary>
    public async Task<ActionOutcome> ExecuteAsync(
        string actionId, PlannedAction action, SnapshotPolicy? policy, int attempt = 1, DateTimeOffset? queuedAt = null, CancellationToken cancellationToken = default)
    {
        var pipeline = new ActionRetry(retry, actionId);
        try
        {
            return action.Kind switch
            {
                ActionKind.Create => await CreateAsync(actionId, action, policy, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Copy => await CopyAsync(action, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Archive => await ArchiveAsync(action, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.EnableFastRestore => await FastRestoreAsync(action, enable: true, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.DisableFastRestore => await FastRestoreAsync(action, enable: false, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Delete => await DeleteAsync(action, pipeline, cancellationToken).ConfigureAwait(false),
                _ => ActionOutcome.Failed($"unknown action kind {action.Kind}"),
            };
        }
        catch (ProviderException e) when (e.IsRetryLater)
        {
            return RetryLater(actionId, action, policy, e, attempt, queuedAt ?? timeProvider.GetUtcNow());
        }
        catch (ProviderException e)
        {
            return ActionOutcome.Failed($"{e.Code}: {e.Message}");
        }
    }

    /// <summary>The provider of the action's engine (its policy's <c>engine:</c>) and region.</summary>
    public ISnapshotProvider ProviderOf(PlannedAction action) => engines.For(action.Engine ?? engines.Default).For(action.Region);

    // ---- create ----------------------------------------------------------------------------------

    private async Task<ActionOutcome> CreateAsync(
        string actionId, PlannedAction action, SnapshotPolicy? policy, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var token = action.Token ?? throw new InvalidOperationException($"create {actionId} has no token");
        var provider = ProviderOf(action);
        var existing = await FindLiveByTokenAsync(provider, token, pipeline, cancellationToken).ConfigureAwait(false);
        if (existing.Length > 0)
        {
            // Created before (a re-run, a crash after the call, a retry, a duplicate delivery): never a second one.
            return Accepted(existing, existing[0].Tags.GetValueOrDefault(OwnershipTags.Consistency), "already created");
        }

        if (policy is null)
        {
            return ActionOutcome.Skipped($"policy {action.Policy} is no longer applied");
        }

        // A limit that clears by itself ends the attempt (post hooks included: nothing stays frozen while waiting) and
        // surfaces as a RetryLater ProviderException: the action is claimed again later, and looks the token up first.
        return await AttemptCreateAsync(actionId, action, policy, provider, token, pipeline, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Pre hooks, the create, post hooks. Throws a retry-later ProviderException after the post hooks.</summary>
    private async Task<ActionOutcome> AttemptCreateAsync(
        string actionId, PlannedAction action, SnapshotPolicy policy, ISnapshotProvider provider, string token, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var schedule = action.Schedule ?? action.Schedules.FirstOrDefault() ?? "";
        var context = new HookContext(action.Policy, schedule, HookStage.Pre, action.VolumeIds, action.InstanceId, action.FireTime ?? timeProvider.GetUtcNow());
        var consistency = "application";
        string? preFailure = null;
        if (!policy.Hooks.IsEmpty)
        {
            // A crash during an earlier attempt may have left its hook running (a freeze still holding): kill it before
            // this attempt starts the hooks again. The startup step does the same for every action of this machine.
            await leftovers.ReapAsync(actionId, cancellationToken).ConfigureAwait(false);
        }

        foreach (var hook in policy.Hooks.Pre)
        {
            var result = await RunHookAsync(actionId, hook, context, cancellationToken).ConfigureAwait(false);
            if (result.Outcome != HookOutcome.Succeeded)
            {
                preFailure = $"pre hook {HookRunner.Describe(hook)} {Describe(result)}";
                break;
            }
        }

        ActionOutcome? outcome = null;
        if (preFailure is not null)
        {
            switch (policy.Hooks.OnFailure)
            {
                case HookFailureMode.Skip:
                    outcome = ActionOutcome.Skipped(preFailure + "; onFailure: skip");
                    break;
                case HookFailureMode.Fail:
                    outcome = ActionOutcome.Failed(preFailure + "; onFailure: fail");
                    break;
                default:
                    consistency = "crash";
                    break;
            }
        }

        ImmutableArray<SnapshotInfo> created = [];
        ProviderException? retryLater = null;
        if (outcome is null)
        {
            try
            {
                created = await StartCreateAsync(provider, action, token, consistency, pipeline, cancellationToken).ConfigureAwait(false);
            }
            catch (ProviderException e) when (e.IsRetryLater)
            {
                retryLater = e;
            }
            catch (ProviderException e)
            {
                outcome = ActionOutcome.Failed($"create failed: {e.Code}: {e.Message}");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                outcome = ActionOutcome.Failed($"create failed: {e.GetType().Name}: {e.Message}");
            }
        }

        // Post hooks run whenever pre hooks ran, whatever happened to the snapshot (thaw what was frozen).
        var postFailure = await RunPostHooksAsync(actionId, policy, context, cancellationToken).ConfigureAwait(false);
        if (retryLater is not null)
        {
            throw retryLater;
        }

        if (outcome is not null)
        {
            return postFailure is null ? outcome : outcome with { Error = outcome.Error + "; " + postFailure };
        }

        return Accepted(created, consistency, postFailure);
    }

    private async Task<ImmutableArray<SnapshotInfo>> StartCreateAsync(
        ISnapshotProvider provider, PlannedAction action, string token, string consistency, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var tags = action.Tags.SetItem(OwnershipTags.Token, token).SetItem(OwnershipTags.Consistency, consistency);
        var attempt = 0;
        return await pipeline.ExecuteAsync(async ct =>
        {
            // A transient failure may have happened after the engine created it: look again before every retry
            // (the first attempt follows the lookup made before the hooks).
            if (attempt++ > 0)
            {
                var again = await FindLiveByTokenAsync(provider, token, ActionRetry.None, ct).ConfigureAwait(false);
                if (again.Length > 0)
                {
                    return again;
                }
            }

            if (action.InstanceId is not null)
            {
                return await provider.CreateSnapshotsAsync(CreateSnapshotsRequest.For(action, tags), ct).ConfigureAwait(false);
            }

            var one = await provider.CreateSnapshotAsync(new CreateSnapshotRequest(action.VolumeIds.Single(), tags, action.Reason), ct).ConfigureAwait(false);
            return ImmutableArray.Create(one);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The provider accepted the snapshots: succeeded at once when all are complete already, else completing (a
    /// completion check finishes the action later; no job waits for a snapshot).
    /// </summary>
    private static ActionOutcome Accepted(IReadOnlyList<SnapshotInfo> snapshots, string? consistency, string? note)
    {
        if (snapshots.Count == 0)
        {
            return ActionOutcome.Failed("the provider returned no snapshot");
        }

        var ids = string.Join(',', snapshots.Select(s => s.Id));
        return snapshots.All(s => s.State == SnapshotState.Completed)
            ? ActionOutcome.Succeeded(ids, consistency, note)
            : ActionOutcome.Accepted(ids, consistency, note);
    }

    /// <summary>
    /// One completion check of an accepted create or copy (<paramref name="snapshotIds"/>, comma-separated): waits at
    /// most <see cref="ExecutorOptions.CompletionCheckWait"/> for the provider (which batches its describes per region).
    /// Succeeded when every snapshot completed; run again (up to <see cref="MaxBuildAttempts"/> attempts of the action)
    /// when one ended in error or is gone, then failed; failed when they are still
    /// pending <see cref="ExecutorOptions.CompletionTimeout"/> after <paramref name="createdAt"/>; otherwise checked
    /// again after <see cref="ExecutorOptions.CompletionRecheckDelay"/>.
    /// </summary>
    public async Task<ActionOutcome> CheckCompletionAsync(
        PlannedAction action, string snapshotIds, string? consistency, string? note, DateTimeOffset createdAt, int attempt = 1, CancellationToken cancellationToken = default)
    {
        var provider = ProviderOf(action);
        var pending = new List<string>();
        foreach (var id in snapshotIds.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            using var wait = new CancellationTokenSource(options.CompletionCheckWait, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(wait.Token, cancellationToken);
            SnapshotInfo? final;
            try
            {
                final = await provider.WaitForCompletionAsync(id, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                pending.Add(id);
                continue;
            }
            catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
            {
                final = null;
            }
            catch (ProviderException e) when (e.Kind is ProviderErrorKind.Throttled or ProviderErrorKind.Transient || e.IsRetryLater)
            {
                pending.Add(id);
                continue;
            }

            if (final is null || final.State == SnapshotState.Error)
            {
                // An interrupted build ends in error (the local engine marks it so at restart) or vanishes: the create or
                // copy runs again, whose token lookup deletes the error snapshot first, so the token still ends with
                // exactly one snapshot; a snapshot that keeps failing fails the action.
                var what = $"{(action.Kind == ActionKind.Copy ? "copy" : "snapshot")} {id} ended in state {(final is null ? "missing" : "error")}";
                return attempt < MaxBuildAttempts
                    ? ActionOutcome.Later(timeProvider.GetUtcNow(), what + "; creating it again")
                    : new ActionOutcome(ActionStates.Failed, snapshotIds, consistency, what);
            }
        }

        if (pending.Count == 0)
        {
            return ActionOutcome.Succeeded(snapshotIds, consistency, note);
        }

        var now = timeProvider.GetUtcNow();
        if (now - createdAt >= options.CompletionTimeout)
        {
            return new ActionOutcome(ActionStates.Failed, snapshotIds, consistency, $"snapshot {pending[0]} still pending after {options.CompletionTimeout}");
        }

        return ActionOutcome.Accepted(snapshotIds, consistency, note) with { RetryAt = now + options.CompletionRecheckDelay };
    }

    /// <summary>
    /// The post hooks a create owes when it was interrupted after its pre hooks and its policy is no longer applied
    /// (a revision removed it before the re-run): "post hooks always run once pre hooks ran", with the definition the
    /// pre hooks came from (<paramref name="retired"/>). Returns the first failure, null when all succeeded.
    /// </summary>
    public Task<string?> RunOwedPostHooksAsync(string actionId, PlannedAction action, SnapshotPolicy retired, CancellationToken cancellationToken = default)
    {
        var schedule = action.Schedule ?? action.Schedules.FirstOrDefault() ?? "";
        var context = new HookContext(action.Policy, schedule, HookStage.Pre, action.VolumeIds, action.InstanceId, action.FireTime ?? timeProvider.GetUtcNow());
        return RunPostHooksAsync(actionId, retired, context, cancellationToken);
    }

    private async Task<string?> RunPostHooksAsync(string actionId, SnapshotPolicy policy, HookContext preContext, CancellationToken cancellationToken)
    {
        string? failure = null;
        var context = preContext with { Stage = HookStage.Post };
        foreach (var hook in policy.Hooks.Post)
        {
            // Post hooks must run even when the job is being cancelled half-way; give them their own timeout only.
            var result = await RunHookAsync(actionId, hook, context, CancellationToken.None).ConfigureAwait(false);
            if (result.Outcome != HookOutcome.Succeeded)
            {
                failure ??= $"post hook {HookRunner.Describe(hook)} {Describe(result)}";
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        return failure;
    }

    /// <summary>
    /// Runs one hook with its record: written before the hook starts (running, owned by this server), told each exec
    /// process group as it starts, completed at the end, so an attempt that a crash interrupts keeps its record and the
    /// restart can kill what it left.
    /// </summary>
    private async Task<HookResult> RunHookAsync(string actionId, HookSpec hook, HookContext context, CancellationToken cancellationToken)
    {
        var stage = context.Stage == HookStage.Pre ? "pre" : "post";
        var id = Guid.NewGuid().ToString("N");
        await store.StartHookAsync(new HookRunRecord(id, actionId, stage, HookRunner.Describe(hook), HookRunStates.Running, 0, null, "", null, TimeSpan.Zero, null)
        {
            StartedAt = timeProvider.GetUtcNow(),
            Owner = leftovers.Self,
        }, CancellationToken.None).ConfigureAwait(false);
        HookResult result;
        try
        {
            result = await hooks.RunAsync(hook, context, new RecordingObserver(store, id), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Cancelled (the runner killed the process group) or broken: the record says so instead of staying "running".
            var outcome = e is OperationCanceledException ? HookRunStates.Cancelled : HookOutcome.Failed.ToString().ToLowerInvariant();
            await store.FinishHookAsync(new HookRunRecord(id, actionId, stage, HookRunner.Describe(hook), outcome, 0, null, "", $"{e.GetType().Name}: {e.Message}",
                TimeSpan.Zero, timeProvider.GetUtcNow()), CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await store.FinishHookAsync(new HookRunRecord(
            id, actionId, stage, HookRunner.Describe(hook), result.Outcome.ToString().ToLowerInvariant(), result.Attempts, result.ExitCode, result.Output,
            result.Error, result.Duration, timeProvider.GetUtcNow()), CancellationToken.None).ConfigureAwait(false);
        return result;
    }

    /// <summary>Writes each exec attempt's process group on the hook's record as it starts.</summary>
    private sealed class RecordingObserver(RunStore store, string hookId) : IHookProcessObserver
    {
        public Task ProcessStartedAsync(HookProcess process, CancellationToken cancellationToken = default) =>
            store.SetHookProcessAsync(hookId, new HookProcessRecord(process.ProcessGroupId, process.StartTicks, process.BootId), CancellationToken.None);
    }

    private static string Describe(HookResult result) => result.Outcome switch
    {
        HookOutcome.TimedOut => $"timed out ({result.Error})",
        _ => $"failed ({result.Error ?? "exit " + result.ExitCode})",
    };

    // ---- copy ------------------------------------------------------------------------------------

    private async Task<ActionOutcome> CopyAsync(PlannedAction action, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var actionId = ActionPayload.IdOf(action);
        var token = action.Token ?? throw new InvalidOperationException($"copy {actionId} has no token");
        var target = ProviderOf(action);
        var existing = await FindLiveByTokenAsync(target, token, pipeline, cancellationToken).ConfigureAwait(false);
        SnapshotInfo copy;
        var note = (string?)null;
        if (existing.Length > 0)
        {
            copy = existing[0];
            note = "already copied";
        }
        else
        {
            var tags = action.Tags.SetItem(OwnershipTags.Token, token);
            var attempt = 0;
            copy = await pipeline.ExecuteAsync(async ct =>
            {
                if (attempt++ > 0)
                {
                    var again = await FindLiveByTokenAsync(target, token, ActionRetry.None, ct).ConfigureAwait(false);
                    if (again.Length > 0)
                    {
                        return again[0];
                    }
                }

                return await target.CopySnapshotAsync(new CopySnapshotRequest(
                    action.SourceRegion ?? throw new InvalidOperationException($"copy {actionId} has no source region"),
                    action.SnapshotId ?? throw new InvalidOperationException($"copy {actionId} has no source snapshot"),
                    tags, action.Encrypted, action.KeyId, action.Reason), ct).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }

        return Accepted([copy], null, note);
    }

    // ---- archive, fast restore, delete -----------------------------------------------------------

    private async Task<ActionOutcome> ArchiveAsync(PlannedAction action, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var provider = ProviderOf(action);
        var snapshot = await DescribeOwnedAsync(provider, action, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is null)
        {
            return ActionOutcome.Skipped($"snapshot {action.SnapshotId} no longer exists");
        }

        if (snapshot.Tier == StorageTier.Archive)
        {
            return ActionOutcome.Succeeded(snapshot.Id, note: "already archived");
        }

        await pipeline.ExecuteAsync(async ct => await provider.ArchiveSnapshotAsync(snapshot.Id, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return ActionOutcome.Succeeded(snapshot.Id);
    }

    private async Task<ActionOutcome> FastRestoreAsync(PlannedAction action, bool enable, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var provider = ProviderOf(action);
        var snapshot = await DescribeOwnedAsync(provider, action, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is null)
        {
            return enable ? ActionOutcome.Skipped($"snapshot {action.SnapshotId} no longer exists") : ActionOutcome.Succeeded(action.SnapshotId, note: "snapshot gone");
        }

        await pipeline.ExecuteAsync(async ct =>
        {
            if (enable)
            {
                await provider.EnableFastSnapshotRestoresAsync(snapshot.Id, action.Zones, ct).ConfigureAwait(false);
            }
            else
            {
                await provider.DisableFastSnapshotRestoresAsync(snapshot.Id, action.Zones, ct).ConfigureAwait(false);
            }
        }, cancellationToken).ConfigureAwait(false);
        return ActionOutcome.Succeeded(snapshot.Id);
    }

    private async Task<ActionOutcome> DeleteAsync(PlannedAction action, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var provider = ProviderOf(action);
        var snapshot = await DescribeAsync(provider, action.SnapshotId!, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is null)
        {
            return ActionOutcome.Succeeded(action.SnapshotId, note: "already gone");
        }

        // Nothing is lost: the executor re-checks ownership, whatever the plan said.
        if (!IsOwned(snapshot, action))
        {
            return ActionOutcome.Failed($"refusing to delete {snapshot.Id}: it is not tagged {OwnershipDescription(action)}");
        }

        await pipeline.ExecuteAsync(async ct => await provider.DeleteSnapshotAsync(snapshot.Id, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return ActionOutcome.Succeeded(snapshot.Id);
    }

    private async Task<SnapshotInfo?> DescribeOwnedAsync(ISnapshotProvider provider, PlannedAction action, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var snapshot = await DescribeAsync(provider, action.SnapshotId!, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is not null && !IsOwned(snapshot, action))
        {
            throw new ProviderException(ProviderErrorKind.InvalidParameter, "NotOwned",
                $"snapshot {snapshot.Id} is not tagged {OwnershipDescription(action)}");
        }

        return snapshot;
    }

    /// <summary>
    /// The snapshot is the action's policy's: tagged lifecycle:policy = the policy, or, for an action on an adopted
    /// snapshot, carrying no lifecycle:policy tag and tagged aws:dlm:lifecycle-policy-id = the adopted DLM policy.
    /// </summary>
    private static bool IsOwned(SnapshotInfo snapshot, PlannedAction action) =>
        snapshot.Tags.TryGetValue(OwnershipTags.Policy, out var policy)
            ? policy == action.Policy
            : action.AdoptedFrom is { } dlmPolicy && snapshot.Tags.GetValueOrDefault(DlmTags.PolicyId) == dlmPolicy;

    private static string OwnershipDescription(PlannedAction action) => action.AdoptedFrom is { } dlmPolicy
        ? $"{OwnershipTags.Policy}={action.Policy} nor (without it) {DlmTags.PolicyId}={dlmPolicy}"
        : $"{OwnershipTags.Policy}={action.Policy}";

    // ---- lookups ---------------------------------------------------------------------------------

    /// <summary>
    /// Snapshots carrying the token, except ones in state error: an interrupted create leaves an error snapshot
    /// behind (the local engine marks it on restart), which is deleted so the token ends with exactly one snapshot.
    /// </summary>
    private async Task<ImmutableArray<SnapshotInfo>> FindLiveByTokenAsync(
        ISnapshotProvider provider, string token, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        var found = await pipeline.ExecuteAsync(async ct => await provider.DescribeSnapshotsAsync(
            new SnapshotQuery { Tags = TagFilter.Key(OwnershipTags.Token, token) }, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        foreach (var failed in found.Where(s => s.State == SnapshotState.Error))
        {
            logger.LogWarning("token {Token}: deleting snapshot {Snapshot} left in state error by an interrupted create", token, failed.Id);
            await pipeline.ExecuteAsync(async ct => await provider.DeleteSnapshotAsync(failed.Id, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }

        return [.. found.Where(s => s.State != SnapshotState.Error).OrderBy(s => s.Id, StringComparer.Ordinal)];
    }

    private static async Task<SnapshotInfo?> DescribeAsync(ISnapshotProvider provider, string snapshotId, ActionRetry pipeline, CancellationToken cancellationToken)
    {
        try
        {
            var found = await pipeline.ExecuteAsync(async ct => await provider.DescribeSnapshotsAsync(
                new SnapshotQuery { SnapshotIds = [snapshotId] }, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            return found.FirstOrDefault(s => s.Id == snapshotId);
        }
        catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// A create or copy refused by a limit that clears by itself (EC2: SnapshotCreationPerVolumeRateExceeded,
    /// ConcurrentSnapshotLimitExceeded, copy limits): tried again after <see cref="ExecutorOptions.RetryLaterDelay"/>
    /// (doubling with each attempt up to <see cref="ExecutorOptions.RetryLaterMaxDelay"/>, or the engine's RetryAfter)
    /// until <see cref="ExecutorOptions.RetryLaterWindow"/> after it was queued, and a create never past its schedule's
    /// next fire. The next attempt looks the token up first, so it never makes a second snapshot.
    /// </summary>
    private ActionOutcome RetryLater(string actionId, PlannedAction action, SnapshotPolicy? policy, ProviderException e, int attempt, DateTimeOffset queuedAt)
    {
        var until = queuedAt + options.RetryLaterWindow;
        if (action.Kind == ActionKind.Create && NextFireOf(action, policy) is { } next && next < until)
        {
            until = next;
        }

        var backoff = TimeSpan.FromTicks(Math.Min(options.RetryLaterDelay.Ticks * (1L << Math.Clamp(attempt - 1, 0, 20)), options.RetryLaterMaxDelay.Ticks));
        var wait = e.RetryAfter is { } after && after > TimeSpan.Zero ? after : backoff;
        var at = timeProvider.GetUtcNow() + wait;
        if (at >= until)
        {
            var limit = until == queuedAt + options.RetryLaterWindow ? $"the retry window ({options.RetryLaterWindow}) ends" : "the schedule's next fire";
            return ActionOutcome.Failed($"{e.Code}: {e.Message} (still refused; the next try would come after {limit})");
        }

        logger.LogWarning("action {Action}: {Code}, trying again in {Wait}", actionId, e.Code, wait);
        return ActionOutcome.Later(at, $"{e.Code}: {e.Message} (trying again at {at:u})");
    }

    /// <summary>The next fire of the create's schedule after its fire time: a retried create must not run into it.</summary>
    private static DateTimeOffset? NextFireOf(PlannedAction action, SnapshotPolicy? policy)
    {
        var schedule = policy?.Schedules.FirstOrDefault(s => s.Name == (action.Schedule ?? action.Schedules.FirstOrDefault()));
        if (schedule is null || action.FireTime is not { } fire)
        {
            return null;
        }

        try
        {
            return Lifecycle.Core.Scheduling.ScheduleCalendar.For(schedule.Trigger).NextAfter(fire);
        }
        catch (Exception e) when (e is FormatException or NotSupportedException)
        {
            return null;
        }
    }
}

/// <summary>
/// The executor's shared retry pipeline, bound to one action: each call carries the action's id in its
/// <see cref="ResilienceContext"/>, where the pipeline's retry callback finds which action to count the retry on.
/// </summary>
internal readonly record struct ActionRetry(ResiliencePipeline Pipeline, string? ActionId)
{
    public static readonly ResiliencePropertyKey<string> ActionKey = new("lifecycle.action");

    /// <summary>No retries (a lookup inside an attempt that is itself retried).</summary>
    public static ActionRetry None => new(ResiliencePipeline.Empty, null);

    public async ValueTask<T> ExecuteAsync<T>(Func<CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var context = Bind(cancellationToken);
        try
        {
            return await Pipeline.ExecuteAsync(static (context, call) => call(context.CancellationToken), context, call).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    public async ValueTask ExecuteAsync(Func<CancellationToken, ValueTask> call, CancellationToken cancellationToken)
    {
        var context = Bind(cancellationToken);
        try
        {
            await Pipeline.ExecuteAsync(static (context, call) => call(context.CancellationToken), context, call).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private ResilienceContext Bind(CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        if (ActionId is not null)
        {
            context.Properties.Set(ActionKey, ActionId);
        }

        return context;
    }
}
