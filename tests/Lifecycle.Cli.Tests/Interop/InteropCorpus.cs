using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifecycle.Cli.Tests.Deploy;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>
/// The corpus (corpus/README.md names each document's source) and a semantic view of DLM and AWS Backup documents:
/// each document becomes a set of facts (field → normalised value, with the JSON path it came from), so an original
/// and an export compare field by field whatever form, order or spelling each uses.
/// </summary>
internal static class InteropCorpus
{
    /// <summary>Region the corpus is imported for (the documents name none).</summary>
    public const string Region = "us-east-1";

    public const string Role = "arn:aws:iam::123456789012:role/AWSDataLifecycleManagerDefaultRole";

    public static string Directory { get; } = Path.Combine(DeployFiles.Root, "tests", "Lifecycle.Cli.Tests", "Interop", "corpus");

    public static IEnumerable<string> DlmFiles() =>
        System.IO.Directory.GetFiles(Path.Combine(Directory, "dlm"), "*.json").Order(StringComparer.Ordinal);

    /// <summary>Each plan with its selection (NAME.plan.json, NAME.selection.json) when there is one.</summary>
    public static IEnumerable<(string Plan, string? Selection)> BackupPlans() =>
        System.IO.Directory.GetFiles(Path.Combine(Directory, "backup"), "*.plan.json").Order(StringComparer.Ordinal)
            .Select(plan => (plan, File.Exists(plan.Replace(".plan.json", ".selection.json", StringComparison.Ordinal))
                ? plan.Replace(".plan.json", ".selection.json", StringComparison.Ordinal)
                : null));

    public static JsonObject ReadJson(string file) => JsonNode.Parse(File.ReadAllText(file))!.AsObject();

    /// <summary>One field of a document: a normalised key and value, and the JSON path of the original.</summary>
    public sealed record Fact(string Key, string Value, string Origin);

    // ---- DLM ---------------------------------------------------------------------------------------------------

    private static readonly string[] TagLists = ["TargetTags", "TagsToAdd", "VariableTags", "ExcludeDataVolumeTags"];

    /// <summary>
    /// The facts of a DLM document in any of its three forms. Identifiers, timestamps and what only restates a
    /// default (PolicyType EBS_SNAPSHOT_MANAGEMENT, location CLOUD, a false boolean) are left out; a default policy's
    /// parameters are restated as the custom policy they mean.
    /// </summary>
    public static List<Fact> DlmFacts(JsonObject document)
    {
        var facts = new List<Fact>();
        JsonObject top = document;
        string prefix = "$";
        if (document["Policy"] is JsonObject policy)
        {
            top = policy;
            prefix = "$.Policy";
        }

        JsonObject details;
        string detailsPath;
        if (top["PolicyDetails"] is JsonObject inner)
        {
            details = inner;
            detailsPath = prefix + ".PolicyDetails";
        }
        else if (top.ContainsKey("DefaultPolicy"))
        {
            details = top;
            detailsPath = prefix;
        }
        else
        {
            details = document;
            detailsPath = "$";
            top = new JsonObject();
        }

        foreach (var key in new[] { "Description", "State" })
        {
            if (top[key] is JsonValue value)
            {
                facts.Add(new(key, value.ToString(), $"{prefix}.{key}"));
            }
        }

        if (top.ContainsKey("DefaultPolicy") || details.ContainsKey("ResourceType"))
        {
            DefaultPolicyFacts(top, details, detailsPath, prefix, facts);
            return facts;
        }

        Walk(details, "", detailsPath, facts);
        return facts;
    }

