using System.Runtime.CompilerServices;
using Lifecycle.Cli.Commands;

namespace Lifecycle.Cli.Tests.Commands;

public class PlanAndSimulateCommandTests
{
    private static string Repository([CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", "..", ".."));

    private static string Examples => Path.Combine(Repository(), "policies");

    private static string ExampleInventory => Path.Combine(Repository(), "policies", "example-inventory.json");

    private static (int Code, string Out, string Err) Plan(string? policies, string? inventory, string? now = "2026-11-21T12:00:00Z", string output = "text")
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = PlanCommand.Run(policies, inventory, now, output, TimeProvider.System, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Plan_OnTheExamples_Succeeds_AndListsEveryPolicy()
    {
        var (code, output, error) = Plan(Examples, ExampleInventory);
        Assert.True(code == 0, error);
        foreach (var policy in new[] { "prod-critical", "databases", "development", "staging", "long-term-archive" })
        {
            Assert.Contains($"Policy {policy}:", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Plan_RejectsAnInvalidInventory_WithALocatedMessage_AndExitCode1()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "{\n  \"volumes\": [],\n  \"snapshots\": [ { \"id\": \"s\", \"volumeId\": \"v\", \"region\": \"r\", \"startTime\": \"2026-01-01T00:00:00Z\", \"colour\": 1 } ]\n}\n");
            var (code, _, error) = Plan(Examples, file);
            Assert.Equal(1, code);
            Assert.StartsWith($"{file}:3:", error, StringComparison.Ordinal);
            Assert.Contains("colour", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Plan_RejectsABadEnumValueInTheInventory_NamingItAndTheAllowedValues()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "{\n  \"snapshots\": [\n    { \"id\": \"s\", \"volumeId\": \"v\", \"region\": \"r\", \"startTime\": \"2026-01-01T00:00:00Z\", \"tier\": \"frozen\" }\n  ]\n}\n");
            var (code, _, error) = Plan(Examples, file);
            Assert.Equal(1, code);
            Assert.Equal($"{file}:3:95: error: snapshots[0].tier: 'frozen' is not one of standard, archive", error.TrimEnd());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Plan_PrintsPolicyDiagnostics_AndExits1_ForAnInvalidPolicy()
    {
        var directory = Directory.CreateTempSubdirectory("plan-invalid-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "bad.yaml"),
                "apiVersion: lifecycle/v1\nkind: SnapshotPolicy\nmetadata: { name: bad }\nspec:\n  regions: [eu-west-1]\n  targets: { tags: { a: b } }\n  schedules:\n    - name: s\n      every: 5h\n      retain: { count: 1 }\n");
            var (code, output, error) = Plan(directory.FullName, ExampleInventory);
            Assert.Equal(1, code);
            Assert.Equal(string.Empty, output);
            Assert.Contains("bad.yaml:9:", error, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(null, "x", "2026-11-21T12:00:00Z", "text")]
    [InlineData("policies", "x", "yesterday", "text")]
    [InlineData("policies", "x", "2026-11-21T12:00:00Z", "yaml")]
    [InlineData("/no/such/dir", "x", "2026-11-21T12:00:00Z", "text")]
    public void Plan_ReturnsUsageError2_ForBadArguments(string? policies, string inventory, string now, string output)
    {
        var (code, _, error) = Plan(policies is "policies" ? Examples : policies, inventory == "x" ? ExampleInventory : inventory, now, output);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_Json_CarriesTheFormatVersion()
    {
        var (code, output, _) = Plan(Examples, ExampleInventory, output: "json");
        Assert.Equal(0, code);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal("lifecycle-plan/v1", json.RootElement.GetProperty("format").GetString());
        Assert.True(json.RootElement.GetProperty("decisions").GetArrayLength() > 0);
    }

    [Fact]
    public void Simulate_OnTheExamples_ReportsEveryPolicyAndRegion()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = SimulateCommand.Run(new SimulateCommand.Arguments(Examples, ExampleInventory, "2026-11-21T12:00:00Z", 30, 1.0, null, 7, "json"), stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(stdout.ToString());
        Assert.Equal("lifecycle-simulation/v1", json.RootElement.GetProperty("format").GetString());
        var rows = json.RootElement.GetProperty("totals").EnumerateArray().Select(r => r.GetProperty("policy").GetString() + "/" + r.GetProperty("region").GetString()).ToList();
        Assert.Contains("prod-critical/eu-central-1", rows);
        Assert.Contains("databases/us-east-1", rows);
        Assert.Contains("long-term-archive/eu-west-1", rows);
        Assert.True(json.RootElement.GetProperty("monthlyCostAtEnd").GetDecimal() > 0);
    }

    [Fact]
    public void Simulate_RejectsAPricesFile_WithAnUnknownKey()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "{ \"standardPerGbMonth\": 0.05, \"glacier\": 1 }");
            var stderr = new StringWriter();
            var code = SimulateCommand.Run(new SimulateCommand.Arguments(Examples, ExampleInventory, "2026-11-21T12:00:00Z", 3, 1.0, file, 7, "text"), new StringWriter(), stderr);
            Assert.Equal(1, code);
            Assert.StartsWith(file + ":1:", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
