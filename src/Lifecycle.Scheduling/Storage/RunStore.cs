using System.Collections.Immutable;
using System.Data.Common;
using System.Text;
using System.Text.Json;
using Dapper;
using Lifecycle.Core.Concurrency;

namespace Lifecycle.Scheduling.Storage;

/// <summary>
/// Our tables: applied policy revisions, runs, actions (with their leased claims), hook output, pauses and the audit log.
/// Every method opens its own connection; all writes are single statements or short transactions.
/// </summary>
public sealed class RunStore
{
    private const int MaxErrorLength = 4000;

    /// <summary>A finished non-create action is re-run by the planner only after this long.</summary>
    public static readonly TimeSpan RequeueQuietPeriod = TimeSpan.FromMinutes(5);
    private readonly LifecycleDatabase database;
    private readonly TimeProvider timeProvider;

    // One writer of outcomes at a time on either store, the rest batched behind it (PostgreSQL has no writer gate, and
    // a thousand concurrent one-row commits would queue for the connection pool instead).
    private readonly GroupCommit<PendingFinish> finishes;

    // Claims, likewise: the thousand deliveries of one fire claim their actions in a few transactions.
    private readonly GroupCommit<PendingClaim> claims;

    public RunStore(LifecycleDatabase database, TimeProvider timeProvider)
    {
        this.database = database;
        this.timeProvider = timeProvider;
        finishes = new GroupCommit<PendingFinish>(WriteFinishesAsync);
        claims = new GroupCommit<PendingClaim>(WriteClaimsAsync);
    }

    public LifecycleDatabase Database => database;

    private long Now => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    // ---- runs ------------------------------------------------------------------------------------