    private static void DefaultPolicyFacts(JsonObject top, JsonObject details, string detailsPath, string prefix, List<Fact> facts)
    {
        (JsonNode? Node, string Path) Find(string name) =>
            details[name] is { } node ? (node, $"{detailsPath}.{name}") : (top[name], $"{prefix}.{name}");

        var type = (details["ResourceType"] ?? top["DefaultPolicy"])!.ToString();
        facts.Add(new("ResourceTypes[0]", type, Find("ResourceType").Path));
        var (create, createPath) = Find("CreateInterval");
        var createDays = create?.GetValue<int>() ?? 1;
        facts.Add(new("Schedules[0].CreateRule.Interval", createDays == 1 ? "24" : $"{createDays * 24}", createPath));
        var (retain, retainPath) = Find("RetainInterval");
        facts.Add(new("Schedules[0].RetainRule.Interval", (retain?.GetValue<int>() ?? 7).ToString(CultureInfo.InvariantCulture), retainPath));
        facts.Add(new("Schedules[0].RetainRule.IntervalUnit", "DAYS", retainPath));
        if (Find("CopyTags") is ({ } copyTags, var copyTagsPath) && copyTags.GetValue<bool>())
        {
            facts.Add(new("Schedules[0].CopyTags", "true", copyTagsPath));
        }

        if (Find("CrossRegionCopyTargets") is (JsonArray targets, var targetsPath))
        {
            for (var i = 0; i < targets.Count; i++)
            {
                facts.Add(new($"Schedules[0].CrossRegionCopyRules{{{targets[i]!["TargetRegion"]}}}.TargetRegion", targets[i]!["TargetRegion"]!.ToString(), $"{targetsPath}[{i}]"));
            }
        }

        if (Find("Exclusions") is (JsonObject exclusions, var exclusionsPath))
        {
            if (exclusions["ExcludeBootVolumes"]?.GetValue<bool>() == true)
            {
                facts.Add(new("Parameters.ExcludeBootVolume", "true", exclusionsPath + ".ExcludeBootVolumes"));
            }

            if (exclusions["ExcludeTags"] is JsonArray excludeTags)
            {
                for (var i = 0; i < excludeTags.Count; i++)
                {
                    facts.Add(new($"Parameters.ExcludeDataVolumeTags{{{excludeTags[i]!["Key"]}}}", excludeTags[i]!["Value"]!.ToString(), $"{exclusionsPath}.ExcludeTags[{i}]"));
                }
            }
        }
    }

