using System.Globalization;
using System.Runtime.InteropServices;
using Lifecycle.Core.Hooks;

namespace Lifecycle.Scheduling.Hooks;

/// <summary>
/// Linux process groups through /proc and kill(2): what a hook's process is (start time since boot, boot id), which
/// processes are still in its group, and a kill of the whole group.
/// </summary>
internal static class ProcessGroups
{
    private const int SigKill = 9;

    private static readonly Lazy<string?> CurrentBootId = new(() =>
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    });

    /// <summary>This machine's boot id (a random id per boot); null off Linux.</summary>
    public static string? BootId => CurrentBootId.Value;

    /// <summary>The fields of /proc/&lt;pid&gt;/stat a group check needs.</summary>
    public sealed record ProcessStat(int Pid, char State, int ProcessGroup, int Session, long StartTicks)
    {
        public bool IsZombie => State is 'Z' or 'X';
    }

    /// <summary>Reads /proc/&lt;pid&gt;/stat; null when the process is gone.</summary>
    public static ProcessStat? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may itself hold spaces and ')': parse after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ');

        // fields[0] is field 3 (state): pgrp is field 5, session field 6, starttime field 22 (clock ticks since boot).
        if (fields.Length < 20
            || !int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var group)
            || !int.TryParse(fields[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var session)
            || !long.TryParse(fields[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }

        return new ProcessStat(pid, fields[0].Length > 0 ? fields[0][0] : '?', group, session, start);
    }

    /// <summary>The identity of a process that leads its own group (as a hook started through setsid does).</summary>
    public static HookProcess Describe(int pid) => new(pid, Read(pid)?.StartTicks, BootId);

    /// <summary>Live (not zombie) processes whose process group is <paramref name="processGroup"/>.</summary>
    public static IReadOnlyList<ProcessStat> Members(int processGroup)
    {
        var members = new List<ProcessStat>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && Read(pid) is { } stat && stat.ProcessGroup == processGroup && !stat.IsZombie)
            {
                members.Add(stat);
            }
        }

        return members;
    }

    /// <summary>
    /// Whether the recorded hook process group still exists here and is the same one: same boot, and either its leader
    /// is alive with the recorded start time, or the leader is gone and every process left in the group started after
    /// it. (A pid stays unused while a group of that number exists, so a leader with another start time means the
    /// recorded group is gone and the number reused.)
    /// </summary>
    public static bool IsRecordedGroupAlive(HookProcess recorded)
    {
        if (recorded.StartTicks is not { } started || recorded.BootId is null || recorded.BootId != BootId || recorded.ProcessGroupId <= 1)
        {
            return false;
        }

        if (Read(recorded.ProcessGroupId) is { } leader)
        {
            return leader.StartTicks == started && (!leader.IsZombie || Members(recorded.ProcessGroupId).Count > 0);
        }

        var members = Members(recorded.ProcessGroupId);
        return members.Count > 0 && members.All(m => m.StartTicks >= started);
    }

    /// <summary>
    /// SIGKILL to the whole group and to its leader (a leader killed before it ran setsid() is not a group leader yet).
    /// Errors (already gone) are ignored.
    /// </summary>
    public static void Kill(int processGroup)
    {
        if (processGroup <= 1)
        {
            return; // never kill(-1) or kill(0): that is every process we may signal, or our own group
        }

        _ = KillNative(-processGroup, SigKill);
        _ = KillNative(processGroup, SigKill);
    }

    /// <summary>Waits (bounded) until no live process is left in the group; true when it is empty.</summary>
    public static async Task<bool> WaitUntilEmptyAsync(int processGroup, TimeSpan limit, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        var started = timeProvider.GetTimestamp();
        while (Members(processGroup).Count > 0)
        {
            if (timeProvider.GetElapsedTime(started) > limit)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), timeProvider, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    // DllImport, not LibraryImport: the generated marshaller needs unsafe code, and two ints need no marshalling.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int KillNative(int pid, int signal);
}
