using System.Collections.Concurrent;
using System.Globalization;
using Hangfire;
using Hangfire.Common;
using Hangfire.Dashboard;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>
/// Names an action's job for a person in the Hangfire dashboard ("create snapshot vol-120 · prod-critical/every-4h ·
/// 2026-12-06 12:00Z"): the job carries only the action id, so the name is read from the run store (and remembered;
/// an action's kind, target, policy and fire never change).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ActionJobNameAttribute() : JobDisplayNameAttribute("{0}")
{
    private const int MaxRemembered = 10_000;
    private static readonly ConcurrentDictionary<string, string> Remembered = new(StringComparer.Ordinal);

    /// <summary>The run store the names come from; set when the scheduler starts.</summary>
    internal static RunStore? Store { get; set; }

    public override string Format(DashboardContext context, Job job)
    {
        var id = job.Args.Count > 0 ? job.Args[0] as string : null;
        if (id is null)
        {
            return job.Method.Name;
        }

        if (Remembered.TryGetValue(id, out var name))
        {
            return name;
        }

        var action = Store?.GetActionAsync(id).GetAwaiter().GetResult();
        if (action is null)
        {
            return $"{job.Method.Name} action {id}";
        }

        name = Describe(action, job.Method.Name == nameof(ActionJob.CheckCompletion));
        if (Remembered.Count >= MaxRemembered)
        {
            Remembered.Clear();
        }

        Remembered[id] = name;
        return name;
    }

    /// <summary>"create snapshot vol-1 · policy/schedule · 2026-12-06 12:00Z" (a completion check says so first).</summary>
    public static string Describe(ActionRecord action, bool check = false)
    {
        var what = action.Kind switch
        {
            "create" => "create snapshot " + string.Join(",", action.VolumeIds),
            "copy" => $"copy {action.SnapshotId} to {action.Region}",
            "delete" => $"delete {action.SnapshotId}",
            "archive" => $"archive {action.SnapshotId}",
            _ => $"{action.Kind} {action.SnapshotId}",
        };
        var where = action.Schedule is null ? action.Policy : $"{action.Policy}/{action.Schedule}";
        var when = action.FireTime is { } fire ? " · " + fire.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture) : "";
        return (check ? "check completion: " : "") + $"{what} · {where}{when}";
    }
}
