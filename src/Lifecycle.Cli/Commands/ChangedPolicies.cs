using System.Collections.Immutable;
using System.Diagnostics;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// The policies whose files changed since a git revision (<c>--changed-since REF</c>): the files
/// <c>git diff --name-only REF -- DIR</c> lists, plus untracked new ones, and the names of the policies in them now
/// (working tree) and at REF (a deleted file's, or a renamed policy's old name: shown as removals).
/// </summary>
public sealed record ChangedPolicies(string Ref, ImmutableArray<string> Files, ImmutableSortedSet<string> Names)
{
    /// <summary>Reads the change; on failure (not a git repository, unknown REF) writes why and returns null.</summary>
    public static async Task<ChangedPolicies?> FindAsync(string policiesPath, string gitRef, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var directory = Directory.Exists(policiesPath) ? Path.GetFullPath(policiesPath) : Path.GetDirectoryName(Path.GetFullPath(policiesPath))!;
        var scope = Directory.Exists(policiesPath) ? "." : Path.GetFileName(policiesPath);
        var diff = await GitAsync(directory, cancellationToken, "diff", "--name-only", "--relative", "--no-renames", gitRef, "--", scope).ConfigureAwait(false);
        var untracked = diff.Code == 0
            ? await GitAsync(directory, cancellationToken, "ls-files", "--others", "--exclude-standard", "--", scope).ConfigureAwait(false)
            : diff;
        if (diff.Code != 0 || untracked.Code != 0)
        {
            await stderr.WriteLineAsync($"error: --changed-since {gitRef}: git diff failed in {directory}: {(diff.Code != 0 ? diff.Error : untracked.Error).Trim()}").ConfigureAwait(false);
            return null;
        }

        var files = Lines(diff.Output).Concat(Lines(untracked.Output))
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToImmutableArray();
        var names = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var current = Path.Combine(directory, file);
            if (File.Exists(current))
            {
                names.UnionWith(NamesIn(await File.ReadAllTextAsync(current, cancellationToken).ConfigureAwait(false), file));
            }

            // git show REF:./path is relative to the directory git runs in.
            var old = await GitAsync(directory, cancellationToken, "show", $"{gitRef}:./{file}").ConfigureAwait(false);
            if (old.Code == 0)
            {
                names.UnionWith(NamesIn(old.Output, file));
            }
        }

        return new ChangedPolicies(gitRef, files, names.ToImmutable());
    }

    /// <summary>The metadata names in a policy file, even an invalid one (the server reports its errors).</summary>
    private static IEnumerable<string> NamesIn(string yaml, string file)
    {
        var loaded = PolicyLoader.LoadText(yaml, file);
        return loaded.Policies.Policies.Select(p => p.Name).Where(n => n.Length > 0);
    }

    private static IEnumerable<string> Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<(int Code, string Output, string Error)> GitAsync(string directory, CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, "", $"cannot run git: {e.Message}");
        }
    }
}
