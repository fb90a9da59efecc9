using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// AWS Backup plan (and optionally its selection) → a policy file: each rule a schedule, the selection's tag
/// conditions the targets. Reads a <c>CreateBackupPlan</c> input or <c>aws backup get-backup-plan</c> output, <c>get-backup-plan-from-template</c> output (or
/// a bare BackupPlan object; CloudFormation's BackupPlanRule and TargetBackupVault names too) and a
/// <c>CreateBackupSelection</c> input or <c>get-backup-selection</c> output. Unmapped members are warnings at their
/// JSON path.
/// </summary>
public static class BackupPlanImporter
{
    /// <summary>The target tag a plan imported without a selection (or without tag conditions) gets.</summary>
    public const string PlanTag = "aws-backup-plan";

    public static InteropImport ImportFiles(string planFile, string? selectionFile = null, string? region = null)
    {
        ArgumentNullException.ThrowIfNull(planFile);
        var planReport = new InteropReport(planFile);
        var selectionReport = selectionFile is null ? null : new InteropReport(selectionFile);
        var plan = JsonInput.Read(planFile, planReport);
        var selection = selectionFile is null ? null : JsonInput.Read(selectionFile, selectionReport!);
        var fallbackName = InteropNames.ToName(Path.GetFileNameWithoutExtension(planFile).Replace(".plan", "", StringComparison.Ordinal), "imported-backup-plan");
        var (policy, name) = plan is null || (selectionFile is not null && selection is null)
            ? (null, fallbackName)
            : Import(plan, selection, fallbackName, region, planReport, selectionReport);
        return InteropImport.From(policy, name, planReport, ["Imported from an AWS Backup plan by `lifecycle import backup-plan`."], selectionReport);
    }

    private static (SnapshotPolicy? Policy, string Name) Import(
        JsonNode planRoot, JsonNode? selectionRoot, string fallbackName, string? region, InteropReport report, InteropReport? selectionReport)
    {
        if (planRoot is not JsonObject planObject)
        {
            report.Error("$", $"expected a JSON object (a backup plan), got {JsonCursor.Describe(planRoot)}");
            return (null, fallbackName);
        }

        var document = new JsonCursor(planObject, "$", report);
        JsonCursor? plan;
        var unnamed = false;
        if (document.Has("BackupPlan"))
        {
            document.Ignore("BackupPlanId", "BackupPlanArn", "VersionId", "CreatorRequestId", "CreationDate", "DeletionDate", "LastExecutionDate", "AdvancedBackupSettings");
            plan = document.Object("BackupPlan", required: true);
        }
        else if (document.Has("BackupPlanDocument"))
        {
            // get-backup-plan-from-template output: a plan without a name.
            plan = document.Object("BackupPlanDocument", required: true);
            if (plan is not null && !plan.Has("BackupPlanName"))
            {
                report.Warning(plan.Path, $"a backup plan template names no plan; imported as {fallbackName} (the file's name)");
                plan.Ignore("BackupPlanName");
                unnamed = true;
            }
        }
        else if (document.Has("Rules") || document.Has("BackupPlanRule"))
        {
            plan = document;
        }
        else
        {
            report.Error("$", "not a backup plan: expected {\"BackupPlan\": ...} (CreateBackupPlan, get-backup-plan), {\"BackupPlanDocument\": ...} (get-backup-plan-from-template) or an object with BackupPlanName and Rules");
            return (null, fallbackName);
        }

        if (plan is null)
        {
            return (null, fallbackName);
        }

        var name = unnamed ? fallbackName : InteropNames.ToName(plan.String("BackupPlanName", required: true), fallbackName);
        if (region is null)
        {
            report.Warning("$", "a backup plan names no region; imported for us-east-1 (pass --region to choose)");
            region = "us-east-1";
        }

        var reader = new PlanReader(report) { Region = region };
        var schedules = ImmutableArray.CreateBuilder<Schedule>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var rules = plan.Has("BackupPlanRule") ? plan.Objects("BackupPlanRule", required: true) : plan.Objects("Rules", required: true);
        foreach (var rule in rules)
        {
            if (reader.ReadRule(rule, names) is { } schedule)
            {
                schedules.Add(schedule);
            }
        }

        plan.WarnUnread();
        if (plan != document)
        {
            document.WarnUnread();
        }

        var targets = selectionRoot is null
            ? Placeholder(name, report, "$", "no selection given")
            : ReadSelection(selectionRoot, name, selectionReport!);
        if (report.HasErrors || selectionReport?.HasErrors == true || targets is null)
        {
            return (null, name);
        }

        if (schedules.Count == 0)
        {
            report.Error("$.BackupPlan.Rules", "no rule could be imported (see the warnings)");
            return (null, name);
        }

        return (new SnapshotPolicy
        {
            Name = name,
            Engine = EngineKind.Aws,
            Regions = [region],
            Targets = targets,
            Schedules = [.. schedules.Select(s => s with { Copies = [.. s.Copies.Where(c => c.Region != region)] })],
            CopyVolumeTags = true, // AWS Backup copies the volume's tags to its recovery points
        }, name);
    }

