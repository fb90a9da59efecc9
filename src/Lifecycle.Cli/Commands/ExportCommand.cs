using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle export dlm --policies DIR [-o DIR] [--execution-role-arn ARN] [--strict]</c>: each policy as a DLM
/// CreateLifecyclePolicy input (NAME.json). <c>lifecycle export backup-plan --policies DIR [-o DIR] [--iam-role-arn ARN]
/// [--account-id ID] [--strict]</c>: each policy as a CreateBackupPlan input (NAME.plan.json) and a CreateBackupSelection
/// input (NAME.selection.json). Without -o the documents go to stdout, one JSON document after another. What cannot be
/// expressed is a warning naming the policy file and field path. Exit codes: 0 exported (warnings or not), 1 invalid
/// policies (or a warning with --strict; then nothing is written), 2 usage error.
/// </summary>
public static class ExportCommand
{
    public const int Exported = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var command = new Command("export", "Export policy files as Amazon DLM policies or AWS Backup plans (JSON API inputs)");
        command.Subcommands.Add(CreateDlm());
        command.Subcommands.Add(CreateBackupPlan());
        return command;
    }

    private static (Option<string?> Policies, Option<string?> Output, Option<bool> Strict) CommonOptions(Command command)
    {
        var policies = new Option<string?>("--policies", "-p") { Description = "Policy file or directory (*.yaml, *.yml)" };
        var output = new Option<string?>("--output", "-o") { Description = "Directory to write the JSON files into (created if missing); default: stdout, one document after another" };
        var strict = new Option<bool>("--strict") { Description = "Treat every warning (something not exported exactly) as an error: exit 1 and write nothing" };
        command.Options.Add(policies);
        command.Options.Add(output);
        command.Options.Add(strict);
        return (policies, output, strict);
    }

    private static Command CreateDlm()
    {
        var command = new Command("dlm", "Export each policy as an Amazon DLM CreateLifecyclePolicy input (NAME.json; aws dlm create-lifecycle-policy --cli-input-json file://NAME.json)");
        var (policies, output, strict) = CommonOptions(command);
        var role = new Option<string?>("--execution-role-arn") { Description = "The IAM role DLM runs the policy as (ExecutionRoleArn); without it a placeholder and a warning" };
        command.Options.Add(role);
        command.SetAction(parseResult =>
        {
            var roleArn = parseResult.GetValue(role);
            return Run(parseResult.GetValue(policies), parseResult.GetValue(output), parseResult.GetValue(strict),
                policy => DlmExporter.Export(policy, roleArn), parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error);
        });
        return command;
    }

    private static Command CreateBackupPlan()
    {
        var command = new Command("backup-plan", "Export each policy as an AWS Backup plan and selection (NAME.plan.json, NAME.selection.json)");
        var (policies, output, strict) = CommonOptions(command);
        var role = new Option<string?>("--iam-role-arn") { Description = "The IAM role AWS Backup uses for the selection (IamRoleArn); without it a placeholder and a warning" };
        var account = new Option<string?>("--account-id") { Description = "Account of the destination vaults of cross-region copies; without it a placeholder and a warning" };
        command.Options.Add(role);
        command.Options.Add(account);
        command.SetAction(parseResult =>
        {
            var roleArn = parseResult.GetValue(role);
            var accountId = parseResult.GetValue(account);
            return Run(parseResult.GetValue(policies), parseResult.GetValue(output), parseResult.GetValue(strict),
                policy => BackupPlanExporter.Export(policy, roleArn, accountId), parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error);
        });
        return command;
    }

    internal static int Run(string? policyPath, string? outputDirectory, bool strict, Func<SnapshotPolicy, InteropExport> export, TextWriter stdout, TextWriter stderr)
    {
        if (policyPath is null)
        {
            stderr.WriteLine("error: --policies is required (a policy file or directory)");
            return UsageError;
        }

        if (!File.Exists(policyPath) && !Directory.Exists(policyPath))
        {
            stderr.WriteLine($"error: {policyPath}: no such file or directory");
            return UsageError;
        }

        var loaded = PolicyLoader.Load([policyPath]);
        if (loaded.HasErrors)
        {
            foreach (var diagnostic in loaded.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))
            {
                stderr.WriteLine(diagnostic.ToString());
            }

            stderr.WriteLine("export: the policies are not valid (lifecycle validate shows every finding); nothing written");
            return Failed;
        }

        if (loaded.Policies.Policies.IsEmpty)
        {
            stderr.WriteLine($"error: {policyPath}: no policy found");
            return UsageError;
        }

        var exports = loaded.Policies.Policies.Select(export).ToList();
        var warnings = 0;
        foreach (var diagnostic in exports.SelectMany(e => e.Diagnostics))
        {
            stderr.WriteLine(strict ? diagnostic with { Severity = DiagnosticSeverity.Error, Message = diagnostic.Message + " (--strict)" } : diagnostic);
            warnings++;
        }

        if (strict && warnings > 0)
        {
            stderr.WriteLine($"export: {ImportCommand.Plural(warnings, "error")} (--strict); nothing written");
            return Failed;
        }

        var documents = exports.SelectMany(e => e.Documents).ToList();
        if (outputDirectory is null)
        {
            foreach (var (_, document) in documents)
            {
                stdout.WriteLine(document.ToJsonString(Indented));
            }
        }
        else if (!ImportCommand.WriteFiles(outputDirectory, documents.Select(d => (d.Key, ToText(d.Value))), stderr))
        {
            return Failed;
        }

        stderr.WriteLine($"export: {ImportCommand.Plural(exports.Count, "policy", "policies")} exported, {ImportCommand.Plural(warnings, "warning")}");
        return Exported;
    }

    /// <summary>Serializes one exported document as the files hold it (tests compare with it).</summary>
    internal static string ToText(JsonObject document) => document.ToJsonString(Indented) + "\n";
}
