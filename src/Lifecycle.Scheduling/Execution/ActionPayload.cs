using System.Globalization;
using System.Text.Json;
using Lifecycle.Core.Planning;

namespace Lifecycle.Scheduling.Execution;

/// <summary>Stable ids and the stored form of planned actions.</summary>
public static class ActionPayload
{
    /// <summary>
    /// The id of an action: the same logical action always gets the same id, so enqueuing it twice (two nodes, a re-run
    /// of the planner) finds the existing job and row. Creates and copies are keyed by their token.
    /// </summary>
    public static string IdOf(PlannedAction action) => action.Kind switch
    {
        ActionKind.Create => "create-" + action.Token,
        ActionKind.Copy => "copy-" + action.Token,
        ActionKind.Archive => $"archive-{action.Region}-{action.SnapshotId}",
        ActionKind.EnableFastRestore => $"fsr-enable-{action.Region}-{action.SnapshotId}-{string.Join('+', action.Zones)}",
        ActionKind.DisableFastRestore => $"fsr-disable-{action.Region}-{action.SnapshotId}-{string.Join('+', action.Zones)}",
        ActionKind.Delete => $"delete-{action.Region}-{action.SnapshotId}",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action.Kind, "unknown action kind"),
    };

    public static string KindName(ActionKind kind) => kind switch
    {
        ActionKind.Create => "create",
        ActionKind.Copy => "copy",
        ActionKind.Archive => "archive",
        ActionKind.EnableFastRestore => "enable-fast-restore",
        ActionKind.DisableFastRestore => "disable-fast-restore",
        ActionKind.Delete => "delete",
        _ => kind.ToString().ToLower(CultureInfo.InvariantCulture),
    };

    public static string Serialize(PlannedAction action) => JsonSerializer.Serialize(action, SchedulingJson.Options);

    public static PlannedAction Deserialize(string payload) =>
        JsonSerializer.Deserialize<PlannedAction>(payload, SchedulingJson.Options)
        ?? throw new InvalidOperationException("empty action payload");
}
