using System.Diagnostics;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>A throwaway PostgreSQL on loopback, started and stopped with tests/postgres.sh. A missing PostgreSQL fails loudly.</summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string directory;

    private PostgresServer(string directory, string url)
    {
        this.directory = directory;
        Url = url;
    }

    /// <summary>postgres://postgres@127.0.0.1:PORT/lifecycle</summary>
    public string Url { get; }

    public static PostgresServer Start()
    {
        var directory = Path.Combine(Path.GetTempPath(), "lifecycle-pg-" + Guid.NewGuid().ToString("N")[..12]);
        var url = Script("start", directory).Trim();
        if (!url.StartsWith("postgres://", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"tests/postgres.sh start printed '{url}'");
        }

        return new PostgresServer(directory, url);
    }

    public void Dispose() => Script("stop", directory);

    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Lifecycle.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("cannot find the repository root (Lifecycle.sln) above " + AppContext.BaseDirectory);
        }
    }

    private static string Script(string command, string directory)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot, "tests", "postgres.sh"));
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(directory);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"tests/postgres.sh {command} failed ({process.ExitCode}): {error}{output}");
        }

        return output;
    }
}
