using Lifecycle.Core.Hooks;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Scheduling.Hooks;

/// <summary>
/// Finds hook records that a crashed server left running and cleans them up: a process group still alive (same boot,
/// same leader start time, so a recycled pid is never touched) is killed as a group and its record closed as
/// <see cref="HookRunStates.Killed"/>; a record whose process is gone is closed as <see cref="HookRunStates.Interrupted"/>.
/// Only records of this machine whose owning server process no longer exists are touched: hooks of a live server on
/// the same machine, and hooks of other machines (their own restart cleans them), are left alone.
/// Idempotent; safe to call at any time.
/// </summary>
public sealed class HookLeftoverReaper
{
    /// <summary>The reason written on a record whose process group was killed.</summary>
    public const string KilledReason = "killed (server restarted)";

    private readonly RunStore store;
    private readonly TimeProvider timeProvider;
    private readonly HookOwner self;
    private readonly ILogger logger;

    public HookLeftoverReaper(RunStore store, TimeProvider timeProvider, ILogger<HookLeftoverReaper> logger)
        : this(store, timeProvider, ThisProcess(), logger)
    {
    }

    /// <summary>With another identity for this server (tests).</summary>
    public HookLeftoverReaper(RunStore store, TimeProvider timeProvider, HookOwner self, ILogger<HookLeftoverReaper> logger)
    {
        this.store = store;
        this.timeProvider = timeProvider;
        this.self = self;
        this.logger = logger;
    }

    /// <summary>This server process, as recorded on the hooks it runs.</summary>
    public HookOwner Self => self;

    /// <summary>The identity of the current process.</summary>
    public static HookOwner ThisProcess() =>
        new(Environment.MachineName, ProcessGroups.BootId, Environment.ProcessId, ProcessGroups.Read(Environment.ProcessId)?.StartTicks);

    /// <summary>
    /// Cleans up the leftovers of this machine (of one action when <paramref name="actionId"/> is set); returns how many
    /// records it closed.
    /// </summary>
    public async Task<int> ReapAsync(string? actionId = null, CancellationToken cancellationToken = default)
    {
        var closed = 0;
        foreach (var record in await store.ListRunningHooksAsync(self.Host, actionId, cancellationToken).ConfigureAwait(false))
        {
            if (record.Owner is not { } owner || IsAlive(owner))
            {
                continue;
            }

            var process = record.Process is { } p ? new HookProcess(p.ProcessGroupId, p.StartTicks, p.BootId) : null;
            if (process is not null && ProcessGroups.IsRecordedGroupAlive(process))
            {
                ProcessGroups.Kill(process.ProcessGroupId);
                var gone = await ProcessGroups.WaitUntilEmptyAsync(process.ProcessGroupId, TimeSpan.FromSeconds(5), timeProvider, cancellationToken).ConfigureAwait(false);
                logger.LogWarning(
                    "hook {Hook} of action {Action} ({Stage}) was still running after a server crash: killed its process group {Group}{Left}",
                    record.Hook, record.ActionId, record.Stage, process.ProcessGroupId, gone ? "" : " (some processes did not exit yet)");
                closed += await store.CloseHookAsync(record.Id, HookRunStates.Killed, $"{KilledReason}: process group {process.ProcessGroupId}", cancellationToken).ConfigureAwait(false) ? 1 : 0;
            }
            else
            {
                logger.LogWarning("hook {Hook} of action {Action} ({Stage}) was interrupted by a server stop; no process of it is left",
                    record.Hook, record.ActionId, record.Stage);
                closed += await store.CloseHookAsync(record.Id, HookRunStates.Interrupted, "interrupted (server restarted); no process of it was left", cancellationToken).ConfigureAwait(false) ? 1 : 0;
            }
        }

        return closed;
    }

    /// <summary>Whether the server process that owns a record still runs (this one, or another server on this machine).</summary>
    private bool IsAlive(HookOwner owner)
    {
        if (owner.BootId != self.BootId)
        {
            return false; // the machine rebooted since: nothing of that boot runs
        }

        if (owner.Pid == self.Pid && owner.StartTicks == self.StartTicks)
        {
            return true;
        }

        return owner.StartTicks is { } ticks && ProcessGroups.Read(owner.Pid) is { IsZombie: false } stat && stat.StartTicks == ticks;
    }
}
