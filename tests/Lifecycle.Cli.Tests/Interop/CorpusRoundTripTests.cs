using System.Text.Json;
using System.Text.Json.Nodes;
using Lifecycle.Cli.Commands;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>
/// Every corpus document: import → the validator accepts it → export → the export says the same as the original for
/// every mapped field (facts compared semantically, leaving out what a warning named) → importing the export gives
/// the same policy file. Each unsupported construct's warning names its JSON path.
/// </summary>
public sealed class CorpusRoundTripTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-interop-" + Guid.NewGuid().ToString("N")[..8]);

    public CorpusRoundTripTests() => Directory.CreateDirectory(root);

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>The JSON paths each DLM document must be warned about (and no others), with --region us-east-1.</summary>
    private static readonly Dictionary<string, string[]> DlmWarnings = new(StringComparer.Ordinal)
    {
        ["cfn-basic-policy.json"] = ["$.PolicyDetails.Schedules[0].CrossRegionCopyRules[0]", "$.PolicyDetails.Schedules[0].CrossRegionCopyRules[0].RetainRule"], // a copy into us-east-1 itself, with no retention of its own
        ["cfn-cross-region-copy.json"] = ["$.PolicyDetails.Schedules[0].CrossRegionCopyRules[0]"], // a copy into us-east-1 itself
        ["cfn-instance-policy-exclusions.json"] = [],
        ["cli-create-default-policy.json"] = ["$.DefaultPolicy", "$.ExtendDeletion", "$.Exclusions.ExcludeVolumeTypes"],
        ["cli-create-lifecycle-policy.json"] = [],
        ["cli-get-lifecycle-policy.json"] = [],
        ["cli-update-lifecycle-policy.json"] = [], // a partial PolicyDetails (TargetTags only) for update-lifecycle-policy: not a policy
        ["tf-basic.json"] = [],
        ["tf-cross-region-copy.json"] = [],
        ["tf-default-policy.json"] = ["$.DefaultPolicy", "$.PolicyDetails.Exclusions.ExcludeVolumeTypes"],
        ["tf-event-based.json"] = ["$.PolicyDetails.PolicyType", "$.PolicyDetails.Actions", "$.PolicyDetails.EventSource"],
        ["userguide-ami-policy-copy.json"] = ["$.PolicyType", "$.Schedules[0].DeprecateRule", "$.Schedules[0].CrossRegionCopyRules[0]", "$.Schedules[0].CrossRegionCopyRules[0].DeprecateRule"], // the copy goes to us-east-1 itself
        ["userguide-ami-policy.json"] = ["$.PolicyType", "$.Schedules[0].DeprecateRule"],
        ["userguide-copy-to-outpost.json"] = ["$.Schedules[0].CrossRegionCopyRules[0]"], // a copy to an Outpost; as published, ResourceTypes and ResourceLocations are strings, not lists (errors at their paths)
        ["userguide-cross-account-copy-event.json"] = ["$.PolicyType", "$.EventSource", "$.Actions"],
        ["userguide-cross-account-share.json"] = ["$.Schedules[0].ShareRules"],
        ["userguide-get-lifecycle-policy.json"] = [],
        ["userguide-instance-exclude-data-volumes.json"] = [],
        ["userguide-outpost-local-snapshots.json"] = [], // as published: ResourceTypes and ResourceLocations are strings and CreateRule.Location a list (errors at their paths)
        ["userguide-pre-post-scripts-ssm.json"] = ["$.Schedules[0].CreateRule.Scripts[0]"],
        ["userguide-snapshot-archiving-count.json"] = ["$.Schedules[0].RetainRule.Count"], // Count 0: archive as soon as created
        ["userguide-snapshot-archiving.json"] = [],
        ["userguide-snapshot-policy-fsr-copy.json"] = [],
        ["userguide-snapshot-two-schedules.json"] = [],
        ["userguide-update-policy.json"] = [],
        ["userguide-vss-backup.json"] = ["$.Schedules[0].CreateRule.Scripts[0]"],
    };

    /// <summary>
    /// Documents that cannot become a policy at all, with the JSON paths of their errors: no schedule (event-based
    /// policies, a partial update), or members of the wrong type as the page publishes them (which DLM refuses too).
    /// </summary>
    private static readonly Dictionary<string, string[]> NotImportable = new(StringComparer.Ordinal)
    {
        ["cli-update-lifecycle-policy.json"] = ["$"],
        ["tf-event-based.json"] = ["$.PolicyDetails"],
        ["userguide-copy-to-outpost.json"] = ["$.ResourceTypes", "$.ResourceLocations"],
        ["userguide-cross-account-copy-event.json"] = ["$"],
        ["userguide-outpost-local-snapshots.json"] = ["$.ResourceTypes", "$.ResourceLocations", "$.Schedules[0].CreateRule.Location"],
    };

    /// <summary>
    /// What the export of an import cannot say, per document: the policy field the export warns about, and the DLM
    /// facts that warning excuses. Every other document exports without a warning.
    /// </summary>
    private static readonly Dictionary<string, (string Warned, string Fact)[]> DlmExportWarnings = new(StringComparer.Ordinal)
    {
        // A default policy's exclusion tags became exclude.tags of a volume policy, which DLM has only for instances.
        ["cli-create-default-policy.json"] = [("spec.targets.exclude.tags", "Parameters.ExcludeDataVolumeTags")],
        ["tf-default-policy.json"] = [("spec.targets.exclude.tags", "Parameters.ExcludeDataVolumeTags"), ("spec.schedules[0].every", "Schedules[0].CreateRule.Interval")],
    };

    private static readonly Dictionary<string, string[]> BackupWarnings = new(StringComparer.Ordinal)
    {
        ["cfn-daily-weekly-monthly"] = [],
        ["cli-create-backup-plan"] = ["$", "$.BackupPlan.Rules[0].StartWindowMinutes"],
        ["cli-get-backup-plan"] = ["$", "$.BackupPlan.Rules[0].StartWindowMinutes", "$.BackupPlan.Rules[0].CompletionWindowMinutes"],
        ["cli-get-backup-plan-from-template"] = ["$", "$.BackupPlanDocument", "$.BackupPlanDocument.Rules[0].StartWindowMinutes"], // a template names no plan
        ["devguide-cold-storage-copy"] = ["$.BackupPlan.Rules[0].StartWindowMinutes", "$.BackupPlan.Rules[0].CompletionWindowMinutes", "$.BackupPlanTags"],
    };

    public static TheoryData<string> DlmDocuments() => [.. InteropCorpus.DlmFiles().Select(f => Path.GetFileName(f))];

    public static TheoryData<string> BackupDocuments() => [.. InteropCorpus.BackupPlans().Select(p => Path.GetFileName(p.Plan).Replace(".plan.json", "", StringComparison.Ordinal))];

    [Fact]
    public void TheCorpus_HasTenOrMoreDlmDocuments_EachWithItsSource_AndCoversEveryMappedConcept()
    {
        var files = InteropCorpus.DlmFiles().Select(Path.GetFileName).ToList();
        Assert.True(files.Count >= 10, $"{files.Count} DLM documents");
        Assert.Equal(DlmWarnings.Keys.Order(StringComparer.Ordinal), files);
        var readme = File.ReadAllText(Path.Combine(InteropCorpus.Directory, "README.md"));
        foreach (var file in files.Concat(Directory.GetFiles(Path.Combine(InteropCorpus.Directory, "backup")).Select(Path.GetFileName)))
        {
            Assert.Matches($@"\| `{System.Text.RegularExpressions.Regex.Escape(file!)}` \|[^\n]*https://", readme);
        }

        var text = string.Join('\n', InteropCorpus.DlmFiles().Select(File.ReadAllText));
        foreach (var concept in new[]
                 {
                     "\"TargetTags\"", "\"VOLUME\"", "\"INSTANCE\"", "\"Interval\"", "\"Times\"", "\"CronExpression\"", "\"Location\"", "\"Count\"",
                     "\"IntervalUnit\": \"WEEKS\"", "\"CrossRegionCopyRules\"", "\"TargetRegion\"", "\"Target\"", "\"CmkArn\"", "\"FastRestoreRule\"",
                     "\"RetentionArchiveTier\"", "\"TagsToAdd\"", "\"VariableTags\"", "\"CopyTags\"", "\"ExcludeBootVolume\"", "\"ExcludeDataVolumeTags\"",
                     "\"NoReboot\"", "\"Scripts\"", "\"DefaultPolicy\"", "\"Exclusions\"", "\"PolicyLanguage\": \"SIMPLIFIED\"",
                     "\"ShareRules\"", "\"DeprecateRule\"", "\"EVENT_BASED_POLICY\"", "\"IMAGE_MANAGEMENT\"", "\"OUTPOST_LOCAL\"", "\"Policy\": {",
                 })
        {
            Assert.Contains(concept, text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(DlmDocuments))]
    public void Dlm_ImportValidateExportImport_KeepsEveryMappedField(string fileName)
    {
        var file = Path.Combine(InteropCorpus.Directory, "dlm", fileName);
        var imported = DlmImporter.ImportFile(file, InteropCorpus.Region);
        var warned = imported.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).Select(d => d.Path).ToList();
        Assert.Equal(DlmWarnings[fileName].Order(StringComparer.Ordinal), warned.Order(StringComparer.Ordinal));
        Assert.All(imported.Diagnostics, d => Assert.Equal(file, d.File));
        if (NotImportable.TryGetValue(fileName, out var errors))
        {
            Assert.False(imported.Succeeded);
            Assert.Equal(errors.Order(StringComparer.Ordinal), imported.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Path).Order(StringComparer.Ordinal));
            return;
        }

        Assert.True(imported.Succeeded, string.Join('\n', imported.Diagnostics));

        // Our own validator accepts it, as `lifecycle validate` on the written file.
        var yamlFile = Path.Combine(root, imported.Name + ".yaml");
        File.WriteAllText(yamlFile, imported.Yaml);
        Assert.Equal(ValidateCommand.Valid, ValidateCommand.Run([yamlFile], "text", new StringWriter(), new StringWriter()));
        var policy = Assert.Single(PolicyLoader.Load([yamlFile]).Policies.Policies);

        var exported = DlmExporter.Export(policy, InteropCorpus.Role);
        var expectedExportWarnings = DlmExportWarnings.GetValueOrDefault(fileName, []);
        Assert.Equal(expectedExportWarnings.Select(w => w.Warned).Order(StringComparer.Ordinal), exported.Diagnostics.Select(d => d.Path).Order(StringComparer.Ordinal));
        var document = Assert.Single(exported.Documents);
        Assert.Equal(policy.Name + ".json", document.Key);

        // Field by field, what the original says the export says too (unless a warning named it).
        var excused = expectedExportWarnings.Select(w => w.Fact).ToList();
        var originalFacts = InteropCorpus.DlmFacts(InteropCorpus.ReadJson(file))
            .Where(f => !excused.Any(e => f.Key.StartsWith(e, StringComparison.Ordinal))).ToList();
        var missing = InteropCorpus.Missing(originalFacts, InteropCorpus.DlmFacts(document.Value), warned);
        Assert.True(missing.Count == 0, "the export lost:\n" + string.Join('\n', missing) + "\nexport:\n" + ExportCommand.ToText(document.Value));
        Assert.NotEmpty(originalFacts);

        // The export imports back to the same policy file (where the export warned, to what it could say).
        var exportFile = Path.Combine(root, document.Key);
        File.WriteAllText(exportFile, ExportCommand.ToText(document.Value));
        var again = DlmImporter.ImportFile(exportFile, InteropCorpus.Region);
        Assert.True(again.Succeeded, string.Join('\n', again.Diagnostics));
        Assert.Empty(again.Diagnostics);
        if (expectedExportWarnings.Length == 0)
        {
            Assert.Equal(imported.Yaml, again.Yaml);
        }
        else
        {
            Assert.NotEqual(imported.Yaml, again.Yaml);
        }
    }

    [Theory]
    [MemberData(nameof(BackupDocuments))]
    public void BackupPlan_ImportValidateExportImport_KeepsEveryMappedField(string name)
    {
        var (planFile, selectionFile) = InteropCorpus.BackupPlans().Single(p => Path.GetFileName(p.Plan) == name + ".plan.json");
        var imported = BackupPlanImporter.ImportFiles(planFile, selectionFile, InteropCorpus.Region);
        Assert.True(imported.Succeeded, string.Join('\n', imported.Diagnostics));
        var warned = imported.Diagnostics.Select(d => d.Path).ToList();
        Assert.Equal(BackupWarnings[name].Order(StringComparer.Ordinal), warned.Order(StringComparer.Ordinal));

        var yamlFile = Path.Combine(root, imported.Name + ".yaml");
        File.WriteAllText(yamlFile, imported.Yaml);
        Assert.Equal(ValidateCommand.Valid, ValidateCommand.Run([yamlFile], "text", new StringWriter(), new StringWriter()));
        var policy = Assert.Single(PolicyLoader.Load([yamlFile]).Policies.Policies);

        var exported = BackupPlanExporter.Export(policy, "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole", "123456789012");
        Assert.Empty(exported.Diagnostics);
        var plan = exported.Documents[policy.Name + ".plan.json"];
        var selection = exported.Documents[policy.Name + ".selection.json"];

        var original = InteropCorpus.BackupFacts(InteropCorpus.ReadJson(planFile), selectionFile is null ? null : InteropCorpus.ReadJson(selectionFile));
        var missing = InteropCorpus.Missing(original, InteropCorpus.BackupFacts(plan, selectionFile is null ? null : selection), warned.Where(w => w != "$"));
        Assert.True(missing.Count == 0, "the export lost:\n" + string.Join('\n', missing) + "\n" + ExportCommand.ToText(plan) + ExportCommand.ToText(selection));

        var planOut = Path.Combine(root, policy.Name + ".plan.json");
        var selectionOut = Path.Combine(root, policy.Name + ".selection.json");
        File.WriteAllText(planOut, ExportCommand.ToText(plan));
        File.WriteAllText(selectionOut, ExportCommand.ToText(selection));
        var again = BackupPlanImporter.ImportFiles(planOut, selectionFile is null ? null : selectionOut, InteropCorpus.Region);
        Assert.True(again.Succeeded, string.Join('\n', again.Diagnostics));
        Assert.Equal(imported.Yaml, again.Yaml);
        Assert.Equal(selectionFile is null ? new[] { "$" } : Array.Empty<string>(), again.Diagnostics.Select(d => d.Path));
    }

    [Fact]
    public void ACountBasedArchiveSchedule_WithStandardCountZero_ImportsAsCountOne_AndKeepsTheArchiveCount()
    {
        // EC2 User Guide, snapshot-ami-policy.md example 6: RetainRule Count 0 with an ArchiveRule archives at once.
        var file = Path.Combine(InteropCorpus.Directory, "dlm", "userguide-snapshot-archiving-count.json");
        var imported = DlmImporter.ImportFile(file, InteropCorpus.Region);
        Assert.True(imported.Succeeded, string.Join('\n', imported.Diagnostics));
        var warning = Assert.Single(imported.Diagnostics);
        Assert.Equal("$.Schedules[0].RetainRule.Count", warning.Path);
        Assert.Contains("as soon as it is created", warning.Message, StringComparison.Ordinal);
        var yamlFile = Path.Combine(root, imported.Name + ".yaml");
        File.WriteAllText(yamlFile, imported.Yaml);
        var schedule = Assert.Single(Assert.Single(PolicyLoader.Load([yamlFile]).Policies.Policies).Schedules);
        Assert.Equal(1, schedule.Retain.Count);
        Assert.Null(schedule.Retain.Age);
        Assert.NotNull(schedule.Archive);
        Assert.Null(schedule.Archive!.After);
        Assert.Equal(3, schedule.Archive.Retain.Count);
    }

    [Fact]
    public void TheComparison_CatchesALostOrChangedField()
    {
        var original = InteropCorpus.ReadJson(Path.Combine(InteropCorpus.Directory, "dlm", "cfn-cross-region-copy.json"));
        var changed = InteropCorpus.ReadJson(Path.Combine(InteropCorpus.Directory, "dlm", "cfn-cross-region-copy.json"));
        var schedule = changed["PolicyDetails"]!["Schedules"]![0]!;
        schedule["RetainRule"]!["Count"] = 2;
        schedule["CrossRegionCopyRules"]!.AsArray().RemoveAt(1);
        schedule["TagsToAdd"]!.AsArray().Clear();
        var missing = InteropCorpus.Missing(InteropCorpus.DlmFacts(original), InteropCorpus.DlmFacts(changed), []);
        Assert.Contains(missing, m => m.Contains("RetainRule.Count = 1", StringComparison.Ordinal));
        Assert.Contains(missing, m => m.Contains("CrossRegionCopyRules{us-west-2}.CmkArn", StringComparison.Ordinal));
        Assert.Contains(missing, m => m.Contains("Tags{type} = DailySnapshot", StringComparison.Ordinal));
        Assert.Empty(InteropCorpus.Missing(InteropCorpus.DlmFacts(original), InteropCorpus.DlmFacts(changed), ["$.PolicyDetails.Schedules[0]"]));
    }

    [Fact]
    public void TheExamplePolicies_ExportToBothServices_WithEveryLossNamedByFileAndField()
    {
        var policies = PolicyLoader.Load([Path.Combine(Deploy.DeployFiles.Root, "policies")]).Policies.Policies;
        Assert.NotEmpty(policies);
        var databases = policies.Single(p => p.Name == "databases");
        var dlm = DlmExporter.Export(databases, InteropCorpus.Role);
        var paths = dlm.Diagnostics.Select(d => d.Path).ToList();
        Assert.Contains("spec.hooks", paths);
        Assert.Contains("spec.schedules[0].retain.buckets", paths);
        Assert.Contains("spec.schedules[0].retain.minimum", paths);
        Assert.Contains("spec.schedules[0].copies[0].retain.buckets", paths);
        Assert.Contains("spec.safety.keepLatest", paths);
        Assert.All(dlm.Diagnostics, d => Assert.EndsWith(Path.Combine("policies", "databases.yaml"), d.File, StringComparison.Ordinal));
        Assert.Contains($"policies{Path.DirectorySeparatorChar}databases.yaml: spec.schedules[0].retain.buckets: warning: ", dlm.Diagnostics.Select(d => d.ToString()).First(d => d.Contains("buckets", StringComparison.Ordinal)), StringComparison.Ordinal);

        var backup = BackupPlanExporter.Export(policies.Single(p => p.Name == "staging"));
        Assert.Contains(backup.Diagnostics, d => d.Path == "spec.schedules[0].retain.count");
        Assert.Contains(backup.Diagnostics, d => d.Path == "spec.schedules[0].timezone");
    }
}
