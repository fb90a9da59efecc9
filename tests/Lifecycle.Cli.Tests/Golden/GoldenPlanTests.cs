using System.Runtime.CompilerServices;
using Lifecycle.Cli.Commands;
using Lifecycle.Testing.Approval;

namespace Lifecycle.Cli.Tests.Golden;

/// <summary>
/// Each folder under Golden/scenarios holds policies/*.yaml, inventory.json and now (an ISO 8601 instant); the real
/// <c>plan</c> command runs on it in-process and its text and JSON outputs must equal the reviewed approved files.
/// </summary>
public class GoldenPlanTests
{
    private static string ScenariosDirectory([CallerFilePath] string source = "") => Path.Combine(Path.GetDirectoryName(source)!, "scenarios");

    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (var directory in Directory.GetDirectories(ScenariosDirectory()).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(directory));
        }

        return data;
    }

    [Fact]
    public void TheGoldenSet_HasAtLeastFifteenScenarios() => Assert.True(Scenarios().Count >= 15);

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Plan_Text_MatchesTheApprovedOutput(string scenario) => Check(scenario, "text", "plan.approved.txt");

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Plan_Json_MatchesTheApprovedOutput(string scenario) => Check(scenario, "json", "plan.approved.json");

    private static void Check(string scenario, string output, string approvedName)
    {
        var directory = Path.Combine(ScenariosDirectory(), scenario);
        var now = File.ReadAllText(Path.Combine(directory, "now")).Trim();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = PlanCommand.Run(Path.Combine(directory, "policies"), Path.Combine(directory, "inventory.json"), now, output,
            TimeProvider.System, stdout, stderr);
        Assert.True(code == 0, $"plan exited {code}: {stderr}");
        Approver.Verify(stdout.ToString(), Path.Combine(directory, approvedName));
    }
}
