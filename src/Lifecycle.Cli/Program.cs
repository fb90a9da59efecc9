using System.CommandLine;
using Lifecycle.Cli.Commands;

var root = new RootCommand("lifecycle: policy-driven snapshot lifecycle manager (validate, plan, simulate, serve)");
foreach (var command in CommandCatalog.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
