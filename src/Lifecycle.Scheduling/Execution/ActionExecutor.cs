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

    /// <summary>How long to wait for a pending snapshot or copy to complete before the action fails.</summary>
    public TimeSpan CompletionTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>
    /// A create or copy refused by a limit that clears by itself (<see cref="ProviderErrorKind.RetryLater"/>) is tried
    /// again after this delay (doubling up to <see cref="RetryLaterMaxDelay"/>, or the engine's own RetryAfter) until
    /// <see cref="RetryLaterWindow"/> has passed, and a create never past the schedule's next fire.
    /// </summary>
    public TimeSpan RetryLaterDelay { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RetryLaterMaxDelay { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan RetryLaterWindow { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>The result of executing one action.</summary>
public sealed record ActionOutcome(string State, string? ResultSnapshotId = null, string? Consistency = null, string? Error = null, string? Note = null)
{
    public static ActionOutcome Succeeded(string? snapshotId = null, string? consistency = null, string? note = null) =>
        new(ActionStates.Succeeded, snapshotId, consistency, null, note);

    public static ActionOutcome Failed(string error) => new(ActionStates.Failed, Error: error);

    public static ActionOutcome Skipped(string reason) => new(ActionStates.Skipped, Error: reason);
}

/// <summary>
/// Executes one planned action against the providers. Creates and copies are exactly-once: the token is claimed in the
/// store (unique) and looked up at the provider before the call, so a re-run, a retry after a crash or a second node
/// finds the snapshot instead of creating another. Hooks wrap creates: pre hooks, create, post hooks (always once pre
/// hooks ran, even when the create failed), then wait for completion.
/// </summary>
public sealed class ActionExecutor
{
    private readonly IEngineRegistry engines;
    private readonly RunStore store;
    private readonly IHookRunner hooks;
    private readonly HookLeftoverReaper leftovers;
    private readonly TimeProvider timeProvider;
    private readonly ExecutorOptions options;
    private readonly ILogger logger;
    private readonly string node;

    public ActionExecutor(
        IEngineRegistry engines, RunStore store, IHookRunner hooks, HookLeftoverReaper leftovers, TimeProvider timeProvider, ExecutorOptions options,
        NodeIdentity node, ILogger<ActionExecutor> logger)
    {
        this.engines = engines;
        this.store = store;
        this.hooks = hooks;
        this.leftovers = leftovers;
        this.timeProvider = timeProvider;
        this.options = options;
        this.node = node.Name;
        this.logger = logger;
    }

    /// <summary>
    /// Runs the action. Never throws for a provider or hook failure (it returns it); throws on cancellation.
    /// <paramref name="tokenClaimed"/>: the caller claimed the action's token already (a batch start does, in its
    /// transaction), so no store call precedes the provider's.
    /// </summary>
    public async Task<ActionOutcome> ExecuteAsync(
        string actionId, PlannedAction action, SnapshotPolicy? policy, bool tokenClaimed = false, CancellationToken cancellationToken = default)
    {
        var pipeline = ProviderRetry.Create(options.Retry, timeProvider, (e, attempt) =>
        {
            logger.LogWarning("action {Action}: {Code} ({Kind}), retry {Attempt}", actionId, e.Code, e.Kind, attempt);
            return new ValueTask(store.CountRetryAsync(actionId, $"{e.Code}: {e.Message}", CancellationToken.None));
        });
        try
        {
            return action.Kind switch
            {
                ActionKind.Create => await CreateAsync(actionId, action, policy, tokenClaimed, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Copy => await CopyAsync(actionId, action, tokenClaimed, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Archive => await ArchiveAsync(action, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.EnableFastRestore => await FastRestoreAsync(action, enable: true, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.DisableFastRestore => await FastRestoreAsync(action, enable: false, pipeline, cancellationToken).ConfigureAwait(false),
                ActionKind.Delete => await DeleteAsync(action, pipeline, cancellationToken).ConfigureAwait(false),
                _ => ActionOutcome.Failed($"unknown action kind {action.Kind}"),
            };
        }
        catch (ProviderException e)
        {
            return ActionOutcome.Failed($"{e.Code}: {e.Message}");
        }
    }

    /// <summary>The provider of the action's engine (its policy's <c>engine:</c>) and region.</summary>
    private ISnapshotProvider ProviderOf(PlannedAction action) => engines.For(action.Engine ?? engines.Default).For(action.Region);

    // ---- create ----------------------------------------------------------------------------------

    private async Task<ActionOutcome> CreateAsync(
        string actionId, PlannedAction action, SnapshotPolicy? policy, bool tokenClaimed, ResiliencePipeline pipeline, CancellationToken cancellationToken)
    {
        var token = action.Token ?? throw new InvalidOperationException($"create {actionId} has no token");
        var provider = ProviderOf(action);
        if (!tokenClaimed)
        {
            await store.ClaimTokenAsync(token, action.Region, actionId, node, cancellationToken).ConfigureAwait(false);
        }

        var existing = await FindLiveByTokenAsync(provider, token, pipeline, cancellationToken).ConfigureAwait(false);
        if (existing.Length > 0)
        {
            // Created before (a re-run, a crash after the call, another node): never a second one. Finish waiting.
            return await CompleteCreateAsync(provider, token, existing, existing[0].Tags.GetValueOrDefault(OwnershipTags.Consistency), "already created", cancellationToken).ConfigureAwait(false);
        }

        if (policy is null)
        {
            return ActionOutcome.Skipped($"policy {action.Policy} is no longer applied");
        }

        // A limit that clears by itself ends the attempt (post hooks included: nothing stays frozen while waiting);
        // the next attempt, after a while and before the schedule's next fire, looks the token up first.
        var attempts = 0;
        return await RetryLaterAsync(actionId, NextFireOf(action, policy), async ct =>
        {
            if (attempts++ > 0)
            {
                var again = await FindLiveByTokenAsync(provider, token, pipeline, ct).ConfigureAwait(false);
                if (again.Length > 0)
                {
                    return await CompleteCreateAsync(provider, token, again, again[0].Tags.GetValueOrDefault(OwnershipTags.Consistency), "already created", ct).ConfigureAwait(false);
                }
            }

            return await AttemptCreateAsync(actionId, action, policy, provider, token, pipeline, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Pre hooks, the create, post hooks, then the wait for completion. Throws a retry-later ProviderException after the post hooks.</summary>
    private async Task<ActionOutcome> AttemptCreateAsync(
        string actionId, PlannedAction action, SnapshotPolicy policy, ISnapshotProvider provider, string token, ResiliencePipeline pipeline, CancellationToken cancellationToken)
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

        return await CompleteCreateAsync(provider, token, created, consistency, postFailure, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ImmutableArray<SnapshotInfo>> StartCreateAsync(
        ISnapshotProvider provider, PlannedAction action, string token, string consistency, ResiliencePipeline pipeline, CancellationToken cancellationToken)
    {
        var tags = action.Tags.SetItem(OwnershipTags.Token, token).SetItem(OwnershipTags.Consistency, consistency);
        var attempt = 0;
        return await pipeline.ExecuteAsync(async ct =>
        {
            // A transient failure may have happened after the engine created it: look again before every retry
            // (the first attempt follows the lookup made before the hooks).
            if (attempt++ > 0)
            {
                var again = await FindLiveByTokenAsync(provider, token, ResiliencePipeline.Empty, ct).ConfigureAwait(false);
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

    private async Task<ActionOutcome> CompleteCreateAsync(
        ISnapshotProvider provider, string token, ImmutableArray<SnapshotInfo> snapshots, string? consistency, string? note, CancellationToken cancellationToken)
    {
        if (snapshots.IsDefaultOrEmpty)
        {
            return ActionOutcome.Failed("the provider returned no snapshot");
        }

        // The claim records the snapshot with the action's outcome (one write, see RunStore.FinishActionAsync).
        var ids = string.Join(',', snapshots.Select(s => s.Id));
        foreach (var snapshot in snapshots)
        {
            var final = await WaitForCompletionAsync(provider, snapshot.Id, cancellationToken).ConfigureAwait(false);
            if (final is null || final.State == SnapshotState.Error)
            {
                return new ActionOutcome(ActionStates.Failed, ids, consistency, $"snapshot {snapshot.Id} ended in state {(final is null ? "missing" : "error")}");
            }
        }

        return ActionOutcome.Succeeded(ids, consistency, note);
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

    private async Task<ActionOutcome> CopyAsync(string actionId, PlannedAction action, bool tokenClaimed, ResiliencePipeline pipeline, CancellationToken cancellationToken)
    {
        var token = action.Token ?? throw new InvalidOperationException($"copy {actionId} has no token");
        var target = ProviderOf(action);
        if (!tokenClaimed)
        {
            await store.ClaimTokenAsync(token, action.Region, actionId, node, cancellationToken).ConfigureAwait(false);
        }
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
            copy = await RetryLaterAsync(actionId, null, outer => pipeline.ExecuteAsync(async ct =>
            {
                if (attempt++ > 0)
                {
                    var again = await FindLiveByTokenAsync(target, token, ResiliencePipeline.Empty, ct).ConfigureAwait(false);
                    if (again.Length > 0)
                    {
                        return again[0];
                    }
                }

                return await target.CopySnapshotAsync(new CopySnapshotRequest(
                    action.SourceRegion ?? throw new InvalidOperationException($"copy {actionId} has no source region"),
                    action.SnapshotId ?? throw new InvalidOperationException($"copy {actionId} has no source snapshot"),
                    tags, action.Encrypted, action.KeyId, action.Reason), ct).ConfigureAwait(false);
            }, outer).AsTask(), cancellationToken).ConfigureAwait(false);
        }

        var final = await WaitForCompletionAsync(target, copy.Id, cancellationToken).ConfigureAwait(false);
        return final is null || final.State == SnapshotState.Error
            ? new ActionOutcome(ActionStates.Failed, copy.Id, null, $"copy {copy.Id} ended in state {(final is null ? "missing" : "error")}")
            : ActionOutcome.Succeeded(copy.Id, note: note);
    }

    // ---- archive, fast restore, delete -----------------------------------------------------------

    private async Task<ActionOutcome> ArchiveAsync(PlannedAction action, ResiliencePipeline pipeline, CancellationToken cancellationToken)
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

    private async Task<ActionOutcome> FastRestoreAsync(PlannedAction action, bool enable, ResiliencePipeline pipeline, CancellationToken cancellationToken)
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

    private async Task<ActionOutcome> DeleteAsync(PlannedAction action, ResiliencePipeline pipeline, CancellationToken cancellationToken)
    {
        var provider = ProviderOf(action);
        var snapshot = await DescribeAsync(provider, action.SnapshotId!, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is null)
        {
            return ActionOutcome.Succeeded(action.SnapshotId, note: "already gone");
        }

        // Nothing is lost: the executor re-checks ownership, whatever the plan said.
        if (snapshot.Tags.GetValueOrDefault(OwnershipTags.Policy) != action.Policy)
        {
            return ActionOutcome.Failed($"refusing to delete {snapshot.Id}: it is not tagged {OwnershipTags.Policy}={action.Policy}");
        }

        await pipeline.ExecuteAsync(async ct => await provider.DeleteSnapshotAsync(snapshot.Id, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return ActionOutcome.Succeeded(snapshot.Id);
    }

    private async Task<SnapshotInfo?> DescribeOwnedAsync(ISnapshotProvider provider, PlannedAction action, ResiliencePipeline pipeline, CancellationToken cancellationToken)
    {
        var snapshot = await DescribeAsync(provider, action.SnapshotId!, pipeline, cancellationToken).ConfigureAwait(false);
        if (snapshot is not null && snapshot.Tags.GetValueOrDefault(OwnershipTags.Policy) != action.Policy)
        {
            throw new ProviderException(ProviderErrorKind.InvalidParameter, "NotOwned",
                $"snapshot {snapshot.Id} is not tagged {OwnershipTags.Policy}={action.Policy}");
        }

        return snapshot;
    }

    // ---- lookups ---------------------------------------------------------------------------------

    /// <summary>
    /// Snapshots carrying the token, except ones in state error: an interrupted create leaves an error snapshot
    /// behind (the local engine marks it on restart), which is deleted so the token ends with exactly one snapshot.
    /// </summary>
    private async Task<ImmutableArray<SnapshotInfo>> FindLiveByTokenAsync(
        ISnapshotProvider provider, string token, ResiliencePipeline pipeline, CancellationToken cancellationToken)
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

    private static async Task<SnapshotInfo?> DescribeAsync(ISnapshotProvider provider, string snapshotId, ResiliencePipeline pipeline, CancellationToken cancellationToken)
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
    /// Waits for the snapshot to leave pending through the provider (which chooses how: the local engine's own signal,
    /// one batched DescribeSnapshots per region on EC2), up to <see cref="ExecutorOptions.CompletionTimeout"/>.
    /// </summary>
    private async Task<SnapshotInfo?> WaitForCompletionAsync(ISnapshotProvider provider, string snapshotId, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(options.CompletionTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            return await provider.WaitForCompletionAsync(snapshotId, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ProviderException(ProviderErrorKind.Unknown, "CompletionTimeout", $"snapshot {snapshotId} still pending after {options.CompletionTimeout}");
        }
        catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs a create or copy call, trying again after a while when the engine refuses it for a limit that clears by
    /// itself (EC2: SnapshotCreationPerVolumeRateExceeded, ConcurrentSnapshotLimitExceeded, copy limits), until
    /// <paramref name="deadline"/> (a create: the schedule's next fire) or <see cref="ExecutorOptions.RetryLaterWindow"/>.
    /// The call itself looks the token up again before every new attempt, so a retry never makes a second snapshot.
    /// </summary>
    private async Task<T> RetryLaterAsync<T>(string actionId, DateTimeOffset? deadline, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var until = timeProvider.GetUtcNow() + options.RetryLaterWindow;
        if (deadline is { } d && d < until)
        {
            until = d;
        }

        var delay = options.RetryLaterDelay;
        while (true)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (ProviderException e) when (e.IsRetryLater)
            {
                var wait = e.RetryAfter is { } after && after > TimeSpan.Zero ? after : delay;
                if (timeProvider.GetUtcNow() + wait >= until)
                {
                    throw;
                }

                logger.LogWarning("action {Action}: {Code}, trying again in {Wait}", actionId, e.Code, wait);
                await store.CountRetryAsync(actionId, $"{e.Code}: {e.Message} (trying again in {wait})", CancellationToken.None).ConfigureAwait(false);
                await Task.Delay(wait, timeProvider, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.RetryLaterMaxDelay.Ticks));
            }
        }
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
