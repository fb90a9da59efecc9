using System.CommandLine;
using System.Text.Json;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle validate PATH... [--output text|json]</c>: checks policy files and directories. Prints every
/// diagnostic as FILE:LINE:COLUMN: error|warning: FIELD.PATH: message and a summary line on stderr.
/// Exit codes: 0 valid (warnings allowed), 1 any error, 2 usage error (no path, path not found, bad option).
/// </summary>
public static class ValidateCommand
{
    public const int Valid = 0;
    public const int Invalid = 1;
    public const int UsageError = 2;

    public static Command Create()
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Policy files or directories (directories: *.yaml and *.yml, recursively)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "text (default) or json",
            DefaultValueFactory = _ => "text",
            // "--output" without a value reaches Run (exit 2) instead of the parser's generic failure (exit 1).
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("validate", "Validate policy files: every error with file, line, column and field")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.Arguments.Add(paths);
        command.Options.Add(output);
        command.SetAction(parseResult =>
        {
            var configuration = parseResult.InvocationConfiguration;
            if (parseResult.UnmatchedTokens.Count > 0)
            {
                configuration.Error.WriteLine($"error: unknown argument '{parseResult.UnmatchedTokens[0]}'; usage: lifecycle validate PATH... [--output text|json]");
                return UsageError;
            }

            var format = parseResult.GetResult(output) is { Implicit: false, Tokens.Count: 0 } ? "" : parseResult.GetValue(output) ?? "text";
            return Run(parseResult.GetValue(paths) ?? [], format, configuration.Output, configuration.Error);
        });
        return command;
    }

    /// <summary>Runs the validation; the command's action and tests call this.</summary>
    public static int Run(IReadOnlyList<string> paths, string output, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (output is not ("text" or "json"))
        {
            stderr.WriteLine(output.Length == 0 ? "error: --output needs a value: text or json" : $"error: --output must be text or json, not '{output}'");
            return UsageError;
        }

        if (paths.Count == 0)
        {
            stderr.WriteLine("error: no path given; usage: lifecycle validate PATH... [--output text|json]");
            return UsageError;
        }

        var files = 0;
        foreach (var path in paths)
        {
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                stderr.WriteLine($"error: {path}: no such file or directory");
                return UsageError;
            }

            var found = PolicyLoader.ExpandPath(path).Count;
            if (found == 0)
            {
                stderr.WriteLine($"error: {path}: no *.yaml or *.yml files in this directory");
                return UsageError;
            }

            files += found;
        }

        var result = PolicyLoader.Load(paths);
        var errors = result.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
        var warnings = result.Diagnostics.Length - errors;
        if (output == "json")
        {
            WriteJson(stdout, result, files, errors, warnings);
        }
        else
        {
            foreach (var diagnostic in result.Diagnostics)
            {
                stdout.WriteLine(diagnostic.ToString());
            }
        }

        var policies = result.Policies.Policies.Length;
        stderr.WriteLine(errors == 0
            ? $"validate: {Plural(policies, "policy", "policies")} in {Plural(files, "file", "files")} valid, {Plural(warnings, "warning", "warnings")}"
            : $"validate: {Plural(errors, "error", "errors")}, {Plural(warnings, "warning", "warnings")} in {Plural(files, "file", "files")}; {Plural(policies, "valid policy", "valid policies")}");
        return errors == 0 ? Valid : Invalid;
    }

    private static string Plural(int count, string one, string many) => $"{count} {(count == 1 ? one : many)}";

    private static void WriteJson(TextWriter stdout, PolicyLoadResult result, int files, int errors, int warnings)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteBoolean("valid", errors == 0);
            json.WriteNumber("files", files);
            json.WriteNumber("errors", errors);
            json.WriteNumber("warnings", warnings);
            json.WriteStartArray("policies");
            foreach (var policy in result.Policies.Policies)
            {
                json.WriteStringValue(policy.Name);
            }

            json.WriteEndArray();
            json.WriteStartArray("diagnostics");
            foreach (var diagnostic in result.Diagnostics)
            {
                json.WriteStartObject();
                json.WriteString("severity", diagnostic.Severity == DiagnosticSeverity.Error ? "error" : "warning");
                json.WriteString("file", diagnostic.Location.File);
                json.WriteNumber("line", diagnostic.Location.Line);
                json.WriteNumber("column", diagnostic.Location.Column);
                json.WriteString("path", diagnostic.FieldPath);
                json.WriteString("message", diagnostic.Message);
                json.WriteString("text", diagnostic.ToString());
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
