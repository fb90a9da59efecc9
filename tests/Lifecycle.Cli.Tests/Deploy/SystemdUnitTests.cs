using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>
/// deploy/systemd/lifecycle.service through <c>systemd-analyze</c> (package <c>systemd</c>, in tests/dependencies.txt):
/// <c>verify</c> must print nothing at all (an unknown or misspelled directive is a warning there, which fails this),
/// and <c>security --offline</c> must rate it well hardened. A missing systemd-analyze fails, never skips.
/// </summary>
public sealed partial class SystemdUnitTests
{
    private const string UnitPath = "deploy/systemd/lifecycle.service";

    [Fact]
    public void SystemdAnalyzeVerify_AcceptsTheUnit_WithoutAWarning()
    {
        var (exitCode, output) = SystemdAnalyze("verify", UnitForThisMachine(DeployFiles.Read(UnitPath)));

        Assert.True(exitCode == 0 && output.Length == 0, $"systemd-analyze verify: exit {exitCode}\n{output}");
    }

    [Fact]
    public void SystemdAnalyzeVerify_ReportsAMisspelledDirective()
    {
        var unit = DeployFiles.Read(UnitPath).Replace("NoNewPrivileges=yes", "NoNewPrivilege=yes", StringComparison.Ordinal);

        var (_, output) = SystemdAnalyze("verify", UnitForThisMachine(unit));

        Assert.Contains("Unknown key 'NoNewPrivilege'", output, StringComparison.Ordinal);
    }

    [Fact]
    public void SystemdAnalyzeSecurity_RatesTheUnitOK()
    {
        var (exitCode, output) = SystemdAnalyze("security --offline=yes", UnitForThisMachine(DeployFiles.Read(UnitPath)));

        Assert.Equal(0, exitCode);
        var level = ExposureLevel().Match(output);
        Assert.True(level.Success, output);
        var exposure = double.Parse(level.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(exposure <= 2.0, $"exposure {exposure} (0 is the best, 10 the worst):\n{output}");
    }

    [Fact]
    public void Unit_SetsTheHardeningOptions_AndLeavesWriteExecuteMemoryToTheJit()
    {
        var directives = Directives(DeployFiles.Read(UnitPath));

        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["NoNewPrivileges"] = "yes",
            ["ProtectSystem"] = "strict",
            ["ProtectHome"] = "yes",
            ["PrivateTmp"] = "yes",
            ["PrivateDevices"] = "yes",
            ["ProtectKernelTunables"] = "yes",
            ["ProtectKernelModules"] = "yes",
            ["ProtectKernelLogs"] = "yes",
            ["ProtectControlGroups"] = "yes",
            ["RestrictAddressFamilies"] = "AF_UNIX AF_INET AF_INET6",
            ["CapabilityBoundingSet"] = "",
            ["LockPersonality"] = "yes",
            ["RestrictSUIDSGID"] = "yes",
            ["RestrictNamespaces"] = "yes",
            ["SystemCallArchitectures"] = "native",
        })
        {
            Assert.True(directives.Contains((key, value)), $"{key}={value} is not set");
        }

        Assert.Contains(("SystemCallFilter", "@system-service"), directives);
        // The .NET JIT writes code and then executes it: MemoryDenyWriteExecute=yes would stop the runtime.
        Assert.DoesNotContain(directives, d => d.Key == "MemoryDenyWriteExecute");
        Assert.Contains("MemoryDenyWriteExecute= is deliberately NOT set", DeployFiles.Read(UnitPath), StringComparison.Ordinal);
        Assert.Contains(("User", "lifecycle"), directives);
    }

    [Fact]
    public void ExecStart_IsARealServeCommandLine_WithItsDataInTheStateDirectory()
    {
        var directives = Directives(DeployFiles.Read(UnitPath));
        var words = directives.Single(d => d.Key == "ExecStart").Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(["/usr/bin/dotnet", "/opt/lifecycle/lifecycle.dll", "serve"], words[..3]);
        var args = words[3..];
        Assert.Empty(DeployFiles.ServeParseErrors(args));
        Assert.Equal($"/var/lib/{directives.Single(d => d.Key == "StateDirectory").Value}", DeployFiles.OptionValue(args, "--data"));
        Assert.Equal("http://127.0.0.1:5080", DeployFiles.OptionValue(args, "--urls"));
    }

    /// <summary>
    /// The unit as this machine can check it: verify insists that ExecStart's program exists, so where dotnet is not
    /// /usr/bin/dotnet (a CI image with the SDK elsewhere) the path is replaced by the dotnet running these tests.
    /// Nothing else changes (the lifecycle user and /opt/lifecycle are not checked by verify).
    /// </summary>
    private static string UnitForThisMachine(string unit)
    {
        if (File.Exists("/usr/bin/dotnet"))
        {
            return unit;
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists)
              ?? throw new InvalidOperationException("no dotnet on PATH to stand in for /usr/bin/dotnet");
        return unit.Replace("ExecStart=/usr/bin/dotnet ", $"ExecStart={dotnet} ", StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output) SystemdAnalyze(string verb, string unit)
    {
        const string tool = "/usr/bin/systemd-analyze";
        if (!File.Exists(tool))
        {
            Assert.Fail($"{tool} is missing: install the Debian package 'systemd' (tests/dependencies.txt; tests/run.sh does it)");
        }

        var directory = Directory.CreateTempSubdirectory("lifecycle-unit-");
        try
        {
            // verify and security name the unit by its file name.
            var file = Path.Combine(directory.FullName, "lifecycle.service");
            File.WriteAllText(file, unit);
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var word in verb.Split(' '))
            {
                start.ArgumentList.Add(word);
            }

            start.ArgumentList.Add(file);
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(60_000))
            {
                process.Kill();
                Assert.Fail($"systemd-analyze {verb} did not finish in 60 s");
            }

            return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The unit's <c>Key=Value</c> lines (comments and sections left out).</summary>
    private static List<(string Key, string Value)> Directives(string unit) =>
    [
        .. unit.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && l[0] is not ('#' or ';' or '[') && l.Contains('=', StringComparison.Ordinal))
            .Select(l => (l[..l.IndexOf('=', StringComparison.Ordinal)], l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..])),
    ];

    [GeneratedRegex(@"Overall exposure level for lifecycle\.service: ([0-9.]+)")]
    private static partial Regex ExposureLevel();
}
