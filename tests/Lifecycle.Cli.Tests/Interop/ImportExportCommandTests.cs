using System.CommandLine;
using System.Text.Json.Nodes;
using Lifecycle.Cli.Commands;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>`lifecycle import dlm|backup-plan` and `lifecycle export dlm|backup-plan`: exit codes, outputs, located errors.</summary>
public sealed class ImportExportCommandTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-interop-cli-" + Guid.NewGuid().ToString("N")[..8]);

    public ImportExportCommandTests() => Directory.CreateDirectory(root);

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static string Corpus(string relative) => Path.Combine(InteropCorpus.Directory, relative);

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var command = new RootCommand { ImportCommand.Create(), ExportCommand.Create() };
        var code = await command.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Write(string name, string text)
    {
        var file = Path.Combine(root, name);
        File.WriteAllText(file, text);
        return file;
    }

    [Fact]
    public async Task ImportDlm_WithoutOutput_PrintsEveryPolicyOnStdout_AsOneValidPolicyStream()
    {
        var (code, output, error) = await RunAsync("import", "dlm", Corpus("dlm/cli-get-lifecycle-policy.json"), Corpus("dlm/tf-basic.json"), "--region", "eu-west-1");
        Assert.True(code == 0, error);
        Assert.Contains("---\n", output, StringComparison.Ordinal);
        var loaded = PolicyLoader.LoadText(output, "stdout.yaml");
        Assert.False(loaded.HasErrors, string.Join('\n', loaded.Diagnostics));
        Assert.Equal(["cli-get-lifecycle-policy", "tf-basic"], loaded.Policies.Policies.Select(p => p.Name));
        Assert.All(loaded.Policies.Policies, p => Assert.Equal(["eu-west-1"], p.Regions.ToArray()));
        Assert.Contains("import: 2 policies imported, 0 warnings", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportDlm_WithOutputDirectory_WritesOneFilePerPolicy_ThatValidate()
    {
        var output = Path.Combine(root, "imported");
        var files = new[] { "cfn-basic-policy.json", "cfn-instance-policy-exclusions.json", "userguide-snapshot-archiving.json", "userguide-cross-account-share.json" };
        var (code, stdout, error) = await RunAsync(["import", "dlm", .. files.Select(f => Corpus("dlm/" + f)), "-o", output]);
        Assert.True(code == 0, error);
        Assert.Empty(stdout);
        Assert.Equal(files.Select(f => Path.GetFileNameWithoutExtension(f) + ".yaml").Order(StringComparer.Ordinal),
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("$.Schedules[0].ShareRules: warning: ShareRules has no counterpart", error, StringComparison.Ordinal);
        Assert.Contains("$: warning: a DLM policy document names no region", error, StringComparison.Ordinal);
        Assert.Equal(ValidateCommand.Valid, ValidateCommand.Run([output], "text", new StringWriter(), new StringWriter()));
    }

    [Fact]
    public async Task ImportDlm_Strict_MakesAWarningAnError_AndWritesNothing()
    {
        var output = Path.Combine(root, "strict");
        var (code, _, error) = await RunAsync("import", "dlm", Corpus("dlm/userguide-cross-account-share.json"), "--region", "us-east-1", "--strict", "-o", output);
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains("$.Schedules[0].ShareRules: error: ShareRules has no counterpart in Lifecycle policies; not imported (--strict)", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));

        var clean = await RunAsync("import", "dlm", Corpus("dlm/cli-get-lifecycle-policy.json"), "--region", "us-east-1", "--strict");
        Assert.Equal(ImportCommand.Imported, clean.Code);
    }

    [Theory]
    [InlineData("\"Interval\": 24", "\"Interval\": 5", "$.Policy.PolicyDetails.Schedules[0].CreateRule.Interval: error: 5 is not a DLM interval")]
    [InlineData("\"Count\": 5", "\"Count\": \"five\"", "$.Policy.PolicyDetails.Schedules[0].RetainRule.Count: error: expected a whole number, got the string 'five'")]
    [InlineData("\"IntervalUnit\": \"HOURS\"", "\"IntervalUnit\": \"DAYS\"", "$.Policy.PolicyDetails.Schedules[0].CreateRule.IntervalUnit: error: 'DAYS' is not HOURS")]
    [InlineData("\"VOLUME\"", "\"BUCKET\"", "$.Policy.PolicyDetails.ResourceTypes[0]: error: 'BUCKET' is not one of VOLUME, INSTANCE")]
    [InlineData("\"Schedules\": [", "\"Schedules\": 7, \"X\": [", "$.Policy.PolicyDetails.Schedules: error: expected an array, got the number 7")]
    [InlineData("\"Count\": 5", "\"Count\": 5,,", "$.Policy.PolicyDetails.Schedules[0].RetainRule.Count: error: not valid JSON at line 38, column 32: ',' is an invalid start of a property name. Expected a '\"'.\n")]
    public async Task ImportDlm_InvalidInput_IsAnErrorNamingItsJsonPath_NeverAStackTrace(string from, string to, string expected)
    {
        var text = File.ReadAllText(Corpus("dlm/cli-get-lifecycle-policy.json"));
        Assert.Contains(from, text, StringComparison.Ordinal);
        var file = Write("broken.json", text.Replace(from, to, StringComparison.Ordinal));
        var (code, output, error) = await RunAsync("import", "dlm", file);
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Empty(output);
        Assert.Contains($"{file}: {expected}", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Contains("nothing written", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"TargetRegion\": \"us-west-1\"", "\"TargetRegion\": \"US West\"", "$.Schedules[0].CrossRegionCopyRules[0].TargetRegion: error: 'US West' is not a region name")]
    [InlineData("\"us-east-1b\"", "\"Zone B\"", "$.Schedules[0].FastRestoreRule.AvailabilityZones[1]: error: 'Zone B' is not a zone name")]
    public async Task ImportDlm_ANameThePolicyLanguageRefuses_IsAnInputErrorAtItsPath(string from, string to, string expected)
    {
        var text = File.ReadAllText(Corpus("dlm/userguide-snapshot-policy-fsr-copy.json"));
        Assert.Contains(from, text, StringComparison.Ordinal);
        var (code, _, error) = await RunAsync("import", "dlm", Write("names.json", text.Replace(from, to, StringComparison.Ordinal)));
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("please report", error, StringComparison.Ordinal);

        var region = await RunAsync("import", "dlm", Corpus("dlm/tf-basic.json"), "--region", "EU");
        Assert.Equal(ImportCommand.UsageError, region.Code);
    }

    [Fact]
    public async Task Import_AnOutputThatCannotBeWritten_IsAnError_NotAStackTrace()
    {
        var blocker = Write("file-not-dir", "x");
        var (code, _, error) = await RunAsync("import", "dlm", Corpus("dlm/tf-basic.json"), "-o", Path.Combine(blocker, "sub"));
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains("cannot write", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1, 2]", "$: error: expected a JSON object (a DLM policy), got an array")]
    [InlineData("{\"Hello\": 1}", "$: error: not a DLM policy")]
    [InlineData("{\"a\": 1, \"a\": 2}", "error: not valid JSON")]
    [InlineData("", "$: error: not valid JSON")]
    public async Task ImportDlm_UnreadableInput_ExitsOne(string text, string expected)
    {
        var file = Write("odd.json", text);
        var (code, _, error) = await RunAsync("import", "dlm", file);
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportDlm_RefusesAFileOver10MiB_AndAMissingFile()
    {
        var big = Path.Combine(root, "big.json");
        using (var stream = File.Create(big))
        {
            stream.SetLength(10 * 1024 * 1024 + 1);
        }

        var (code, _, error) = await RunAsync("import", "dlm", big);
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains("input files are limited to 10485760 bytes (10 MiB)", error, StringComparison.Ordinal);

        var missing = await RunAsync("import", "dlm", Path.Combine(root, "nope.json"));
        Assert.Equal(ImportCommand.Failed, missing.Code);
        Assert.Contains("$: error: cannot read the file", missing.Err, StringComparison.Ordinal);

        var none = await RunAsync("import", "dlm");
        Assert.Equal(ImportCommand.UsageError, none.Code);

        var mistyped = await RunAsync("import", "dlm", Corpus("dlm/tf-basic.json"), "--regoin", "eu-west-1");
        Assert.Equal(ImportCommand.UsageError, mistyped.Code);
        Assert.Contains("unknown option '--regoin'", mistyped.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportDlm_WritesOneCreateLifecyclePolicyInputPerPolicy_WithTheRole_OrAPlaceholderAndAWarning()
    {
        var policies = Path.Combine(Deploy.DeployFiles.Root, "policies");
        var output = Path.Combine(root, "dlm");
        var (code, stdout, error) = await RunAsync("export", "dlm", "--policies", policies, "-o", output, "--execution-role-arn", InteropCorpus.Role);
        Assert.True(code == 0, error);
        Assert.Empty(stdout);
        var names = PolicyLoader.Load([policies]).Policies.Policies.Select(p => p.Name + ".json").Order(StringComparer.Ordinal);
        Assert.Equal(names, Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var document = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "databases.json")))!;
        Assert.Equal(InteropCorpus.Role, document["ExecutionRoleArn"]!.ToString());
        Assert.Contains($"policies{Path.DirectorySeparatorChar}databases.yaml: spec.hooks: warning: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("REPLACE-WITH", error, StringComparison.Ordinal);

        var toStdout = await RunAsync("export", "dlm", "--policies", Path.Combine(policies, "development.yaml"));
        Assert.Equal(ExportCommand.Exported, toStdout.Code);
        Assert.Contains("spec: warning: no --execution-role-arn given", toStdout.Err, StringComparison.Ordinal);
        Assert.Equal(Lifecycle.Policies.Interop.DlmExporter.RolePlaceholder, JsonNode.Parse(toStdout.Out)!["ExecutionRoleArn"]!.ToString());

        var strict = await RunAsync("export", "dlm", "--policies", policies, "--strict", "-o", Path.Combine(root, "strict"));
        Assert.Equal(ExportCommand.Failed, strict.Code);
        Assert.False(Directory.Exists(Path.Combine(root, "strict")));
    }

    [Fact]
    public async Task Export_RefusesInvalidPolicies_AndNeedsPolicies()
    {
        var invalid = Write("bad.yaml", "apiVersion: lifecycle/v1\nkind: SnapshotPolicy\nmetadata: { name: x }\nspec: { regions: [eu-west-1] }\n");
        var (code, _, error) = await RunAsync("export", "backup-plan", "--policies", invalid);
        Assert.Equal(ExportCommand.Failed, code);
        Assert.Contains("bad.yaml:4:", error, StringComparison.Ordinal);

        Assert.Equal(ExportCommand.UsageError, (await RunAsync("export", "dlm")).Code);
        Assert.Equal(ExportCommand.UsageError, (await RunAsync("export", "dlm", "--policies", Path.Combine(root, "none"))).Code);
    }

    [Fact]
    public async Task BackupPlan_ExportThenImport_GivesThePolicyBack()
    {
        var output = Path.Combine(root, "backup");
        var policy = Path.Combine(Deploy.DeployFiles.Root, "policies", "long-term-archive.yaml");
        var (code, _, error) = await RunAsync("export", "backup-plan", "--policies", policy, "-o", output, "--iam-role-arn", "arn:aws:iam::123456789012:role/backup", "--account-id", "123456789012");
        Assert.True(code == 0, error);
        Assert.Equal(["long-term-archive.plan.json", "long-term-archive.selection.json"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("spec.schedules[0].archive.after.count: warning: ", error, StringComparison.Ordinal);
        Assert.Contains("spec.schedules[0].retain.count: warning: ", error, StringComparison.Ordinal);

        var imported = await RunAsync("import", "backup-plan", Path.Combine(output, "long-term-archive.plan.json"), Path.Combine(output, "long-term-archive.selection.json"), "--region", "eu-west-1");
        Assert.True(imported.Code == 0, imported.Err);
        var policyBack = Assert.Single(PolicyLoader.LoadText(imported.Out, "back.yaml").Policies.Policies);
        Assert.Equal("long-term-archive", policyBack.Name);
        Assert.Equal(["long-term"], policyBack.Targets.Tags["retention"].ToArray());
        Assert.Equal("0 4 1 * *", Assert.IsType<Lifecycle.Core.Policies.CronTrigger>(policyBack.Schedules[0].Trigger).Expression);
    }

    [Fact]
    public async Task ImportBackupPlan_NeedsAPlan_AndNamesTheJsonPathOfABadOne()
    {
        Assert.Equal(ImportCommand.UsageError, (await RunAsync("import", "backup-plan")).Code);
        var plan = Write("bad.plan.json", "{\"BackupPlan\": {\"BackupPlanName\": \"p\", \"Rules\": [{\"RuleName\": \"r\", \"Lifecycle\": {\"DeleteAfterDays\": -3}}]}}");
        var (code, _, error) = await RunAsync("import", "backup-plan", plan);
        Assert.Equal(ImportCommand.Failed, code);
        Assert.Contains("$.BackupPlan.Rules[0].Lifecycle.DeleteAfterDays: error: -3 is out of range", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_DescribesTheOptionsTheCodeHas()
    {
        var import = await RunAsync("import", "dlm", "--help");
        foreach (var option in new[] { "--output", "--strict", "--region", "get-lifecycle-policy", "PolicyDetails" })
        {
            Assert.Contains(option, import.Out, StringComparison.Ordinal);
        }

        var export = await RunAsync("export", "backup-plan", "--help");
        foreach (var option in new[] { "--policies", "--output", "--iam-role-arn", "--account-id", "--strict", "NAME.plan.json" })
        {
            Assert.Contains(option, export.Out, StringComparison.Ordinal);
        }
    }
}
