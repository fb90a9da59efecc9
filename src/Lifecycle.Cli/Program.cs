using System.CommandLine;
using Lifecycle.Cli.Commands;

var root = new RootCommand("lifecycle: policy-driven snapshot lifecycle manager (validate, plan, simulate, serve)");
foreach (var command in CommandCatalog.Create())
{
    root.Subcommands.Add(command);
}

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Usage errors exit 2 for every command, so a pipeline can tell "you called it wrong" from "the policy is invalid".
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    var name = parsed.CommandResult.Command == root ? "lifecycle" : $"lifecycle {parsed.CommandResult.Command.Name}";
    Console.Error.WriteLine($"Try '{name} --help'.");
    return 2;
}

return await parsed.InvokeAsync();
