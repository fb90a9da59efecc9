using System.Diagnostics;
using System.Runtime.CompilerServices;
using Lifecycle.Cli.Commands;

namespace Lifecycle.Cli.Tests.Commands;

/// <summary>The CLI pieces of the GitOps pipeline: <c>simulate --baseline</c> (the review) and <c>--changed-since</c>.</summary>
public sealed class PipelineCommandTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-pipeline-" + Guid.NewGuid().ToString("N")[..10]);

    public PipelineCommandTests() => Directory.CreateDirectory(directory);

    private static string Repository([CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", "..", ".."));

    private static string Examples => Path.Combine(Repository(), "policies");

    private static string ExampleInventory => Path.Combine(Examples, "example-inventory.json");

    /// <summary>The examples, changed by <paramref name="change"/> (file name → new text, null to delete).</summary>
    private string ChangedExamples(params (string File, string? Text)[] change)
    {
        var copy = Path.Combine(directory, "after");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Examples, "*.yaml"))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        foreach (var (file, text) in change)
        {
            if (text is null)
            {
                File.Delete(Path.Combine(copy, file));
            }
            else
            {
                File.WriteAllText(Path.Combine(copy, file), text);
            }
        }

        return copy;
    }

    private static (int Code, string Out, string Err) Review(string after, bool allow = false, string? plan = null, string output = "markdown")
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = SimulateCommand.Run(new SimulateCommand.Arguments(after, ExampleInventory, "2026-11-21T12:00:00Z", 30, 1.0, null, 7, output)
        {
            Baseline = Examples,
            BaselineLabel = "before (main)",
            Plan = plan,
            AllowDestructive = allow,
        }, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Review_OfAnUnchangedSet_IsNotDestructive_AndBeforeEqualsAfter()
    {
        var (code, output, error) = Review(Examples);

        Assert.True(code == 0, error);
        Assert.StartsWith("## Lifecycle policy change\n\nNo destructive change.\n", output, StringComparison.Ordinal);
        Assert.Contains("| added | - |\n| removed | - |\n| changed | - |\n", output);
        Assert.Contains("| change | 0 | 0 | 0 | 0.00 | $0.00 |\n", output);
    }

    [Fact]
    public void Review_FlagsARemovedPolicyAndShortenedRetention_AndExits3_UnlessAllowed()
    {
        var staging = File.ReadAllText(Path.Combine(Examples, "staging.yaml")).Replace("retain: { count: 4 }", "retain: { count: 2 }", StringComparison.Ordinal);
        var after = ChangedExamples(("development.yaml", null), ("staging.yaml", staging));

        var (code, output, _) = Review(after);
        Assert.Equal(SimulateCommand.Destructive, code);
        Assert.Contains("**Destructive change**: the pipeline fails unless it is allowed", output);
        Assert.Contains("| removed | development |\n| changed | staging |\n", output);
        Assert.Contains("- policy development is removed\n- staging/weekly: retain count 4 → 2\n", output);

        var (allowedCode, allowedOutput, _) = Review(after, allow: true);
        Assert.Equal(0, allowedCode);
        Assert.Contains("**Destructive change**: allowed for this change", allowedOutput);
    }

    [Theory]
    [InlineData("""{ "status": "valid", "plan": { "actions": [ { "kind": "delete" }, { "kind": "create" }, { "kind": "Delete" } ] } }""", 2)]
    [InlineData("""{ "result": { "plan": { "actions": [ { "kind": "delete" } ] } } }""", 1)]
    [InlineData("""{ "format": "lifecycle-plan/v1", "actions": [ { "kind": "delete" } ] }""", 1)]
    [InlineData("""{ "status": "valid", "plan": { "actions": [] } }""", 0)]
    public void Review_CountsTheDeletesOfAServerPlan_AsDestructive(string planJson, int deletes)
    {
        var plan = Path.Combine(directory, "plan.json");
        File.WriteAllText(plan, planJson);

        var (code, output, _) = Review(Examples, plan: plan);

        Assert.Equal(deletes > 0 ? SimulateCommand.Destructive : 0, code);
        Assert.Contains($"| planned deletes (server) | {deletes} |", output);
        Assert.Equal(deletes > 0, output.Contains($"- the server plans {deletes} snapshot deletion(s) for the changed policies", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ChangedSince_ListsChangedDeletedAndUntrackedPolicyFiles_WithOldAndNewNames()
    {
        var policies = Path.Combine(directory, "repo", "policies");
        Directory.CreateDirectory(policies);
        File.Copy(Path.Combine(Examples, "staging.yaml"), Path.Combine(policies, "staging.yaml"));
        File.Copy(Path.Combine(Examples, "development.yaml"), Path.Combine(policies, "development.yaml"));
        File.Copy(Path.Combine(Examples, "databases.yaml"), Path.Combine(policies, "databases.yaml"));
        await GitAsync(policies, "init", "-q");
        await GitAsync(policies, "add", "-A");
        await GitAsync(policies, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base");

        File.Delete(Path.Combine(policies, "development.yaml"));
        File.WriteAllText(Path.Combine(policies, "staging.yaml"), File.ReadAllText(Path.Combine(policies, "staging.yaml")).Replace("name: staging", "name: staging-eu", StringComparison.Ordinal));
        File.Copy(Path.Combine(Examples, "long-term-archive.yaml"), Path.Combine(policies, "long-term-archive.yaml"));

        var changed = await ChangedPolicies.FindAsync(policies, "HEAD", TextWriter.Null);

        Assert.NotNull(changed);
        Assert.Equal(["development.yaml", "long-term-archive.yaml", "staging.yaml"], changed.Files.ToArray());
        Assert.Equal(["development", "long-term-archive", "staging", "staging-eu"], changed.Names.ToArray());

        var error = new StringWriter();
        Assert.Null(await ChangedPolicies.FindAsync(policies, "no-such-ref", error));
        Assert.Contains("--changed-since no-such-ref: git diff failed", error.ToString());
    }

    [Fact]
    public void Plan_OnlyChangedPolicies_PlansOnlyThose()
    {
        var stdout = new StringWriter();
        var code = PlanCommand.Run(Examples, ExampleInventory, "2026-11-21T12:00:00Z", "text", TimeProvider.System, stdout, new StringWriter(),
            new HashSet<string>(["staging"], StringComparer.Ordinal));

        Assert.Equal(0, code);
        Assert.Contains("Policy staging:", stdout.ToString());
        Assert.DoesNotContain("Policy databases:", stdout.ToString());
    }

    private static async Task GitAsync(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"git {string.Join(' ', arguments)}: {await error}");
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
