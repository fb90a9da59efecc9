using System.CommandLine;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle schema</c>: prints the JSON Schema of the policy language, the text committed as
/// policies/lifecycle-policy.schema.json (regenerate with <c>lifecycle schema &gt; policies/lifecycle-policy.schema.json</c>).
/// </summary>
public static class SchemaCommand
{
    public static Command Create()
    {
        var command = new Command("schema", "Print the JSON Schema of policy files (apiVersion lifecycle/v1)");
        command.SetAction(parseResult =>
        {
            parseResult.InvocationConfiguration.Output.Write(PolicySchema.Generate());
            return 0;
        });
        return command;
    }
}
