using System.CommandLine;

namespace Lifecycle.Cli.Commands;

/// <summary>Every top-level command, one file each under Commands/.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> Create()
    {
        // Policies: the GitOps path.
        yield return ValidateCommand.Create();
        yield return SchemaCommand.Create();
        yield return PlanCommand.Create();
        yield return SimulateCommand.Create();
        yield return ImportCommand.Create();
        yield return ExportCommand.Create();

        // The server: the main job, and the apply path against it.
        yield return ServeCommand.Create();
        yield return ApplyCommand.Create();
        yield return RunsCommand.Create();
        yield return TokenCommand.Create();

        // The local block engine.
        yield return VolumeCommand.Create();
        yield return SnapshotCommand.Create();
        yield return FastRestoreCommand.Create();
        yield return RecycleBinCommand.Create();
        yield return GcCommand.Create();
        yield return VerifyCommand.Create();
        yield return InventoryCommand.Create();

        yield return BenchCommand.Create();
    }
}
