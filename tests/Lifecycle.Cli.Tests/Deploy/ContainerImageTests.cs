using System.Text.Json;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>deploy/container/Dockerfile: a non-root runtime that starts without a shell, with the directories compose mounts volumes on.</summary>
public sealed class ContainerImageTests
{
    private static readonly List<string> Instructions = RuntimeStage(DeployFiles.Read("deploy/container/Dockerfile"));

    [Fact]
    public void Image_RunsAsANumericNonRootUser()
    {
        var user = Instructions.Last(i => i.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();

        var (uid, gid) = (user.Split(':')[0], user.Split(':').ElementAtOrDefault(1));
        Assert.True(int.TryParse(uid, out var id) && id > 0, $"USER {user}: a numeric uid other than 0 (runAsNonRoot can check only a number)");
        Assert.True(gid is null || int.TryParse(gid, out var group) && group > 0, $"USER {user}");
    }

    [Fact]
    public void Image_StartsDotnetDirectly_AndItsCommandIsARealServeCommandLine()
    {
        var entrypoint = ExecForm("ENTRYPOINT");
        var command = ExecForm("CMD");

        Assert.Equal(["dotnet", "/opt/lifecycle/lifecycle.dll"], entrypoint);
        Assert.Equal("serve", command[0]);
        Assert.Empty(DeployFiles.ServeParseErrors(command[1..]));
    }

    [Fact]
    public void EveryWritableVolumeTargetOfTheComposeFile_IsCreatedAndOwnedByTheUserInTheImage()
    {
        // A new named volume takes the owner of the directory it is mounted on, when the image has one.
        var compose = DeployFiles.Yaml(DeployFiles.Read("deploy/compose/compose.yaml"))!;
        var declared = compose["volumes"]!.AsObject().Select(v => v.Key).ToHashSet();
        var targets = compose["services"]!.AsObject()
            .Where(s => (string?)s.Value!["image"] == "lifecycle:dev")
            .SelectMany(s => s.Value!["volumes"]!.AsArray().Select(v => ((string)v!).Split(':')))
            .Where(parts => declared.Contains(parts[0]) && !(parts.Length > 2 && parts[2] == "ro"))
            .Select(parts => parts[1])
            .ToHashSet();
        var run = string.Join('\n', Instructions.Where(i => i.StartsWith("RUN ", StringComparison.Ordinal)));
        var chown = run.Split("chown", 2)[1].Split('&')[0];

        Assert.NotEmpty(targets);
        foreach (var target in targets)
        {
            Assert.Contains($" {target} ", run.Split("mkdir -p", 2)[1].Split('&')[0] + " ", StringComparison.Ordinal);
            Assert.Contains($" {target} ", chown + " ", StringComparison.Ordinal);
        }
    }

    private static List<string> ExecForm(string instruction)
    {
        var line = Instructions.Last(i => i.StartsWith(instruction + " ", StringComparison.Ordinal))[(instruction.Length + 1)..].Trim();
        Assert.True(line.StartsWith('['), $"{instruction} {line}: the exec form (a JSON array) runs no shell");
        return [.. JsonSerializer.Deserialize<string[]>(line)!];
    }

    /// <summary>The instructions after the last FROM, with continuation lines joined.</summary>
    private static List<string> RuntimeStage(string dockerfile)
    {
        var joined = dockerfile.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToList();
        return joined[(joined.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal)) + 1)..];
    }
}
