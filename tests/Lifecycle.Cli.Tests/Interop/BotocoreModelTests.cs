using System.Diagnostics;
using System.Text.Json.Nodes;
using Lifecycle.Cli.Commands;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>
/// Every export (of the corpus imports and of the example policies) checked against the service models AWS's own
/// SDK ships: botocore's ParamValidator with dlm CreateLifecyclePolicy and backup CreateBackupPlan /
/// CreateBackupSelection input shapes (Debian's python3-botocore, tests/dependencies.txt). One Python process
/// checks every file; broken documents go in the same run, so the check cannot pass by checking nothing.
/// </summary>
public sealed class BotocoreModelTests : IClassFixture<BotocoreModelTests.Validation>
{
    private const string Python = "/usr/bin/python3";
    private const string BotocoreModels = "/usr/lib/python3/dist-packages/botocore/data";

    private readonly Validation validation;

    public BotocoreModelTests(Validation validation) => this.validation = validation;

    [Fact]
    public void EveryExport_IsAValidApiInput_ForBotocore()
    {
        Assert.True(validation.Exports.Count >= 40, $"{validation.Exports.Count} exported documents");
        Assert.Contains(validation.Exports, e => e.Operation == "CreateLifecyclePolicy");
        Assert.Contains(validation.Exports, e => e.Operation == "CreateBackupPlan");
        Assert.Contains(validation.Exports, e => e.Operation == "CreateBackupSelection");
        var failures = validation.Exports
            .Where(e => validation.Errors[e.File].Count > 0)
            .Select(e => $"{Path.GetFileName(e.File)} ({e.Operation}):\n  {string.Join("\n  ", validation.Errors[e.File])}")
            .ToList();
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.StartsWith("1.", validation.BotocoreVersion, StringComparison.Ordinal);
    }

    [Fact]
    public void TheValidator_CatchesBrokenDocuments()
    {
        foreach (var (file, expected) in validation.Broken)
        {
            Assert.Contains(validation.Errors[file], e => e.Contains(expected, StringComparison.Ordinal));
        }
    }

    /// <summary>Exports everything to a temporary directory and runs the Python validator once over all of it.</summary>
    public sealed class Validation : IDisposable
    {
        private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-botocore-" + Guid.NewGuid().ToString("N")[..8]);

        public Validation()
        {
            Directory.CreateDirectory(root);
            var policies = new List<SnapshotPolicy>(PolicyLoader.Load([Path.Combine(Deploy.DeployFiles.Root, "policies")]).Policies.Policies);
            foreach (var file in InteropCorpus.DlmFiles())
            {
                if (DlmImporter.ImportFile(file, InteropCorpus.Region) is { Succeeded: true } imported)
                {
                    policies.Add(Load(imported));
                }
            }

            foreach (var (planFile, selectionFile) in InteropCorpus.BackupPlans())
            {
                policies.Add(Load(BackupPlanImporter.ImportFiles(planFile, selectionFile, InteropCorpus.Region)));
            }

            foreach (var policy in policies)
            {
                Write("dlm", "CreateLifecyclePolicy", "dlm-" + policy.Name + ".json", DlmExporter.Export(policy).Documents.Values.Single());
                var backup = BackupPlanExporter.Export(policy);
                Write("backup", "CreateBackupPlan", "backup-" + policy.Name + ".plan.json", backup.Documents[policy.Name + ".plan.json"]);
                Write("backup", "CreateBackupSelection", "backup-" + policy.Name + ".selection.json", backup.Documents[policy.Name + ".selection.json"]);
            }

            // Broken on purpose: what the validator must catch (a wrong type, a missing required member, an unknown member).
            var dlm = DlmExporter.Export(policies[0]).Documents.Values.Single();
            dlm["PolicyDetails"]!["Schedules"]![0]!["RetainRule"]!["Count"] = "five";
            dlm.Remove("ExecutionRoleArn");
            Broken.Add((WriteRaw("dlm", "CreateLifecyclePolicy", "broken-dlm.json", dlm), "Missing required parameter in input: \"ExecutionRoleArn\""));
            Broken.Add((Broken[^1].File, "Invalid type for parameter PolicyDetails.Schedules[0].RetainRule.Count"));
            var plan = BackupPlanExporter.Export(policies[0]).Documents[policies[0].Name + ".plan.json"];
            plan["BackupPlan"]!["Rules"]![0]!["Retention"] = 7;
            Broken.Add((WriteRaw("backup", "CreateBackupPlan", "broken.plan.json", plan), "Unknown parameter in BackupPlan.Rules[0]: \"Retention\""));

            var arguments = Inputs.Select(i => $"{i.Service}:{i.Operation}:{i.File}").ToList();
            var (version, errors) = Run(arguments);
            BotocoreVersion = version;
            Errors = errors;
        }

        public List<(string Operation, string File)> Exports { get; } = [];

        public List<(string File, string Expected)> Broken { get; } = [];

        public string BotocoreVersion { get; }

        public Dictionary<string, List<string>> Errors { get; }

        private List<(string Service, string Operation, string File)> Inputs { get; } = [];

        public void Dispose() => Directory.Delete(root, recursive: true);

        private static SnapshotPolicy Load(InteropImport imported)
        {
            Assert.True(imported.Succeeded, string.Join('\n', imported.Diagnostics));
            var loaded = PolicyLoader.LoadText(imported.Yaml!, imported.Name + ".yaml");
            Assert.False(loaded.HasErrors);
            return loaded.Policies.Policies.Single();
        }

        private void Write(string service, string operation, string name, JsonObject document)
        {
            var file = WriteRaw(service, operation, name, document);
            Exports.Add((operation, file));
        }

        private string WriteRaw(string service, string operation, string name, JsonObject document)
        {
            var file = Path.Combine(root, name);
            File.WriteAllText(file, ExportCommand.ToText(document));
            Inputs.Add((service, operation, file));
            return file;
        }

        private static (string Version, Dictionary<string, List<string>> Errors) Run(IEnumerable<string> arguments)
        {
            // Never skipped: a machine without python3-botocore fails here, with the package to install.
            Assert.True(File.Exists(Python) && Directory.Exists(Path.Combine(BotocoreModels, "dlm")) && Directory.Exists(Path.Combine(BotocoreModels, "backup")),
                $"{Python} with {BotocoreModels}/dlm and /backup is needed: apt-get install python3-botocore (tests/dependencies.txt)");
            var script = Path.Combine(Deploy.DeployFiles.Root, "tests", "Lifecycle.Cli.Tests", "Interop", "botocore_validate.py");
            var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-I"); // isolated: no user site-packages, no PYTHON* variables
            start.ArgumentList.Add(script);
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "the botocore validator did not finish in 60 s");
            Assert.True(process.ExitCode == 0, $"botocore_validate.py exited {process.ExitCode}: {stderr.Result}");
            var result = JsonNode.Parse(stdout)!;
            var errors = result["results"]!.AsObject().ToDictionary(
                e => e.Key,
                e => e.Value!.AsArray().Select(line => line!.ToString()).ToList(),
                StringComparer.Ordinal);
            return (result["botocore"]!.ToString(), errors);
        }
    }
}