    private static TargetSelector Placeholder(string name, InteropReport report, string path, string why)
    {
        report.Warning(path, $"{why}: AWS Backup then selects nothing by tag; imported with the target tag {PlanTag}: \"{name}\" (tag what it should cover)");
        return new TargetSelector
        {
            Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create(PlanTag, ImmutableArray.Create(name))]),
        };
    }

    private static TargetSelector? ReadSelection(JsonNode root, string name, InteropReport report)
    {
        if (root is not JsonObject rootObject)
        {
            report.Error("$", $"expected a JSON object (a backup selection), got {JsonCursor.Describe(root)}");
            return null;
        }

        var document = new JsonCursor(rootObject, "$", report);
        JsonCursor? selection = document;
        if (document.Has("BackupSelection"))
        {
            document.Ignore("BackupPlanId", "SelectionId", "CreatorRequestId", "CreationDate");
            selection = document.Object("BackupSelection", required: true);
        }

        if (selection is null)
        {
            return null;
        }

        selection.Ignore("SelectionName", "IamRoleArn");
        var resource = ResourceKind.Volume;
        var resources = selection.Strings("Resources");
        ResourceKind? chosen = null;
        foreach (var (arn, path) in resources)
        {
            ResourceKind? kind = arn switch
            {
                "*" => null,
                _ when arn.StartsWith("arn:aws:ec2:", StringComparison.Ordinal) && arn.EndsWith(":volume/*", StringComparison.Ordinal) => ResourceKind.Volume,
                _ when arn.StartsWith("arn:aws:ec2:", StringComparison.Ordinal) && arn.EndsWith(":instance/*", StringComparison.Ordinal) => ResourceKind.Instance,
                _ => null,
            };
            if (kind is null)
            {
                report.Warning(path, arn == "*"
                    ? "every resource type AWS Backup supports: Lifecycle snapshots EBS volumes only (imported as volumes)"
                    : $"'{arn}' is not all EC2 volumes or instances; Lifecycle selects by tag, not by resource ARN: not imported");
            }
            else if (chosen is null)
            {
                chosen = kind;
            }
            else if (chosen != kind)
            {
                report.Warning(path, "a Lifecycle policy targets either volumes or instances; not imported (write a second policy)");
            }
        }

        resource = chosen ?? resource;
        var tags = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        var exclude = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        var listOfTags = selection.Objects("ListOfTags");
        foreach (var tag in listOfTags)
        {
            var type = tag.String("ConditionType", required: true);
            var key = tag.String("ConditionKey", required: true);
            var value = tag.String("ConditionValue", required: true);
            tag.WarnUnread();
            if (type is not null && type != "STRINGEQUALS")
            {
                report.Error(tag.PathOf("ConditionType"), $"'{type}' is not STRINGEQUALS");
            }
            else if (key is not null && value is not null)
            {
                Add(tags, key.StartsWith("aws:ResourceTag/", StringComparison.Ordinal) ? key["aws:ResourceTag/".Length..] : key, value);
            }
        }

        if (tags.Count > 1)
        {
            report.Warning(selection.PathOf("ListOfTags"), "AWS Backup selects a resource matching any one of these tags; Lifecycle requires every tag key to match (imported as all of them)");
        }

        if (selection.Object("Conditions") is { } conditions)
        {
            if (tags.Count > 0)
            {
                report.Warning(conditions.Path, "conditions beside ListOfTags: imported as required as well");
            }

            ReadConditions(conditions, "StringEquals", tags, report);
            ReadConditions(conditions, "StringLike", tags, report);
            ReadConditions(conditions, "StringNotEquals", exclude, report);
            ReadConditions(conditions, "StringNotLike", exclude, report);
            conditions.WarnUnread();
        }

        var excludeIds = new List<string>();
        foreach (var (arn, path) in selection.Strings("NotResources"))
        {
            var slash = arn.LastIndexOf(":volume/", StringComparison.Ordinal);
            if (slash >= 0 && !arn.EndsWith('*'))
            {
                excludeIds.Add(arn[(slash + ":volume/".Length)..]);
            }
            else
            {
                report.Warning(path, $"Lifecycle excludes single volumes by id; '{arn}' not imported");
            }
        }

        selection.WarnUnread();
        if (selection != document)
        {
            document.WarnUnread();
        }

        if (tags.Count == 0)
        {
            return Placeholder(name, report, selection.Path, "the selection has no tag condition") with { Resource = resource };
        }

        return new TargetSelector
        {
            Resource = resource,
            Tags = tags.ToImmutableSortedDictionary(e => e.Key, e => e.Value.ToImmutableArray(), StringComparer.Ordinal),
            ExcludeTags = exclude.ToImmutableSortedDictionary(e => e.Key, e => e.Value.ToImmutableArray(), StringComparer.Ordinal),
            ExcludeVolumeIds = [.. excludeIds.Distinct(StringComparer.Ordinal)],
        };
    }

    private static void ReadConditions(JsonCursor conditions, string type, SortedDictionary<string, List<string>> into, InteropReport report)
    {
        foreach (var condition in conditions.Objects(type))
        {
            var key = condition.String("ConditionKey", required: true);
            var value = condition.String("ConditionValue", required: true);
            condition.WarnUnread();
            if (key is null || value is null)
            {
                continue;
            }

            if (!key.StartsWith("aws:ResourceTag/", StringComparison.Ordinal))
            {
                report.Warning(condition.PathOf("ConditionKey"), $"Lifecycle selects by resource tag (aws:ResourceTag/...); '{key}' not imported");
                continue;
            }

            var tag = key["aws:ResourceTag/".Length..];
            if (type is "StringEquals" or "StringLike" && into.ContainsKey(tag))
            {
                report.Warning(condition.Path, $"every condition must match, so two values of '{tag}' match nothing in AWS Backup; Lifecycle reads them as any of the values");
            }

            if (type is "StringEquals" or "StringNotEquals" && value.Contains('*', StringComparison.Ordinal))
            {
                report.Warning(condition.PathOf("ConditionValue"), $"'*' in '{value}' is a literal character here but a wildcard in Lifecycle");
            }

            Add(into, tag, value);
        }
    }

    private static void Add(SortedDictionary<string, List<string>> tags, string key, string value)
    {
        if (!tags.TryGetValue(key, out var values))
        {
            tags[key] = values = [];
        }

        if (!values.Contains(value))
        {
            values.Add(value);
        }
    }

    private sealed class PlanReader(InteropReport report)
    {
        public required string Region { get; init; }

        public Schedule? ReadRule(JsonCursor rule, HashSet<string> names)
        {
            var errorsBefore = report.ErrorCount;
            var name = InteropNames.Unique(InteropNames.ToName(rule.String("RuleName", required: true), "rule"), names);
            var vault = rule.String("TargetBackupVaultName") ?? rule.String("TargetBackupVault");
            rule.Ignore("TargetBackupVaultName", "TargetBackupVault", "RuleId");
            if (vault is not null && vault != BackupPlanExporter.DefaultVault)
            {
                report.Warning(rule.PathOf("TargetBackupVaultName"), $"Lifecycle keeps snapshots in the region, not in vaults; the vault '{vault}' is not imported");
            }

            if (rule.Boolean("EnableContinuousBackup") == true)
            {
                report.Warning(rule.PathOf("EnableContinuousBackup"), "continuous backup (point-in-time restore) has no counterpart for EBS or in Lifecycle; not imported");
            }

            var expression = rule.String("ScheduleExpression") ?? "cron(0 5 ? * * *)";
            var timeZone = rule.String("ScheduleExpressionTimezone") ?? "UTC";
            ScheduleTrigger? trigger = null;
            if (AwsCron.ToLifecycle(expression, out var problem) is { } cron)
            {
                if (Language.ValueChecks.TimeZone(timeZone) is { } zoneProblem)
                {
                    report.Error(rule.PathOf("ScheduleExpressionTimezone"), zoneProblem);
                }

                trigger = new CronTrigger(cron, timeZone);
            }
            else
            {
                report.Warning(rule.PathOf("ScheduleExpression"), problem + "; rule not imported");
            }

            var (retain, archive) = ReadLifecycle(rule);
            var tags = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (key, value, path) in rule.StringMap("RecoveryPointTags"))
            {
                InteropRules.AddSnapshotTag(tags, key, value, path, report);
            }

            var copies = ImmutableArray.CreateBuilder<CopyRule>();
            foreach (var action in rule.Objects("CopyActions"))
            {
                if (ReadCopy(action) is { } copy)
                {
                    copies.Add(copy);
                }
            }

            rule.WarnUnread();
            if (trigger is null || report.ErrorCount != errorsBefore)
            {
                return null;
            }

            return new Schedule { Name = name, Trigger = trigger, Retain = retain, Archive = archive, Copies = copies.ToImmutable(), Tags = tags.ToImmutable() };
        }

        private (RetentionRule Retain, ArchiveRule? Archive) ReadLifecycle(JsonCursor rule)
        {
            if (rule.Object("Lifecycle") is not { } lifecycle)
            {
                report.Warning(rule.PathOf("Lifecycle"), $"absent: AWS Backup keeps the recovery points; imported as age {InteropRules.Forever}");
                return (new RetentionRule { Age = InteropRules.Forever }, null);
            }

            var move = lifecycle.Integer("MoveToColdStorageAfterDays", 1, 36500);
            var delete = lifecycle.Integer("DeleteAfterDays", 1, 36500);
            lifecycle.WarnUnread();
            if (move is null)
            {
                if (delete is null)
                {
                    report.Warning(lifecycle.Path, $"no DeleteAfterDays: AWS Backup keeps the recovery points; imported as age {InteropRules.Forever}");
                }

                return (new RetentionRule { Age = delete is { } days ? PolicyDuration.Days(days) : InteropRules.Forever }, null);
            }

            // Cold storage when the standard retention ends: Lifecycle's archive without 'after'.
            PolicyDuration archiveAge;
            if (delete is null)
            {
                report.Warning(lifecycle.PathOf("MoveToColdStorageAfterDays"), $"no DeleteAfterDays: kept in cold storage; imported as archive age {InteropRules.Forever}");
                archiveAge = InteropRules.Forever;
            }
            else if (delete.Value - move.Value < Language.PolicyLanguage.ArchiveMinimumDays)
            {
                report.Error(lifecycle.PathOf("DeleteAfterDays"), $"{delete} is less than 90 days after MoveToColdStorageAfterDays ({move}); AWS Backup requires 90 days in cold storage");
                archiveAge = InteropRules.Forever;
            }
            else
            {
                archiveAge = PolicyDuration.Days(delete.Value - move.Value);
            }

            return (new RetentionRule { Age = PolicyDuration.Days(move.Value) }, new ArchiveRule { Retain = new RetentionRule { Age = archiveAge } });
        }

        private CopyRule? ReadCopy(JsonCursor action)
        {
            var arn = action.String("DestinationBackupVaultArn", required: true);
            var retain = new RetentionRule { Age = InteropRules.Forever };
            if (action.Object("Lifecycle") is { } lifecycle)
            {
                if (lifecycle.Integer("DeleteAfterDays", 1, 36500) is { } days)
                {
                    retain = new RetentionRule { Age = PolicyDuration.Days(days) };
                }
                else
                {
                    report.Warning(lifecycle.Path, $"no DeleteAfterDays: the copies are kept; imported as age {InteropRules.Forever}");
                }

                lifecycle.WarnUnread();
            }
            else
            {
                report.Warning(action.PathOf("Lifecycle"), $"absent: AWS Backup keeps the copies; imported as age {InteropRules.Forever}");
            }

            action.WarnUnread();
            if (arn is null)
            {
                return null;
            }

            // arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME
            var parts = arn.Split(':');
            if (parts.Length < 7 || parts[2] != "backup" || parts[5] != "backup-vault")
            {
                report.Error(action.PathOf("DestinationBackupVaultArn"), $"'{arn}' is not a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)");
                return null;
            }

            if (!InteropRules.CheckRegionName(parts[3], action.PathOf("DestinationBackupVaultArn"), report))
            {
                return null;
            }

            if (parts[6] != BackupPlanExporter.DefaultVault)
            {
                report.Warning(action.PathOf("DestinationBackupVaultArn"), $"Lifecycle copies into a region, not a vault; the vault '{parts[6]}' is not imported");
            }

            if (parts[3] == Region)
            {
                report.Warning(action.PathOf("DestinationBackupVaultArn"), "a copy within the plan's region (another vault, or another account) has no counterpart in Lifecycle; not imported");
            }

            return new CopyRule { Region = parts[3], Retain = retain };
        }
    }
}