    private static void Walk(JsonNode? node, string key, string origin, List<Fact> facts)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj)
                {
                    var childKey = key.Length == 0 ? name : $"{key}.{name}";
                    if (TagLists.Contains(name) && child is JsonArray tags)
                    {
                        // Tags compare as sets; TagsToAdd and VariableTags are one map in a policy.
                        var listKey = name is "TagsToAdd" or "VariableTags" ? $"{key}.Tags" : childKey;
                        for (var i = 0; i < tags.Count; i++)
                        {
                            facts.Add(new($"{listKey}{{{tags[i]!["Key"]}}}", tags[i]!["Value"]!.ToString(), $"{origin}.{name}[{i}]"));
                        }

                        continue;
                    }

                    Walk(child, name == "Target" ? $"{key}.TargetRegion" : childKey, $"{origin}.{name}", facts);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    // Copy rules are known by their region: a rule left out (and warned about) shifts the indexes.
                    var item = key.EndsWith("CrossRegionCopyRules", StringComparison.Ordinal)
                        ? $"{key}{{{array[i]!["TargetRegion"] ?? array[i]!["Target"]}}}"
                        : $"{key}[{i}]";
                    Walk(array[i], item, $"{origin}[{i}]", facts);
                }

                break;
            case JsonValue value:
                var text = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString();
                var leaf = key[(key.LastIndexOf('.') + 1)..];
                if (text == "false" || IsDefault(key, text))
                {
                    return;
                }

                if (leaf == "CronExpression")
                {
                    text = AwsCron.ToLifecycle(text, out _) ?? text;
                }
                else if (System.Text.RegularExpressions.Regex.IsMatch(key, @"^Schedules\[\d+\]\.Name$"))
                {
                    text = InteropNamesForTests.ToName(text);
                }

                facts.Add(new(key, text, origin));
                break;
        }
    }

    private static bool IsDefault(string key, string value) => (key, value) switch
    {
        ("PolicyType", "EBS_SNAPSHOT_MANAGEMENT") => true,
        ("PolicyLanguage", _) => true,
        (_, "CLOUD") => true,
        ("Parameters.NoReboot", "true") => true, // Lifecycle never reboots: nothing to export
        _ => false,
    };

    // ---- AWS Backup --------------------------------------------------------------------------------------------

    /// <summary>The facts of a plan (CreateBackupPlan input, get-backup-plan or get-backup-plan-from-template output, or CloudFormation Properties) and its selection.</summary>
    public static List<Fact> BackupFacts(JsonObject planDocument, JsonObject? selectionDocument)
    {
        var facts = new List<Fact>();
        // get-backup-plan-from-template output is a BackupPlanDocument without a name.
        var planKey = planDocument.ContainsKey("BackupPlanDocument") ? "BackupPlanDocument" : "BackupPlan";
        var plan = planDocument[planKey]!.AsObject();
        if (plan["BackupPlanName"] is { } planName)
        {
            facts.Add(new("Name", InteropNamesForTests.ToName(planName.ToString()), $"$.{planKey}.BackupPlanName"));
        }

        var rulesName = plan.ContainsKey("BackupPlanRule") ? "BackupPlanRule" : "Rules";
        var rules = plan[rulesName]!.AsArray();
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i]!.AsObject();
            var path = $"$.{planKey}.{rulesName}[{i}]";
            var key = $"Rules[{i}]";
            facts.Add(new(key + ".RuleName", InteropNamesForTests.ToName(rule["RuleName"]!.ToString()), path + ".RuleName"));
            facts.Add(new(key + ".Schedule", AwsCron.ToLifecycle(rule["ScheduleExpression"]?.ToString() ?? "cron(0 5 ? * * *)", out _) ?? "?", path + ".ScheduleExpression"));
            foreach (var field in new[] { "DeleteAfterDays", "MoveToColdStorageAfterDays" })
            {
                if (rule["Lifecycle"]?[field] is { } days)
                {
                    facts.Add(new($"{key}.Lifecycle.{field}", days.ToJsonString(), $"{path}.Lifecycle.{field}"));
                }
            }

            foreach (var (tag, value) in rule["RecoveryPointTags"]?.AsObject() ?? [])
            {
                facts.Add(new($"{key}.Tags{{{tag}}}", value!.ToString(), $"{path}.RecoveryPointTags.{tag}"));
            }

            var copies = rule["CopyActions"]?.AsArray() ?? [];
            for (var c = 0; c < copies.Count; c++)
            {
                var arn = copies[c]!["DestinationBackupVaultArn"]!.ToString().Split(':');
                facts.Add(new($"{key}.Copies[{c}].Region", arn[3], $"{path}.CopyActions[{c}].DestinationBackupVaultArn"));
                if (copies[c]!["Lifecycle"]?["DeleteAfterDays"] is { } copyDays)
                {
                    facts.Add(new($"{key}.Copies[{c}].DeleteAfterDays", copyDays.ToJsonString(), $"{path}.CopyActions[{c}].Lifecycle.DeleteAfterDays"));
                }
            }
        }

        if (selectionDocument is null)
        {
            return facts;
        }

        var selection = selectionDocument["BackupSelection"]?.AsObject() ?? selectionDocument;
        var selectionPath = selectionDocument.ContainsKey("BackupSelection") ? "$.BackupSelection" : "$";
        var resources = selection["Resources"]?.AsArray() ?? [];
        for (var i = 0; i < resources.Count; i++)
        {
            facts.Add(new($"Resources[{i}]", resources[i]!.ToString(), $"{selectionPath}.Resources[{i}]"));
        }

        var listOfTags = selection["ListOfTags"]?.AsArray() ?? [];
        for (var i = 0; i < listOfTags.Count; i++)
        {
            // One tag in ListOfTags is the same condition as one StringEquals.
            var type = listOfTags.Count == 1 ? "StringEquals" : "AnyOf";
            facts.Add(new($"{type}{{{listOfTags[i]!["ConditionKey"]}={listOfTags[i]!["ConditionValue"]}}}", "", $"{selectionPath}.ListOfTags[{i}]"));
        }

        foreach (var (type, list) in selection["Conditions"]?.AsObject() ?? [])
        {
            var items = list!.AsArray();
            for (var i = 0; i < items.Count; i++)
            {
                var key = items[i]!["ConditionKey"]!.ToString().Replace("aws:ResourceTag/", "", StringComparison.Ordinal);
                facts.Add(new($"{type}{{{key}={items[i]!["ConditionValue"]}}}", "", $"{selectionPath}.Conditions.{type}[{i}]"));
            }
        }

        return facts;
    }

    /// <summary>Facts of <paramref name="original"/> that <paramref name="export"/> lacks, leaving out those under a warned path.</summary>
    public static List<string> Missing(IEnumerable<Fact> original, IEnumerable<Fact> export, IEnumerable<string> warnedPaths)
    {
        var exported = export.Select(f => (f.Key, f.Value)).ToHashSet();
        var warned = warnedPaths.ToList();
        return [.. original
            .Where(f => !warned.Any(w => f.Origin == w || f.Origin.StartsWith(w + ".", StringComparison.Ordinal) || f.Origin.StartsWith(w + "[", StringComparison.Ordinal)))
            .Where(f => !exported.Contains((f.Key, f.Value)))
            .Select(f => $"{f.Origin}: {f.Key} = {f.Value}")];
    }
}

/// <summary>The importer's naming rule, restated for the comparison (schedule and rule names are normalised on import).</summary>
internal static class InteropNamesForTests
{
    public static string ToName(string text)
    {
        var builder = new System.Text.StringBuilder();
        foreach (var c in text.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                builder.Append(c);
            }
            else if (builder.Length > 0 && builder[^1] != '-')
            {
                builder.Append('-');
            }
        }

        var name = builder.ToString().Trim('-');
        return name.Length > 0 && !char.IsAsciiLetter(name[0]) ? "s-" + name : name;
    }
}