    public async Task StartRunAsync(RunRecord run, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO runs (id, policy, schedule, kind, fire_time, started_at, finished_at, state, node, actions_planned, message)
            VALUES (@Id, @Policy, @Schedule, @Kind, @FireTime, @StartedAt, NULL, @State, @Node, @ActionsPlanned, @Message)
            """,
            new
            {
                run.Id, run.Policy, run.Schedule, run.Kind, FireTime = run.FireTime?.ToUnixTimeMilliseconds(),
                StartedAt = run.StartedAt.ToUnixTimeMilliseconds(), run.State, run.Node, run.ActionsPlanned, run.Message,
            },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends, as failed, the runs a stopped process left running: those of <paramref name="node"/> started before
    /// <paramref name="startedBefore"/> (its own earlier life, at a node's start), or, with no node, every run started
    /// before it (a node that never came back: a run plans and records, it never lasts long). Their actions were
    /// recorded in one transaction, so they are all there or none; what is owed is delivered as usual. Returns how many.
    /// </summary>
    public async Task<int> CloseInterruptedRunsAsync(string? node, DateTimeOffset startedBefore, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE runs SET state = 'failed', finished_at = @now, message = @message
            WHERE state = 'running' AND started_at < @before AND (@node IS NULL OR node = @node)
            """,
            new
            {
                now = Now, before = startedBefore.ToUnixTimeMilliseconds(), node,
                message = node is null ? "interrupted: its node stopped before the run ended" : "interrupted: the server stopped before the run ended",
            },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task FinishRunAsync(string runId, string state, int actionsPlanned, string? message, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE runs SET state = @state, finished_at = @now, actions_planned = @actionsPlanned, message = @message WHERE id = @runId",
            new { runId, state, now = Now, actionsPlanned, message = Truncate(message) },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default)
    {
        var sql = new StringBuilder("SELECT * FROM runs WHERE 1 = 1");
        if (filter.Policy is not null) sql.Append(" AND policy = @Policy");
        if (filter.State is not null) sql.Append(" AND state = @State");
        if (filter.From is not null) sql.Append(" AND started_at >= @From");
        if (filter.To is not null) sql.Append(" AND started_at < @To");
        sql.Append(" ORDER BY started_at DESC, id LIMIT @Limit");
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<RunRow>(new CommandDefinition(sql.ToString(), new
        {
            filter.Policy, filter.State, From = filter.From?.ToUnixTimeMilliseconds(), To = filter.To?.ToUnixTimeMilliseconds(), filter.Limit,
        }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    public async Task<RunRecord?> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<RunRow>(new CommandDefinition(
            "SELECT * FROM runs WHERE id = @runId", new { runId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row?.ToRecord();
    }

    // ---- actions ---------------------------------------------------------------------------------

    /// <summary>
    /// Records an action as enqueued. A new row is inserted; an existing one is moved back to enqueued only when
    /// <paramref name="requeueFinished"/> is set (a retry) or it never finished. Returns false when the action
    /// already exists and must not be enqueued again.
    /// </summary>
    public async Task<bool> EnqueueActionAsync(ActionRecord action, bool requeueFinished, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await EnqueueActionAsync(connection, null, action, requeueFinished, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> EnqueueActionAsync(DbConnection connection, DbTransaction? transaction, ActionRecord action, bool requeueFinished, CancellationToken cancellationToken)
    {
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO actions (id, run_id, policy, schedule, kind, region, volume_ids, snapshot_id, token, fire_time, state, attempts,
                                 result_snapshot_id, consistency, error, payload, node, enqueued_at, started_at, finished_at, job)
            VALUES (@Id, @RunId, @Policy, @Schedule, @Kind, @Region, @VolumeIds, @SnapshotId, @Token, @FireTime, @State, 0,
                    NULL, NULL, NULL, @Payload, NULL, @EnqueuedAt, NULL, NULL, @Job)
            ON CONFLICT (id) DO NOTHING
            """,
            new
            {
                action.Id, action.RunId, action.Policy, action.Schedule, action.Kind, action.Region,
                VolumeIds = string.Join(',', action.VolumeIds), action.SnapshotId, action.Token,
                FireTime = action.FireTime?.ToUnixTimeMilliseconds(), State = ActionStates.Enqueued, action.Payload,
                EnqueuedAt = action.EnqueuedAt.ToUnixTimeMilliseconds(), action.Job,
            },
            transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (inserted > 0)
        {
            return true;
        }

        // Level-triggered re-runs: a failed action is tried again; a finished one only after a quiet period, so a state
        // that takes a while to show (fast restore enabling, archiving) does not repeat the call at every run.
        var states = requeueFinished
            ? "(state = 'failed' OR (state IN ('skipped', 'succeeded') AND finished_at < @QuietBefore))"
            : "state = 'never'";
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE actions SET state = 'enqueued', run_id = @RunId, error = NULL, payload = @Payload, enqueued_at = @Now, finished_at = NULL, job = NULL, lease_until = NULL, not_before = NULL WHERE id = @Id AND {states}",
            new { action.Id, action.RunId, action.Payload, Now, QuietBefore = Now - (long)RequeueQuietPeriod.TotalMilliseconds }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return updated > 0;
    }

    /// <summary>
    /// <see cref="EnqueueActionAsync"/> for many actions in one transaction (one commit for a whole fire). For each,
    /// whether it was (re)queued now and, when not, whether it is still unfinished (queued or running: it must keep a
    /// job).
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueActionsAsync(IReadOnlyList<EnqueueRequest> requests, CancellationToken cancellationToken = default)
    {
        var results = new EnqueueResult[requests.Count];
        // In lock order (another node may enqueue the same fire's actions at once), answered in the requests' order.
        var ordered = Enumerable.Range(0, requests.Count).OrderBy(i => requests[i].Action.Id, StringComparer.Ordinal).ToList();
        await database.RetryConflictsAsync(() => EnqueueOnceAsync(requests, ordered, results, cancellationToken), cancellationToken).ConfigureAwait(false);
        return results;
    }

    private async Task EnqueueOnceAsync(IReadOnlyList<EnqueueRequest> requests, List<int> ordered, EnqueueResult[] results, CancellationToken cancellationToken)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var index in ordered)
        {
            var (action, requeueFinished) = requests[index];
            var queued = await EnqueueActionAsync(connection, transaction, action, requeueFinished, cancellationToken).ConfigureAwait(false);
            var unfinished = false;
            var job = action.Job;
            if (!queued)
            {
                var current = await connection.QuerySingleOrDefaultAsync<(string State, string? Job)>(new CommandDefinition(
                    "SELECT state, job FROM actions WHERE id = @Id", new { action.Id }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                unfinished = current.State is not null && !ActionStates.IsFinished(current.State);
                job = current.Job;
            }

            results[index] = new EnqueueResult(action.Id, queued, unfinished) { Job = job };
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many actions of a run are unfinished, and whether a create or copy of it succeeded (one aggregate).</summary>
    public async Task<RunProgress> GetRunProgressAsync(string runId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryRunProgressAsync(connection, runId, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<RunProgress> QueryRunProgressAsync(DbConnection connection, string runId, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleAsync<(long Unfinished, long Produced)>(new CommandDefinition(
            """
            SELECT coalesce(sum(CASE WHEN state NOT IN ('succeeded', 'failed', 'skipped') THEN 1 ELSE 0 END), 0),
                   coalesce(sum(CASE WHEN kind IN ('create', 'copy') AND state = 'succeeded' THEN 1 ELSE 0 END), 0)
            FROM actions WHERE run_id = @runId
            """,
            new { runId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return new RunProgress((int)row.Unfinished, row.Produced > 0);
    }

    // ---- leased claims ---------------------------------------------------------------------------

    /// <summary>
    /// Claims an action for one delivery: the run store, not the delivery system, decides who runs it. Succeeds only when
    /// the action is unfinished, nobody holds an unexpired lease on it, its retry time (<c>not_before</c>) has come, and
    /// it is not a not-yet-started action of a paused policy (a running one resumes: its hooks may have run). An
    /// enqueued or running action becomes running (attempts + 1); a completing one stays completing (a completion
    /// check). Any other delivery of the same action, duplicate or late, gets null and does nothing. Claims that arrive
    /// together are written in one transaction. <paramref name="heldClaim"/>: the caller already holds this claim (a
    /// completion it followed in process) and continues under it while the lease has not been taken over.
    /// </summary>
    public async Task<ActionRecord?> ClaimActionAsync(
        string actionId, string node, TimeSpan lease, string? heldClaim = null, CancellationToken cancellationToken = default)
    {
        var claim = new PendingClaim(actionId, node, (long)lease.TotalMilliseconds, heldClaim ?? ProcessClaimPrefix + Guid.NewGuid().ToString("N")) { Held = heldClaim };
        await claims.CommitAsync(claim, cancellationToken).ConfigureAwait(false);
        return claim.Result?.ToRecord();
    }

    private Task WriteClaimsAsync(IReadOnlyList<PendingClaim> batch, CancellationToken cancellationToken) =>
        database.RetryConflictsAsync(() => WriteClaimsOnceAsync(LockOrder(batch, c => c.ActionId), cancellationToken), cancellationToken);

    /// <summary>
    /// A batch's rows in one order on every node (by action id; one action's writes keep their order): two nodes'
    /// batches then never wait for each other's row locks in a cycle, which PostgreSQL would end by aborting one.
    /// </summary>
    private static List<T> LockOrder<T>(IReadOnlyList<T> batch, Func<T, string> actionId) =>
        [.. batch.OrderBy(actionId, StringComparer.Ordinal)];

    private async Task WriteClaimsOnceAsync(IReadOnlyList<PendingClaim> batch, CancellationToken cancellationToken)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = Now;
        foreach (var claim in batch)
        {
            claim.Result = await connection.QuerySingleOrDefaultAsync<ActionRow>(new CommandDefinition(
                """
                UPDATE actions SET
                  state = CASE WHEN state = 'completing' THEN 'completing' ELSE 'running' END,
                  attempts = CASE WHEN state = 'completing' THEN attempts ELSE attempts + 1 END,
                  started_at = CASE WHEN state = 'completing' THEN started_at ELSE @now END,
                  node = @Node, lease_until = @until, claim = @Claim
                WHERE id = @ActionId AND state IN ('enqueued', 'running', 'completing')
                  AND (lease_until IS NULL OR lease_until < @now OR (@Held IS NOT NULL AND claim = @Held AND state <> 'enqueued'))
                  AND (not_before IS NULL OR not_before <= @now)
                  AND NOT (state = 'enqueued' AND policy IN (SELECT policy FROM policy_pauses))
                RETURNING *
                """,
                new { claim.ActionId, claim.Node, now, until = now + claim.LeaseMs, claim.Claim, claim.Held }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every claim id this process makes starts with it, so a node's next life tells its own claims from its last life's.</summary>
    public static readonly string ProcessClaimPrefix = Guid.NewGuid().ToString("N")[..8] + "-";

    /// <summary>
    /// At a node's start: ends the leases its previous life still holds (claims of <paramref name="node"/> that this
    /// process did not make; that process is gone), so their actions are claimed again at once instead of when the
    /// leases run out. Should that process still be stopping, its writes are fenced by their claims. No node: every
    /// lease this process did not make (the embedded store, which one server uses at a time). Returns how many.
    /// </summary>
    public async Task<int> ReleaseLeftoverLeasesAsync(string? node, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE actions SET lease_until = NULL
            WHERE (@node IS NULL OR node = @node) AND state IN ('running', 'completing') AND lease_until IS NOT NULL AND (claim IS NULL OR claim NOT LIKE @mine)
            """,
            new { node, mine = ProcessClaimPrefix + "%" }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    private sealed record PendingClaim(string ActionId, string Node, long LeaseMs, string Claim)
    {
        public string? Held { get; init; }

        public ActionRow? Result { get; set; }
    }

    /// <summary>
    /// Extends a claim's lease (<paramref name="claim"/>: <see cref="ActionRecord.Claim"/> of the claimed record); false
    /// when the claim is no longer the action's (it expired and another delivery took the action over).
    /// </summary>
    public async Task<bool> RenewLeaseAsync(string actionId, string claim, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE actions SET lease_until = @until WHERE id = @actionId AND claim = @claim AND state IN ('running', 'completing')",
            new { actionId, claim, until = Now + (long)lease.TotalMilliseconds }, cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <summary>
    /// The provider accepted a create or copy (<paramref name="snapshotIds"/>, comma-separated) that is still pending:
    /// the action becomes completing. With <paramref name="holdFor"/>, the claim keeps a lease of that length (the node
    /// follows the completion itself and renews it; if it dies, the lease runs out and the action is stranded, see
    /// <see cref="ListStrandedActionsAsync"/>); without, it waits unleased for a completion check job.
    /// </summary>
    public Task MarkCompletingAsync(
        string actionId, string snapshotIds, string? consistency, string? note, string? claim = null, TimeSpan? holdFor = null,
        CancellationToken cancellationToken = default) =>
        finishes.CommitAsync(new PendingFinish(actionId, ActionStates.Completing, snapshotIds, consistency, Truncate(note))
        {
            Step = StepKind.Completing, Claim = claim, LeaseMs = holdFor is { } hold && claim is not null ? (long)hold.TotalMilliseconds : null,
        }, cancellationToken);

    /// <summary>
    /// Gives an action back without finishing it, to be claimed again from <paramref name="notBefore"/> in
    /// <paramref name="state"/>: enqueued (a create or copy refused by a limit that clears by itself, or whose snapshot
    /// ended in error and is made again) or completing (a completion check found the snapshot still pending).
    /// </summary>
    public Task ReleaseActionAsync(
        string actionId, string state, DateTimeOffset notBefore, string? reason = null, string? claim = null, CancellationToken cancellationToken = default) =>
        state is ActionStates.Enqueued or ActionStates.Completing
            ? finishes.CommitAsync(new PendingFinish(actionId, state, null, null, Truncate(reason)) { Step = StepKind.Release, NotBefore = notBefore.ToUnixTimeMilliseconds(), Claim = claim }, cancellationToken)
            : throw new ArgumentOutOfRangeException(nameof(state), state, "an action is released to enqueued or completing");

    /// <summary>
    /// Records the delivery jobs of actions (the Hangfire job ids), group-committed with the other action writes. A
    /// lease that has run out is cleared with it: the new job is the action's delivery now (a stranded action is
    /// delivered again once, not at every recovery pass).
    /// </summary>
    public Task SetJobsAsync(IReadOnlyList<(string ActionId, string Job)> jobs, CancellationToken cancellationToken = default) =>
        jobs.Count == 0
            ? Task.CompletedTask
            : Task.WhenAll(jobs.Select(j => finishes.CommitAsync(new PendingFinish(j.ActionId, "", null, null, null) { Step = StepKind.SetJob, Job = j.Job }, cancellationToken)));

    /// <summary>
    /// Unfinished actions that some delivery may have to run: every enqueued one (except a paused policy's), every
    /// running or completing one (its node may have died holding the lease: a delivery then waits for the lease to
    /// end). The caller checks whether each one's delivery job still exists.
    /// </summary>
    /// <param name="settling">
    /// Leave out the actions someone is working on: those whose lease has not run out (a node runs them or follows
    /// their completion), and those without a job that were due less than this long ago (a dispatcher is creating
    /// their jobs: a fire's rows are written before its jobs). The recovery pass takes both if their node dies.
    /// Null (a start): every one.
    /// </param>
    public async Task<IReadOnlyList<ActionRecord>> ListOwedActionsAsync(int limit, TimeSpan? settling = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var settled = settling is null
            ? ""
            : "AND (lease_until IS NULL OR lease_until < @now) AND NOT (job IS NULL AND coalesce(not_before, enqueued_at) >= @settledBefore)";
        var rows = await connection.QueryAsync<ActionRow>(new CommandDefinition(
            $"""
            SELECT * FROM actions
            WHERE ((state = 'enqueued' AND policy NOT IN (SELECT policy FROM policy_pauses))
               OR state IN ('running', 'completing'))
              {settled}
            ORDER BY enqueued_at LIMIT @limit
            """,
            new { limit, now = Now, settledBefore = Now - (long)(settling ?? TimeSpan.Zero).TotalMilliseconds }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    /// <summary>
    /// Unfinished actions that nobody is delivering (the recovery pass delivers them again), without asking the delivery
    /// system: those whose lease ran out more than <paramref name="grace"/> ago (the node that held it died, or lost its
    /// database, while running the action or following its completion), and those without a lease and without a
    /// delivery job that have been due for longer than <paramref name="grace"/> (a node died between recording them and
    /// creating their jobs, or between releasing them and scheduling their retry). A paused policy's queued actions wait.
    /// </summary>
    public async Task<IReadOnlyList<ActionRecord>> ListStrandedActionsAsync(TimeSpan grace, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<ActionRow>(new CommandDefinition(
            """
            SELECT * FROM actions
            WHERE state IN ('enqueued', 'running', 'completing')
              AND NOT (state = 'enqueued' AND policy IN (SELECT policy FROM policy_pauses))
              AND ((lease_until IS NOT NULL AND lease_until < @cutoff)
                OR (lease_until IS NULL AND job IS NULL AND coalesce(not_before, enqueued_at) < @cutoff))
            ORDER BY enqueued_at LIMIT @limit
            """,
            new { cutoff = Now - (long)grace.TotalMilliseconds, limit }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    public async Task CountRetryAsync(string actionId, string reason, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE actions SET attempts = attempts + 1, error = @reason WHERE id = @actionId",
            new { actionId, reason = Truncate("retrying after: " + reason) }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Records an action's outcome (an unfinished action only: a late delivery never overwrites one). Outcomes that arrive while
    /// another is being written are written together in the next transaction (group commit): a fire's thousand
    /// finishing actions cost a few commits, not a thousand turns at SQLite's single writer. Returns once this outcome
    /// is committed, with its run's progress when this outcome is the one that reports it (see <see cref="FinishResult"/>).
    /// </summary>
    public async Task<FinishResult> FinishActionAsync(
        string actionId, string state, string? resultSnapshotId, string? consistency, string? error, string? claim = null, CancellationToken cancellationToken = default)
    {
        var finish = new PendingFinish(actionId, state, resultSnapshotId, consistency, Truncate(error)) { Claim = claim };
        await finishes.CommitAsync(finish, cancellationToken).ConfigureAwait(false);
        return new FinishResult(finish.FinishedRun is not null, finish.RunProgress);
    }

    private async Task WriteFinishesAsync(IReadOnlyList<PendingFinish> batch, CancellationToken cancellationToken)
    {
        var ordered = LockOrder(batch, f => f.ActionId);
        await database.RetryConflictsAsync(() => WriteFinishesOnceAsync(ordered, cancellationToken), cancellationToken).ConfigureAwait(false);
        await ReportRunProgressAsync(ordered, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After a batch's commit, one progress query per run that the batch finished actions of, handed to the last of
    /// them only: a batch that finishes the last 17 actions of a run reports the run once, not 17 times (each report can
    /// wake the policy's follow-up). Batches are written one at a time, so the batch that finishes a run's last action
    /// sees it finished; on PostgreSQL, where another node's batch may commit in between, the batch that commits last
    /// sees every outcome. A failed query reports nothing (the outcomes are committed; the reconcile pass catches up).
    /// </summary>
    private async Task ReportRunProgressAsync(IReadOnlyList<PendingFinish> batch, CancellationToken cancellationToken)
    {
        var reporters = new Dictionary<string, PendingFinish>(StringComparer.Ordinal);
        foreach (var f in batch)
        {
            if (f.FinishedRun is { } run)
            {
                reporters[run] = f;
            }
        }

        if (reporters.Count == 0)
        {
            return;
        }

        try
        {
            await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            foreach (var (run, reporter) in reporters)
            {
                reporter.RunProgress = await QueryRunProgressAsync(connection, run, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DbException)
        {
        }
    }

    private async Task WriteFinishesOnceAsync(IReadOnlyList<PendingFinish> batch, CancellationToken cancellationToken)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = Now;
        foreach (var f in batch)
        {
            f.FinishedRun = null; // a retried transaction starts over
            if (f.Step == StepKind.Finish)
            {
                // Which run it finished an action of (none when the action was finished already, or fenced off).
                f.FinishedRun = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
                    """
                    UPDATE actions SET state = @State, finished_at = @now, result_snapshot_id = coalesce(@ResultSnapshotId, result_snapshot_id),
                                       consistency = coalesce(@Consistency, consistency), error = @Error, lease_until = NULL, not_before = NULL
                    WHERE id = @ActionId AND state IN ('enqueued', 'running', 'completing') AND (@Claim IS NULL OR claim = @Claim)
                    RETURNING run_id
                    """,
                    new { f.ActionId, f.State, now, f.ResultSnapshotId, f.Consistency, f.Error, f.Claim }, transaction,
                    cancellationToken: cancellationToken)).ConfigureAwait(false);
                continue;
            }

            var sql = f.Step switch
            {
                StepKind.Completing => """
                    UPDATE actions SET state = 'completing', result_snapshot_id = @ResultSnapshotId, consistency = coalesce(@Consistency, consistency),
                                       error = @Error, lease_until = CASE WHEN @LeaseMs IS NULL THEN NULL ELSE @now + @LeaseMs END, not_before = NULL
                    WHERE id = @ActionId AND state IN ('running', 'completing') AND (@Claim IS NULL OR claim = @Claim)
                    """,
                StepKind.Release => """
                    UPDATE actions SET state = @State, lease_until = NULL, not_before = @NotBefore, job = NULL,
                                       error = coalesce(@Error, error)
                    WHERE id = @ActionId AND state IN ('running', 'completing') AND (@Claim IS NULL OR claim = @Claim)
                    """,
                _ => "UPDATE actions SET job = @Job, lease_until = CASE WHEN lease_until < @now THEN NULL ELSE lease_until END WHERE id = @ActionId",
            };
            await connection.ExecuteAsync(new CommandDefinition(
                sql, new { f.ActionId, f.State, now, f.ResultSnapshotId, f.Consistency, f.Error, f.NotBefore, f.Job, f.Claim, f.LeaseMs }, transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One write of an action's step; all kinds share the group commit, so a fire's writes cost a few commits.</summary>
    private sealed record PendingFinish(string ActionId, string State, string? ResultSnapshotId, string? Consistency, string? Error)
    {
        public StepKind Step { get; init; } = StepKind.Finish;

        public long? NotBefore { get; init; }

        public string? Job { get; init; }

        /// <summary>Completing: the lease the claim keeps (its node follows the completion), from now; null: no lease.</summary>
        public long? LeaseMs { get; init; }

        /// <summary>The claim that writes (a fence: a delivery whose lease expired and was taken over writes nothing); null: unfenced.</summary>
        public string? Claim { get; init; }

        /// <summary>Finish: the run of the action it finished (written by the batch); null when it finished nothing.</summary>
        public string? FinishedRun { get; set; }

        /// <summary>Finish: the run's progress after the batch, on the one finish of the batch that reports the run.</summary>
        public RunProgress? RunProgress { get; set; }
    }

    private enum StepKind
    {
        Finish,
        Completing,
        Release,
        SetJob,
    }

    public async Task<ActionRecord?> GetActionAsync(string actionId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<ActionRow>(new CommandDefinition(
            "SELECT * FROM actions WHERE id = @actionId", new { actionId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row?.ToRecord();
    }

    public async Task<IReadOnlyList<ActionRecord>> ListActionsAsync(ActionFilter filter, CancellationToken cancellationToken = default)
    {
        var sql = new StringBuilder("SELECT * FROM actions WHERE 1 = 1");
        if (filter.Policy is not null) sql.Append(" AND policy = @Policy");
        if (filter.State is not null) sql.Append(" AND state = @State");
        if (filter.Kind is not null) sql.Append(" AND kind = @Kind");
        if (filter.RunId is not null) sql.Append(" AND run_id = @RunId");
        if (filter.Volume is not null) sql.Append(" AND (',' || volume_ids || ',') LIKE @VolumePattern");
        if (filter.From is not null) sql.Append(" AND enqueued_at >= @From");
        if (filter.To is not null) sql.Append(" AND enqueued_at < @To");
        sql.Append(" ORDER BY enqueued_at DESC, id LIMIT @Limit");
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<ActionRow>(new CommandDefinition(sql.ToString(), new
        {
            filter.Policy, filter.State, filter.Kind, filter.RunId, VolumePattern = $"%,{filter.Volume},%",
            From = filter.From?.ToUnixTimeMilliseconds(), To = filter.To?.ToUnixTimeMilliseconds(), filter.Limit,
        }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    // ---- hooks -----------------------------------------------------------------------------------

    /// <summary>Inserts a finished hook record in one write (no crash trail; <see cref="StartHookAsync"/> leaves one).</summary>
    public async Task RecordHookAsync(HookRunRecord hook, CancellationToken cancellationToken = default)
    {
        await StartHookAsync(hook, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Inserts a hook record as it is, normally when the hook starts (outcome <see cref="HookRunStates.Running"/>, with its
    /// <see cref="HookRunRecord.Owner"/>), so an attempt that a crash interrupts keeps its record.
    /// </summary>
    public async Task StartHookAsync(HookRunRecord hook, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO hook_runs (id, action_id, stage, hook, outcome, attempts, exit_code, output, error, duration_ms, finished_at, started_at,
                                   owner_host, owner_boot_id, owner_pid, owner_start_ticks, process_group, process_start_ticks, process_boot_id)
            VALUES (@Id, @ActionId, @Stage, @Hook, @Outcome, @Attempts, @ExitCode, @Output, @Error, @DurationMs, @FinishedAt, @StartedAt,
                    @OwnerHost, @OwnerBootId, @OwnerPid, @OwnerStartTicks, @ProcessGroup, @ProcessStartTicks, @ProcessBootId)
            """,
            new
            {
                hook.Id, hook.ActionId, hook.Stage, hook.Hook, hook.Outcome, hook.Attempts, hook.ExitCode, hook.Output,
                Error = Truncate(hook.Error), DurationMs = (long)hook.Duration.TotalMilliseconds, FinishedAt = hook.FinishedAt?.ToUnixTimeMilliseconds(),
                StartedAt = (hook.StartedAt ?? hook.FinishedAt - hook.Duration)?.ToUnixTimeMilliseconds(),
                OwnerHost = hook.Owner?.Host, OwnerBootId = hook.Owner?.BootId, OwnerPid = hook.Owner?.Pid, OwnerStartTicks = hook.Owner?.StartTicks,
                ProcessGroup = hook.Process?.ProcessGroupId, ProcessStartTicks = hook.Process?.StartTicks, ProcessBootId = hook.Process?.BootId,
            },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Records the process group of the exec attempt that just started (each retry replaces the last one).</summary>
    public async Task SetHookProcessAsync(string hookId, HookProcessRecord process, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE hook_runs SET process_group = @ProcessGroupId, process_start_ticks = @StartTicks, process_boot_id = @BootId WHERE id = @hookId",
            new { hookId, process.ProcessGroupId, process.StartTicks, process.BootId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Completes a hook record with its outcome. Only a record still running is changed: one closed at restart
    /// (killed, interrupted) keeps that outcome. Returns whether it changed the record.
    /// </summary>
    public async Task<bool> FinishHookAsync(HookRunRecord hook, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE hook_runs SET outcome = @Outcome, attempts = @Attempts, exit_code = @ExitCode, output = @Output, error = @Error,
                                 duration_ms = @DurationMs, finished_at = @FinishedAt
            WHERE id = @Id AND outcome = @running
            """,
            new
            {
                hook.Id, hook.Outcome, hook.Attempts, hook.ExitCode, hook.Output, Error = Truncate(hook.Error),
                DurationMs = (long)hook.Duration.TotalMilliseconds, FinishedAt = (hook.FinishedAt ?? timeProvider.GetUtcNow()).ToUnixTimeMilliseconds(),
                running = HookRunStates.Running,
            },
            cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <summary>Hook records still running whose owner ran on <paramref name="host"/> (optionally of one action).</summary>
    public async Task<IReadOnlyList<HookRunRecord>> ListRunningHooksAsync(string host, string? actionId = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<HookRow>(new CommandDefinition(
            "SELECT * FROM hook_runs WHERE outcome = @running AND owner_host = @host" + (actionId is null ? "" : " AND action_id = @actionId") + " ORDER BY started_at, id",
            new { running = HookRunStates.Running, host, actionId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    /// <summary>
    /// Closes a record its server left running (<see cref="HookRunStates.Killed"/> or <see cref="HookRunStates.Interrupted"/>)
    /// with the reason appended to its output; only while it is still running. Returns whether it closed it.
    /// </summary>
    public async Task<bool> CloseHookAsync(string hookId, string outcome, string reason, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var now = Now;
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE hook_runs SET outcome = @outcome, error = @reason, finished_at = @now,
                                 duration_ms = CASE WHEN started_at IS NULL THEN 0 ELSE @now - started_at END
            WHERE id = @hookId AND outcome = @running
            """,
            new { hookId, outcome, reason = Truncate(reason), now, running = HookRunStates.Running }, cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    public async Task<IReadOnlyList<HookRunRecord>> ListHooksAsync(string actionId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<HookRow>(new CommandDefinition(
            "SELECT * FROM hook_runs WHERE action_id = @actionId ORDER BY COALESCE(started_at, finished_at), id", new { actionId }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    // ---- audit -----------------------------------------------------------------------------------

    public async Task AuditAsync(string actor, string @event, string detail, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await AuditAsync(connection, null, actor, @event, detail, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
            "SELECT * FROM audit_log ORDER BY at DESC, id LIMIT @limit", new { limit }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => new AuditEntry(r.id, DateTimeOffset.FromUnixTimeMilliseconds(r.at), r.actor, r.@event, r.detail)).ToList();
    }

    private Task AuditAsync(DbConnection connection, DbTransaction? transaction, string actor, string @event, string detail, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO audit_log (id, at, actor, event, detail) VALUES (@id, @at, @actor, @event, @detail)",
            new { id = Guid.NewGuid().ToString("N"), at = Now, actor, @event, detail }, transaction, cancellationToken: cancellationToken));

    // ---- pauses ----------------------------------------------------------------------------------

    /// <summary>
    /// Pauses or resumes a policy, with its audit entry in the same transaction. Idempotent: returns false when the
    /// policy was already in that state (nothing written). A pause outlives revisions, schedule edits and restarts.
    /// </summary>
    public async Task<bool> SetPausedAsync(string policy, bool paused, string actor, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var changed = paused
            ? await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO policy_pauses (policy, paused_at, paused_by) VALUES (@policy, @now, @actor) ON CONFLICT (policy) DO NOTHING",
                new { policy, now = Now, actor }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false)
            : await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM policy_pauses WHERE policy = @policy", new { policy }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (changed > 0)
        {
            await AuditAsync(connection, transaction, actor, paused ? "policy.paused" : "policy.resumed", policy, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return changed > 0;
    }

    public async Task<bool> IsPausedAsync(string policy, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM policy_pauses WHERE policy = @policy", new { policy }, cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    /// <summary>Every paused policy with when and by whom it was paused.</summary>
    public async Task<IReadOnlyDictionary<string, PolicyPause>> ListPausesAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<(string Policy, long PausedAt, string PausedBy)>(new CommandDefinition(
            "SELECT policy, paused_at, paused_by FROM policy_pauses", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.ToDictionary(r => r.Policy, r => new PolicyPause(r.Policy, DateTimeOffset.FromUnixTimeMilliseconds(r.PausedAt), r.PausedBy), StringComparer.Ordinal);
    }

    // ---- health ----------------------------------------------------------------------------------

    /// <summary>
    /// Per policy with creates that failed since its last successful create: when that success was (null: never)
    /// and the first and latest failure since. One aggregate over the creates.
    /// </summary>
    public async Task<IReadOnlyList<CreateFailures>> ListCreateFailuresAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<(string Policy, long? LastSucceeded, long Failed, long FirstFailed, long LastFailed)>(new CommandDefinition(
            """
            SELECT a.policy, s.last_ok, count(*), min(a.finished_at), max(a.finished_at)
            FROM actions a
            LEFT JOIN (SELECT policy, max(finished_at) AS last_ok FROM actions WHERE kind = 'create' AND state = 'succeeded' GROUP BY policy) s
              ON s.policy = a.policy
            WHERE a.kind = 'create' AND a.state = 'failed' AND a.finished_at IS NOT NULL AND (s.last_ok IS NULL OR a.finished_at > s.last_ok)
            GROUP BY a.policy, s.last_ok
            """, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => new CreateFailures(r.Policy, FromMs(r.LastSucceeded), (int)r.Failed,
            DateTimeOffset.FromUnixTimeMilliseconds(r.FirstFailed), DateTimeOffset.FromUnixTimeMilliseconds(r.LastFailed))).ToList();
    }

    /// <summary>Whether any applied revision before <paramref name="seq"/> had at least one policy.</summary>
    public async Task<bool> HadPoliciesBeforeAsync(long seq, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM policy_revisions WHERE seq < @seq AND policy_names <> ''", new { seq }, cancellationToken: cancellationToken)).ConfigureAwait(false) > 0;
    }

    // ---- policy revisions ------------------------------------------------------------------------

    /// <summary>The newest applied revision's sequence number, or 0 when none was applied yet. Cheap; nodes poll it.</summary>
    public async Task<long> CurrentRevisionSeqAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT max(seq) FROM policy_revisions", cancellationToken: cancellationToken)).ConfigureAwait(false) ?? 0;
    }

    public async Task<PolicyRevisionRecord?> CurrentRevisionAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<RevisionRow>(new CommandDefinition(
            "SELECT * FROM policy_revisions ORDER BY seq DESC LIMIT 1", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row?.ToRecord();
    }

    public async Task<IReadOnlyList<PolicyRevisionRecord>> ListRevisionsAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await connection.QueryAsync<RevisionRow>(new CommandDefinition(
            "SELECT * FROM policy_revisions ORDER BY seq DESC LIMIT @limit", new { limit }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.Select(r => r.ToRecord()).ToList();
    }

    /// <summary>
    /// Stores a new revision atomically, only if the current one is still <paramref name="expectedSeq"/> (so two
    /// concurrent applies cannot both win). Returns the new sequence number, or null when another apply came first.
    /// </summary>
    public async Task<long?> AppendRevisionAsync(
        long expectedSeq, string? revision, string? author, string node, ImmutableArray<PolicySource> sources,
        IEnumerable<string> policyNames, string diff, CancellationToken cancellationToken = default)
    {
        await using var writing = await database.EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var current = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT max(seq) FROM policy_revisions", transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false) ?? 0;
        if (current != expectedSeq)
        {
            return null;
        }

        var seq = current + 1;
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO policy_revisions (seq, revision, author, applied_at, applied_by_node, sources, policy_names, diff)
                VALUES (@seq, @revision, @author, @now, @node, @sources, @names, @diff)
                """,
                new
                {
                    seq, revision, author, now = Now, node, sources = JsonSerializer.Serialize(sources.ToArray(), SchedulingJson.Options),
                    names = string.Join(',', policyNames), diff,
                },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await AuditAsync(connection, transaction, author ?? "unknown", "policies.applied", $"revision {seq} ({revision ?? "no git revision"}): {diff}", cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return seq;
        }
        catch (DbException)
        {
            // The primary key on seq: another node appended the same sequence number first.
            return null;
        }
    }

    private static string? Truncate(string? text) => text is null || text.Length <= MaxErrorLength ? text : text[..MaxErrorLength] + "…";

    // Dapper row shapes (column names as in SQL).
#pragma warning disable IDE1006, SA1300 // row classes mirror SQL column names
    private sealed class RunRow
    {
        public string id { get; set; } = "";
        public string policy { get; set; } = "";
        public string? schedule { get; set; }
        public string kind { get; set; } = "";
        public long? fire_time { get; set; }
        public long started_at { get; set; }
        public long? finished_at { get; set; }
        public string state { get; set; } = "";
        public string node { get; set; } = "";
        public long actions_planned { get; set; }
        public string? message { get; set; }

        public RunRecord ToRecord() => new(id, policy, schedule, kind, FromMs(fire_time), DateTimeOffset.FromUnixTimeMilliseconds(started_at),
            FromMs(finished_at), state, node, (int)actions_planned, message);
    }

    private sealed class ActionRow
    {
        public string id { get; set; } = "";
        public string run_id { get; set; } = "";
        public string policy { get; set; } = "";
        public string? schedule { get; set; }
        public string kind { get; set; } = "";
        public string region { get; set; } = "";
        public string volume_ids { get; set; } = "";
        public string? snapshot_id { get; set; }
        public string? token { get; set; }
        public long? fire_time { get; set; }
        public string state { get; set; } = "";
        public long attempts { get; set; }
        public string? result_snapshot_id { get; set; }
        public string? consistency { get; set; }
        public string? error { get; set; }
        public string payload { get; set; } = "";
        public string? node { get; set; }
        public long enqueued_at { get; set; }
        public long? started_at { get; set; }
        public long? finished_at { get; set; }

        public string? job { get; set; }
        public long? lease_until { get; set; }
        public long? not_before { get; set; }
        public string? claim { get; set; }

        public ActionRecord ToRecord() => new(id, run_id, policy, schedule, kind, region,
            [.. volume_ids.Split(',', StringSplitOptions.RemoveEmptyEntries)], snapshot_id, token, FromMs(fire_time), state, (int)attempts,
            result_snapshot_id, consistency, error, node, DateTimeOffset.FromUnixTimeMilliseconds(enqueued_at), FromMs(started_at), FromMs(finished_at), payload)
        {
            Job = job,
            LeaseUntil = FromMs(lease_until),
            NotBefore = FromMs(not_before),
            Claim = claim,
        };
    }

    private sealed class HookRow
    {
        public string id { get; set; } = "";
        public string action_id { get; set; } = "";
        public string stage { get; set; } = "";
        public string hook { get; set; } = "";
        public string outcome { get; set; } = "";
        public long attempts { get; set; }
        public long? exit_code { get; set; }
        public string output { get; set; } = "";
        public string? error { get; set; }
        public long duration_ms { get; set; }
        public long? finished_at { get; set; }
        public long? started_at { get; set; }
        public string? owner_host { get; set; }
        public string? owner_boot_id { get; set; }
        public long? owner_pid { get; set; }
        public long? owner_start_ticks { get; set; }
        public long? process_group { get; set; }
        public long? process_start_ticks { get; set; }
        public string? process_boot_id { get; set; }

        public HookRunRecord ToRecord() => new(id, action_id, stage, hook, outcome, (int)attempts, (int?)exit_code, output, error,
            TimeSpan.FromMilliseconds(duration_ms), FromMs(finished_at))
        {
            StartedAt = FromMs(started_at),
            Owner = owner_host is null ? null : new HookOwner(owner_host, owner_boot_id, (int)(owner_pid ?? 0), owner_start_ticks),
            Process = process_group is null ? null : new HookProcessRecord((int)process_group.Value, process_start_ticks, process_boot_id),
        };
    }

    private sealed class AuditRow
    {
        public string id { get; set; } = "";
        public long at { get; set; }
        public string actor { get; set; } = "";
        public string @event { get; set; } = "";
        public string detail { get; set; } = "";
    }

    private sealed class RevisionRow
    {
        public long seq { get; set; }
        public string? revision { get; set; }
        public string? author { get; set; }
        public long applied_at { get; set; }
        public string applied_by_node { get; set; } = "";
        public string sources { get; set; } = "[]";
        public string policy_names { get; set; } = "";
        public string diff { get; set; } = "";

        public PolicyRevisionRecord ToRecord() => new(seq, revision, author, DateTimeOffset.FromUnixTimeMilliseconds(applied_at), applied_by_node,
            [.. JsonSerializer.Deserialize<PolicySource[]>(sources, SchedulingJson.Options) ?? []],
            [.. policy_names.Split(',', StringSplitOptions.RemoveEmptyEntries)], diff);
    }
#pragma warning restore IDE1006, SA1300

    private static DateTimeOffset? FromMs(long? ms) => ms is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms.Value);
}

/// <summary>One action to enqueue; <paramref name="RequeueFinished"/> as in <see cref="RunStore.EnqueueActionAsync"/>.</summary>
public sealed record EnqueueRequest(ActionRecord Action, bool RequeueFinished);

/// <summary>Whether an action was (re)queued now, and when not, whether it is still unfinished.</summary>
public sealed record EnqueueResult(string Id, bool Queued, bool Unfinished)
{
    /// <summary>The action's delivery job as stored (a Hangfire job id), when it has one.</summary>
    public string? Job { get; init; }
}

/// <summary>A run's unfinished actions, and whether one of its creates or copies succeeded.</summary>
public sealed record RunProgress(int Unfinished, bool Produced);

/// <summary>
/// What <see cref="RunStore.FinishActionAsync"/> wrote: whether it finished the action (false: already finished, or its
/// claim was taken over), and the action's run's progress after it, for one of the outcomes committed together of each
/// run (null for the others: one of them reports the run).
/// </summary>
public sealed record FinishResult(bool Finished, RunProgress? RunProgress);

/// <summary>A paused policy: the store is the truth for every path that runs a policy.</summary>
public sealed record PolicyPause(string Policy, DateTimeOffset PausedAt, string PausedBy);

/// <summary>Creates of a policy that failed since its last successful create (<see cref="LastSucceeded"/> null: none ever).</summary>
public sealed record CreateFailures(string Policy, DateTimeOffset? LastSucceeded, int Failed, DateTimeOffset FirstFailed, DateTimeOffset LastFailed);
