using System.Diagnostics;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Simulation;
using Lifecycle.Policies;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The GitOps pipeline's scripts (deploy/ci/scripts) in a temporary git repository against a live server: the
/// pull-request steps (validate, plan --changed-since, the 30-day review with its Markdown summary and destructive
/// gate) and the merge step (apply with the commit and its author, visible through the API).
/// </summary>
public sealed class PipelineTests : IDisposable
{
    private const string Region = "pipe-a";
    // The review simulates from this instant (the scripts' LIFECYCLE_SIMULATE_FROM): now, in whole minutes.
    private readonly string from = Lifecycle.Core.Planning.OwnershipTags.FormatFireTime(
        DateTimeOffset.UtcNow.AddTicks(-(DateTimeOffset.UtcNow.Ticks % TimeSpan.TicksPerMinute)));

    private readonly TestEnvironment environment = new("pipeline");
    private readonly string repository;
    private readonly string cli;

    public PipelineTests()
    {
        repository = Path.Combine(environment.Root, "repo");
        Directory.CreateDirectory(Path.Combine(repository, "policies"));
        // The scripts call `lifecycle`; here it is the CLI built next to the tests.
        cli = Path.Combine(environment.Root, "lifecycle");
        File.WriteAllText(cli, $"#!/bin/sh\nexec dotnet '{ServerProcess.LifecycleDll}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cli, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static string Policy(string name, int count, string tag = "pipe") => $$"""
        # yaml-language-server: $schema=./lifecycle-policy.schema.json
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: {{name}} }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: {{tag}} } }
          schedules:
            - name: daily
              cron: "0 3 * * *"
              retain: { count: {{count}} }

        """;

    [Fact]
    public async Task PullRequestSteps_SummariseAndGateDestructiveChanges_AndTheMergeStep_AppliesWithRevisionAndAuthor()
    {
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "-1", 2, new Dictionary<string, string> { ["suite"] = "pipe" }, sizeBytes: 8L << 30);
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "-1", 1, new Dictionary<string, string> { ["suite"] = "other" }, sizeBytes: 4L << 30);
        }

        var tokens = Path.Combine(environment.Root, "tokens");
        var readToken = (await RunAsync(cli, ["token", "create", "--name", "ci-plan", "--scope", "read", "--tokens", tokens])).Stdout.Trim();
        var applyToken = (await RunAsync(cli, ["token", "create", "--name", "ci-apply", "--scope", "admin", "--tokens", tokens])).Stdout.Trim();
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--tokens", tokens]);

        // main: three policies, applied by the merge step.
        await GitAsync("init", "-q", "-b", "main");
        WritePolicy("alpha.yaml", Policy("alpha", 7));
        WritePolicy("beta.yaml", Policy("beta", 7, tag: "other"));
        WritePolicy("gamma.yaml", Policy("gamma", 3));
        var main = await CommitAsync("three policies", "Alice Admin", "alice@example.com");
        var merged = await ScriptAsync("apply.sh", server, applyToken);
        Assert.True(merged.Exit == 0, merged.Stderr + merged.Stdout);
        await AssertAppliedAsync(server, main, "Alice Admin <alice@example.com> (token ci-apply)");
        // Applying wakes the new policies to catch up their latest fire: one snapshot per policy and volume.
        await server.WaitUntilAsync(async () =>
        {
            var snapshots = (await server.GetJsonAsync("/api/v1/snapshots")).EnumerateArray().ToList();
            var runs = (await server.GetJsonAsync("/api/v1/runs")).EnumerateArray();
            return snapshots.Count == 5 && snapshots.All(s => s.GetProperty("state").GetString() == "completed")
                && runs.All(r => r.GetProperty("state").GetString() != "running");
        }, TimeSpan.FromSeconds(30), "the catch-up snapshots of alpha (2), beta (1) and gamma (2)");

        // A pull request that adds a policy and keeps alpha's snapshots longer: not destructive.
        await GitAsync("checkout", "-q", "-b", "grow");
        WritePolicy("alpha.yaml", Policy("alpha", 14));
        WritePolicy("delta.yaml", Policy("delta", 5));
        await CommitAsync("keep alpha longer, add delta", "Bob Builder", "bob@example.com");

        var validated = await ScriptAsync("validate.sh", server, readToken);
        Assert.True(validated.Exit == 0, validated.Stderr + validated.Stdout);
        var planned = await ScriptAsync("plan.sh", server, readToken);
        Assert.True(planned.Exit == 0, planned.Stderr + planned.Stdout);
        Assert.Contains("changed since main: alpha.yaml, delta.yaml (policies: alpha, delta)", planned.Stdout);
        Assert.Contains("added    delta", planned.Stdout);
        Assert.Contains("changed  alpha", planned.Stdout);
        Assert.DoesNotContain("gamma", planned.Stdout); // unchanged files are not planned

        var reviewed = await ScriptAsync("review.sh", server, readToken);
        Assert.True(reviewed.Exit == 0, reviewed.Stderr + reviewed.Stdout);
        var summary = File.ReadAllText(Path.Combine(environment.Root, "out", "summary.md"));
        var expected = await ExpectedSummaryAsync(server, main, allowed: false);
        Assert.StartsWith(expected, summary, StringComparison.Ordinal);
        Assert.Contains("No destructive change.", summary);
        Assert.Contains("| added | delta |", summary);
        Assert.Contains("| changed | alpha |", summary);
        Assert.Contains("| planned deletes (server) | 0 |", summary);
        Assert.Contains("<summary>Plan of the changed policies</summary>", summary);
        // 30 daily fires, one snapshot per volume already: alpha (2 volumes, count 7), beta (1, count 7), gamma (the same
        // 2 volumes, count 3); then alpha keeps 14 and delta (2 volumes, count 5) joins, catching up its latest fire first.
        Assert.Contains("| before (main) | 150 | 0 | 128 | 21.20 | $1.06 |\n", summary);
        Assert.Contains("| after | 212 | 0 | 166 | 22.32 | $1.11 |\n", summary);
        Assert.Contains("| change | +62 | 0 | +38 | +1.12 | +$0.05 |\n", summary);
        Assert.Contains("| alpha | 60 → 60 | 48 → 34 | 16.96 → 18.08 | $0.85 → $0.90 |\n", summary);
        Assert.Equal(summary, File.ReadAllText(Path.Combine(environment.Root, "step-summary.md")));

        // The next pull request removes beta and shortens gamma: destructive, so the review fails unless allowed.
        await GitAsync("checkout", "-q", "-b", "shrink");
        File.Delete(Path.Combine(repository, "policies", "beta.yaml"));
        WritePolicy("gamma.yaml", Policy("gamma", 2));
        var head = await CommitAsync("drop beta, keep gamma shorter", "Carol Cutter", "carol@example.com");

        var removal = await ScriptAsync("plan.sh", server, readToken);
        Assert.True(removal.Exit == 0, removal.Stderr + removal.Stdout);
        Assert.Contains("removed  beta", removal.Stdout); // the deleted file shows as a removal
        Assert.Contains("changed  gamma", removal.Stdout);

        var refused = await ScriptAsync("review.sh", server, readToken);
        Assert.Equal(3, refused.Exit);
        Assert.Contains("the change is destructive", refused.Stderr);
        summary = File.ReadAllText(Path.Combine(environment.Root, "out", "summary.md"));
        Assert.StartsWith(await ExpectedSummaryAsync(server, main, allowed: false), summary, StringComparison.Ordinal);
        Assert.Contains(PolicyChangeMarkdownWriter.DestructiveMarker + ": the pipeline fails unless it is allowed", summary);
        Assert.Contains("- policy beta is removed\n", summary);
        Assert.Contains("- gamma/daily: retain count 3 → 2\n", summary);

        var allowed = await ScriptAsync("review.sh", server, readToken, allowDestructive: true);
        Assert.True(allowed.Exit == 0, allowed.Stderr + allowed.Stdout);
        summary = File.ReadAllText(Path.Combine(environment.Root, "out", "summary.md"));
        Assert.StartsWith(await ExpectedSummaryAsync(server, main, allowed: true), summary, StringComparison.Ordinal);
        Assert.Contains(PolicyChangeMarkdownWriter.DestructiveMarker + ": allowed for this change", summary);

        // Merged: the server refuses the revision (beta owns a snapshot) until the merge step is told to allow it; then
        // it applies, with the commit and its author visible through the API.
        await GitAsync("checkout", "-q", "main");
        await GitAsync("merge", "-q", "--ff-only", "shrink");
        merged = await ScriptAsync("apply.sh", server, applyToken);
        Assert.Equal(1, merged.Exit);
        Assert.Contains("status: refused", merged.Stdout);
        merged = await ScriptAsync("apply.sh", server, applyToken, allowDestructive: true);
        Assert.True(merged.Exit == 0, merged.Stderr + merged.Stdout);
        Assert.Contains("status: applied", merged.Stdout);
        await AssertAppliedAsync(server, head, "Carol Cutter <carol@example.com> (token ci-apply)");
        var policies = await server.GetJsonAsync("/api/v1/policies");
        Assert.Equal(["alpha", "delta", "gamma"], policies.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        await server.StopAsync();
    }

    /// <summary>The latest revision is <paramref name="commit"/>, applied by <paramref name="author"/>, in the revisions and the policy list.</summary>
    private static async Task AssertAppliedAsync(ServerProcess server, string commit, string author)
    {
        var latest = (await server.GetJsonAsync("/api/v1/revisions"))[0];
        Assert.Equal(commit, latest.GetProperty("revision").GetString());
        Assert.Equal(author, latest.GetProperty("author").GetString());
        var revision = (await server.GetJsonAsync("/api/v1/policies")).GetProperty("revision");
        Assert.Equal(commit, revision.GetProperty("revision").GetString());
        Assert.Equal(author, revision.GetProperty("author").GetString());
    }

    /// <summary>
    /// The summary the review must write: the same review computed here, from the server's inventory, the policies at
    /// <paramref name="baseRef"/> and the working tree.
    /// </summary>
    private async Task<string> ExpectedSummaryAsync(ServerProcess server, string baseRef, bool allowed)
    {
        var inventory = InventoryJson.Read((await server.GetJsonAsync("/api/v1/inventory")).GetRawText());
        var baseline = Path.Combine(environment.Root, "baseline-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(baseline);
        foreach (var file in (await GitAsync("ls-tree", "--name-only", baseRef, "policies/")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            File.WriteAllText(Path.Combine(baseline, Path.GetFileName(file)), await GitAsync("show", $"{baseRef}:{file}"));
        }

        var before = PolicyLoader.Load([baseline]).Policies;
        var after = PolicyLoader.Load([Path.Combine(repository, "policies")]).Policies;
        var options = new SimulationOptions { From = DateTimeOffset.Parse(from, System.Globalization.CultureInfo.InvariantCulture), Days = 30 };
        var simulator = new SnapshotSimulator();
        var review = PolicyChangeReview.Review(before, after, simulator.Run(before, inventory, options), simulator.Run(after, inventory, options), plannedDeletes: 0, allowed);
        return PolicyChangeMarkdownWriter.Write(review, "before (main)");
    }

    private void WritePolicy(string file, string yaml) => File.WriteAllText(Path.Combine(repository, "policies", file), yaml);

    private async Task<string> CommitAsync(string message, string author, string email)
    {
        await GitAsync("add", "-A");
        await GitAsync("-c", $"user.name={author}", "-c", $"user.email={email}", "commit", "-q", "-m", message);
        return (await GitAsync("rev-parse", "HEAD")).Trim();
    }

    private async Task<string> GitAsync(params string[] arguments)
    {
        var result = await RunAsync("git", arguments, repository);
        Assert.True(result.Exit == 0, $"git {string.Join(' ', arguments)}: {result.Stderr}");
        return result.Stdout;
    }

    private Task<(int Exit, string Stdout, string Stderr)> ScriptAsync(string script, ServerProcess server, string token, bool allowDestructive = false) =>
        RunAsync("bash", [Path.Combine(PostgresServer.RepositoryRoot, "deploy", "ci", "scripts", script)], repository, new Dictionary<string, string?>
        {
            ["LIFECYCLE_CLI"] = cli,
            ["LIFECYCLE_SERVER"] = server.BaseAddress.ToString(),
            ["LIFECYCLE_TOKEN"] = token,
            ["LIFECYCLE_BASE_REF"] = "main",
            ["LIFECYCLE_OUT"] = Path.Combine(environment.Root, "out"),
            ["LIFECYCLE_SIMULATE_FROM"] = from,
            ["LIFECYCLE_ALLOW_DESTRUCTIVE"] = allowDestructive ? "true" : null,
            ["GITHUB_STEP_SUMMARY"] = Path.Combine(environment.Root, "step-summary.md"),
            ["GITHUB_ACTIONS"] = null,
            ["GITHUB_BASE_REF"] = null,
        }, resetStepSummary: script == "review.sh");

    private async Task<(int Exit, string Stdout, string Stderr)> RunAsync(
        string program, string[] arguments, string? directory = null, IReadOnlyDictionary<string, string?>? environmentVariables = null, bool resetStepSummary = false)
    {
        if (resetStepSummary)
        {
            File.Delete(Path.Combine(environment.Root, "step-summary.md"));
        }

        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory ?? environment.Root };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environmentVariables ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout, await stderr);
    }

    public void Dispose() => environment.Dispose();
}
