using System.CommandLine;
using Lifecycle.Core.Policies;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle import dlm FILE.json... [-o DIR] [--strict] [--region R]</c> and
/// <c>lifecycle import backup-plan PLAN.json [SELECTION.json] [-o DIR] [--strict] [--region R]</c>: Amazon DLM policies
/// and AWS Backup plans → policy files, one per policy (DIR/NAME.yaml, or on stdout separated by ---). Every imported
/// policy passes the validator. What has no counterpart is a warning naming its JSON path; --strict makes any warning
/// an error. Exit codes: 0 imported (warnings or not), 1 unreadable or invalid input (or a warning with --strict; then
/// nothing is written), 2 usage error.
/// </summary>
public static class ImportCommand
{
    public const int Imported = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    public static Command Create()
    {
        var command = new Command("import", "Import Amazon DLM policies or AWS Backup plans as policy files");
        command.Subcommands.Add(CreateDlm());
        command.Subcommands.Add(CreateBackupPlan());
        return command;
    }

    private static (Option<string?> Output, Option<bool> Strict, Option<string?> Region) CommonOptions(Command command)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Directory to write one NAME.yaml per policy into (created if missing); default: stdout" };
        var strict = new Option<bool>("--strict") { Description = "Treat every warning (something not imported exactly) as an error: exit 1 and write nothing" };
        var region = new Option<string?>("--region") { Description = "Region of the imported policy (AWS documents name none); default: from the policy ARN, else us-east-1 with a warning" };
        command.Options.Add(output);
        command.Options.Add(strict);
        command.Options.Add(region);
        return (output, strict, region);
    }

    private static Command CreateDlm()
    {
        var files = new Argument<string[]>("files")
        {
            Description = "DLM policy JSON files: `aws dlm get-lifecycle-policy` output, a CreateLifecyclePolicy body (CloudFormation Properties) or a PolicyDetails object. The policy is named after the file.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("dlm", "Import Amazon DLM lifecycle policies (JSON), one policy file each, named after the input file");
        command.Arguments.Add(files);
        var (output, strict, region) = CommonOptions(command);
        command.SetAction(parseResult =>
        {
            var configuration = parseResult.InvocationConfiguration;
            var paths = parseResult.GetValue(files) ?? [];
            if (paths.Length == 0)
            {
                configuration.Error.WriteLine("error: no file given; usage: lifecycle import dlm FILE.json... [-o DIR] [--strict] [--region REGION]");
                return UsageError;
            }

            if (UnknownOption(paths, configuration.Error))
            {
                return UsageError;
            }

            var regionValue = parseResult.GetValue(region);
            if (!RegionIsValid(regionValue, configuration.Error))
            {
                return UsageError;
            }

            var imports = paths.Select(p => DlmImporter.ImportFile(p, regionValue)).ToList();
            return Finish(imports, parseResult.GetValue(output), parseResult.GetValue(strict), configuration.Output, configuration.Error);
        });
        return command;
    }

    private static Command CreateBackupPlan()
    {
        var plan = new Argument<string?>("plan") { Description = "The plan: a CreateBackupPlan input or `aws backup get-backup-plan` output", Arity = ArgumentArity.ZeroOrOne };
        var selection = new Argument<string?>("selection") { Description = "Its selection: a CreateBackupSelection input or `aws backup get-backup-selection` output (without it the targets are a placeholder tag, with a warning)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("backup-plan", "Import an AWS Backup plan (and its selection) as one policy file: each rule a schedule");
        command.Arguments.Add(plan);
        command.Arguments.Add(selection);
        var (output, strict, region) = CommonOptions(command);
        command.SetAction(parseResult =>
        {
            var configuration = parseResult.InvocationConfiguration;
            if (parseResult.GetValue(plan) is not { } planFile)
            {
                configuration.Error.WriteLine("error: no plan given; usage: lifecycle import backup-plan PLAN.json [SELECTION.json] [-o DIR] [--strict] [--region REGION]");
                return UsageError;
            }

            if (UnknownOption([planFile, .. parseResult.GetValue(selection) is { } s ? [s] : Array.Empty<string>()], configuration.Error)
                || !RegionIsValid(parseResult.GetValue(region), configuration.Error))
            {
                return UsageError;
            }

            var imported = BackupPlanImporter.ImportFiles(planFile, parseResult.GetValue(selection), parseResult.GetValue(region));
            return Finish([imported], parseResult.GetValue(output), parseResult.GetValue(strict), configuration.Output, configuration.Error);
        });
        return command;
    }

    /// <summary>Prints the findings, then writes the policies (unless an error, or a warning under --strict).</summary>
    internal static int Finish(IReadOnlyList<InteropImport> imports, string? outputDirectory, bool strict, TextWriter stdout, TextWriter stderr)
    {
        var errors = 0;
        var warnings = 0;
        foreach (var import in imports)
        {
            foreach (var diagnostic in import.Diagnostics)
            {
                var asError = diagnostic.Severity == DiagnosticSeverity.Error || strict;
                stderr.WriteLine(asError && diagnostic.Severity == DiagnosticSeverity.Warning
                    ? diagnostic with { Severity = DiagnosticSeverity.Error, Message = diagnostic.Message + " (--strict)" }
                    : diagnostic);
                errors += asError ? 1 : 0;
                warnings += asError ? 0 : 1;
            }

            foreach (var note in import.ValidatorNotes)
            {
                stderr.WriteLine($"{import.Name}.yaml: {note.FieldPath}: note: {note.Message}");
            }
        }

        if (errors > 0)
        {
            stderr.WriteLine($"import: {Plural(errors, "error")}, {Plural(warnings, "warning")}; nothing written");
            return Failed;
        }

        var taken = new HashSet<string>(StringComparer.Ordinal);
        var written = new List<(string Name, string Yaml)>();
        foreach (var import in imports)
        {
            var name = Unique(import.Name, taken);
            if (name != import.Name)
            {
                stderr.WriteLine($"import: two inputs are both named '{import.Name}'; the second is written as {name}.yaml (rename metadata.name before applying)");
            }

            written.Add((name, name == import.Name ? import.Yaml! : import.Yaml!.Replace($"  name: {import.Name}\n", $"  name: {name}\n", StringComparison.Ordinal)));
        }

        if (outputDirectory is null)
        {
            stdout.Write(string.Join("---\n", written.Select(w => w.Yaml)));
        }
        else if (!WriteFiles(outputDirectory, written.Select(w => (w.Name + ".yaml", w.Yaml)), stderr))
        {
            return Failed;
        }

        stderr.WriteLine($"import: {Plural(written.Count, "policy", "policies")} imported, {Plural(warnings, "warning")}");
        return Imported;
    }

    /// <summary>Writes the files into <paramref name="directory"/> (created if missing); false after a located error.</summary>
    internal static bool WriteFiles(string directory, IEnumerable<(string Name, string Text)> files, TextWriter stderr)
    {
        try
        {
            Directory.CreateDirectory(directory);
            foreach (var (name, text) in files)
            {
                var path = Path.Combine(directory, name);
                File.WriteAllText(path, text);
                stderr.WriteLine($"wrote {path}");
            }

            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {directory}: cannot write: {exception.Message}");
            return false;
        }
    }

    /// <summary>An argument such as --regoin is a mistyped option, not a file (unless such a file exists).</summary>
    private static bool UnknownOption(IEnumerable<string> arguments, TextWriter stderr)
    {
        if (arguments.FirstOrDefault(a => a.StartsWith('-') && !File.Exists(a)) is not { } unknown)
        {
            return false;
        }

        stderr.WriteLine($"error: unknown option '{unknown}'; see lifecycle import --help");
        return true;
    }

    private static bool RegionIsValid(string? region, TextWriter stderr)
    {
        if (region is null || RegionName.IsValid(region))
        {
            return true;
        }

        stderr.WriteLine($"error: --region '{region}' is not a region name (lowercase letters, digits and hyphens, such as eu-west-1)");
        return false;
    }

    internal static string Plural(int count, string one, string? many = null) =>
        $"{count} {(count == 1 ? one : many ?? one + "s")}";

    private static string Unique(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (var n = 2; !taken.Add(candidate); n++)
        {
            candidate = $"{name}-{n}";
        }

        return candidate;
    }
}
