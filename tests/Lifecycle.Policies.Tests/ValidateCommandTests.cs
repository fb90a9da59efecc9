using System.Diagnostics;
using System.Text.Json;
using Lifecycle.Cli.Commands;

namespace Lifecycle.Policies.Tests;

public sealed class ValidateCommandTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("lifecycle-validate-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private const string ValidPolicy = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: ok }
        spec:
          regions: [eu-west-1]
          targets: { tags: { backup: "true" } }
          schedules:
            - { name: daily, every: 1d, retain: { count: 7 } }
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(string output, params string[] paths)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = ValidateCommand.Run(paths, output, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Validate_ExitsZero_ForTheExamples()
    {
        var (exit, stdout, stderr) = Run("text", RepositoryPaths.Policies);

        Assert.Equal(0, exit);
        Assert.Equal("", stdout);
        Assert.Equal("validate: 5 policies in 5 files valid, 0 warnings", stderr.Trim());
    }

    [Fact]
    public void Validate_ExitsZero_WithWarningsPrinted()
    {
        var file = Write("warn.yaml", ValidPolicy + "\n  safety: { keepLatest: 0 }\n");

        var (exit, stdout, _) = Run("text", file);

        Assert.Equal(0, exit);
        Assert.Equal($"{file}:9:25: warning: spec.safety.keepLatest: keepLatest: 0 lets age and bucket rules delete the newest snapshot of a volume, even when no newer one was taken", stdout.Trim());
    }

    [Fact]
    public void Validate_ExitsOne_AndPrintsEveryErrorOfEveryFile()
    {
        var good = Write("a-good.yaml", ValidPolicy);
        var bad = Write("b-bad.yaml", ValidPolicy.Replace("name: ok", "name: bad", StringComparison.Ordinal).Replace("every: 1d", "every: 5h", StringComparison.Ordinal).Replace("count: 7", "count: 0", StringComparison.Ordinal));

        var (exit, stdout, stderr) = Run("text", good, bad);

        Assert.Equal(1, exit);
        Assert.Equal(
            [
                $"{bad}:8:29: error: spec.schedules[0].every: '5h' is not a supported interval; use 1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d to 366d or 1w to 52w (cron for anything else)",
                $"{bad}:8:50: error: spec.schedules[0].retain.count: must be at least 1, got 0",
            ],
            stdout.Trim().Split('\n'));
        Assert.Equal("validate: 2 errors, 0 warnings in 2 files; 1 valid policy", stderr.Trim());
    }

    [Fact]
    public void Validate_ExitsTwo_OnUsageErrors()
    {
        Assert.Equal(2, Run("text").ExitCode);
        Assert.Equal(2, Run("text", Path.Combine(directory, "missing.yaml")).ExitCode);
        Assert.Equal(2, Run("text", directory).ExitCode); // a directory without policy files
        Assert.Equal(2, Run("xml", Write("ok.yaml", ValidPolicy)).ExitCode);
    }

    [Fact]
    public void Validate_PrintsDiagnosticsAsJson()
    {
        var bad = Write("bad.yaml", ValidPolicy.Replace("count: 7", "count: 0", StringComparison.Ordinal));

        var (exit, stdout, _) = Run("json", bad);

        Assert.Equal(1, exit);
        using var json = JsonDocument.Parse(stdout);
        var diagnostic = Assert.Single(json.RootElement.GetProperty("diagnostics").EnumerateArray());
        Assert.False(json.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal("error", diagnostic.GetProperty("severity").GetString());
        Assert.Equal(bad, diagnostic.GetProperty("file").GetString());
        Assert.Equal(8, diagnostic.GetProperty("line").GetInt32());
        Assert.Equal(50, diagnostic.GetProperty("column").GetInt32());
        Assert.Equal("spec.schedules[0].retain.count", diagnostic.GetProperty("path").GetString());
    }

    [Fact]
    public void LifecycleProcess_ExitCodes_Are0ForValid_1ForInvalid_2ForUsage()
    {
        var good = Write("good.yaml", ValidPolicy);
        var bad = Write("bad.yaml", ValidPolicy.Replace("count: 7", "count: 0", StringComparison.Ordinal));

        Assert.Equal(0, RunProcess("validate", good).ExitCode);
        var (invalidExit, invalidOut) = RunProcess("validate", bad);
        Assert.Equal(1, invalidExit);
        Assert.Contains($"{bad}:8:50: error: spec.schedules[0].retain.count: must be at least 1, got 0", invalidOut, StringComparison.Ordinal);
        Assert.Equal(2, RunProcess("validate").ExitCode);
        Assert.Equal(2, RunProcess("validate", Path.Combine(directory, "nope.yaml")).ExitCode);
        Assert.Equal(2, RunProcess("validate", good, "--bogus").ExitCode);
        Assert.Equal(2, RunProcess("validate", good, "--output").ExitCode);
        Assert.Equal(2, RunProcess("validate", good, "--output", "yaml").ExitCode);
        Assert.Equal(1, RunProcess("validate", good, bad, "--output", "json").ExitCode);
    }

    [Fact]
    public void LifecycleProcess_SchemaCommand_PrintsTheSchema()
    {
        var (exit, stdout) = RunProcess("schema");

        Assert.Equal(0, exit);
        Assert.Equal(PolicySchema.Generate(), stdout);
    }

    private static (int ExitCode, string Stdout) RunProcess(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "lifecycle.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(cli);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        _ = stderr.Result;
        return (process.ExitCode, stdout);
    }
}
