using System.Globalization;
using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// A policy → an AWS Backup <c>CreateBackupPlan</c> input (<c>&lt;policy&gt;.plan.json</c>: one rule per schedule) and a
/// <c>CreateBackupSelection</c> input (<c>&lt;policy&gt;.selection.json</c>: the targets as tag conditions). What AWS Backup
/// cannot say is a warning naming the policy file and field path; approximations say what was written.
/// </summary>
public static class BackupPlanExporter
{
    /// <summary>Written when no role is given; AWS Backup refuses it until replaced.</summary>
    public const string RolePlaceholder = "arn:aws:iam::123456789012:role/REPLACE-WITH-AWS-BACKUP-ROLE";

    /// <summary>CreateBackupPlan returns the plan id the selection needs; it cannot be known before.</summary>
    public const string PlanIdPlaceholder = "REPLACE-WITH-THE-BackupPlanId-THAT-create-backup-plan-RETURNS";

    public const string PlaceholderAccount = "123456789012";

    public const string DefaultVault = "Default";

    public static InteropExport Export(SnapshotPolicy policy, string? iamRoleArn = null, string? accountId = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var report = new InteropReport(policy.Source.File.Length > 0 ? policy.Source.File : policy.Name + ".yaml");
        DlmExporter.Common(policy, report, "AWS Backup");
        if (!policy.CopyVolumeTags)
        {
            report.Warning("spec.copyVolumeTags", "AWS Backup copies a volume's tags to its recovery points; false cannot be exported");
        }

        var rules = new JsonArray();
        for (var i = 0; i < policy.Schedules.Length; i++)
        {
            rules.Add(Rule(policy, policy.Schedules[i], $"spec.schedules[{i.ToString(CultureInfo.InvariantCulture)}]", accountId, report));
        }

        var plan = new JsonObject
        {
            ["BackupPlan"] = new JsonObject { ["BackupPlanName"] = policy.Name, ["Rules"] = rules },
        };
        if (iamRoleArn is null)
        {
            report.Warning("spec", $"no --iam-role-arn given: the selection's IamRoleArn is the placeholder {RolePlaceholder}");
        }

        var selection = new JsonObject
        {
            ["BackupPlanId"] = PlanIdPlaceholder,
            ["BackupSelection"] = Selection(policy, iamRoleArn ?? RolePlaceholder, report),
        };
        return new InteropExport(policy.Name, new Dictionary<string, JsonObject>(StringComparer.Ordinal)
        {
            [policy.Name + ".plan.json"] = plan,
            [policy.Name + ".selection.json"] = selection,
        }, report.Items);
    }

    private static JsonObject Rule(SnapshotPolicy policy, Schedule schedule, string path, string? accountId, InteropReport report)
    {
        var rule = new JsonObject
        {
            ["RuleName"] = schedule.Name,
            ["TargetBackupVaultName"] = DefaultVault,
            ["ScheduleExpression"] = ScheduleExpression(schedule.Trigger, path, report),
        };
        var deleteAfter = Days(schedule.Retain, path + ".retain", report);
        var lifecycle = new JsonObject();
        if (schedule.Archive is { } archive)
        {
            var archivePath = path + ".archive";
            int? moveAfter = archive.After switch
            {
                null => deleteAfter,
                { Age: { } age } => DaysOf(age, archivePath + ".after.age", report),
                _ => null,
            };
            if (archive.After is { Count: not null })
            {
                report.Warning(archivePath + ".after.count", "AWS Backup moves to cold storage by age only; the archive rule is not exported");
            }
            else if (moveAfter is null)
            {
                report.Warning(archivePath, "AWS Backup moves to cold storage after an age; without a standard age the archive rule is not exported");
            }
            else
            {
                lifecycle["MoveToColdStorageAfterDays"] = moveAfter;
                deleteAfter = Days(archive.Retain, archivePath + ".retain", report) is { } archiveDays ? moveAfter + archiveDays : null;
            }
        }

        if (deleteAfter is not null)
        {
            lifecycle["DeleteAfterDays"] = deleteAfter;
        }

        if (lifecycle.Count > 0)
        {
            rule["Lifecycle"] = lifecycle;
        }

        var tags = new JsonObject();
        foreach (var (key, value) in policy.Tags.SetItems(schedule.Tags))
        {
            if (value.Contains("$(", StringComparison.Ordinal))
            {
                report.Warning((schedule.Tags.ContainsKey(key) ? path + ".tags." : "spec.tags.") + key, $"AWS Backup tag values are fixed text; '{value}' not exported");
            }
            else
            {
                tags[key] = value;
            }
        }

        if (tags.Count > 0)
        {
            rule["RecoveryPointTags"] = tags;
        }

        if (!schedule.Copies.IsEmpty)
        {
            var copies = new JsonArray();
            for (var c = 0; c < schedule.Copies.Length; c++)
            {
                var copy = schedule.Copies[c];
                var copyPath = $"{path}.copies[{c.ToString(CultureInfo.InvariantCulture)}]";
                if (copy.Key is not null)
                {
                    report.Warning(copyPath + ".key", "AWS Backup encrypts a copy with its destination vault's key; not exported");
                }

                if (!copy.CopyTags)
                {
                    report.Warning(copyPath + ".copyTags", "AWS Backup copies a recovery point's tags to its copies; false cannot be exported");
                }

                if (accountId is null && c == 0)
                {
                    report.Warning(copyPath, $"no --account-id given: DestinationBackupVaultArn names the placeholder account {PlaceholderAccount}");
                }

                var action = new JsonObject
                {
                    ["DestinationBackupVaultArn"] = $"arn:aws:backup:{copy.Region}:{accountId ?? PlaceholderAccount}:backup-vault:{DefaultVault}",
                };
                if (Days(copy.Retain, copyPath + ".retain", report) is { } copyDays)
                {
                    action["Lifecycle"] = new JsonObject { ["DeleteAfterDays"] = copyDays };
                }

                copies.Add(action);
            }

            rule["CopyActions"] = copies;
        }

        if (schedule.FastRestore is not null)
        {
            report.Warning(path + ".fastRestore", "AWS Backup does not enable fast snapshot restore; not exported");
        }

        return rule;
    }

    private static string ScheduleExpression(ScheduleTrigger trigger, string path, InteropReport report)
    {
        switch (trigger)
        {
            case IntervalTrigger { Every: var every, StartAt: var startAt }:
                var minute = startAt.Minute.ToString(CultureInfo.InvariantCulture);
                if (every.Unit == DurationUnit.Hours)
                {
                    // Every N hours from startAt on the UTC day; N divides 24, so the hours repeat each day.
                    var first = (startAt.Hour % every.Value).ToString(CultureInfo.InvariantCulture);
                    return every.Value == 1 ? $"cron({minute} * * * ? *)" : $"cron({minute} {first}/{every.Value.ToString(CultureInfo.InvariantCulture)} * * ? *)";
                }

                if (every != PolicyDuration.Days(1))
                {
                    report.Warning(path + ".every", $"an interval of {every} has no AWS cron form (its days do not follow the calendar); exported as daily (use cron for a weekly or monthly day)");
                }

                return $"cron({minute} {startAt.Hour.ToString(CultureInfo.InvariantCulture)} * * ? *)";
            case CronTrigger cron:
                if (cron.TimeZone != "UTC")
                {
                    report.Warning(path + ".timezone", $"the plan's schedule is written in UTC; the times are exported unchanged, as UTC, not {cron.TimeZone}");
                }

                if (AwsCron.FromLifecycle(cron.Expression, out var problem) is { } expression)
                {
                    return expression;
                }

                report.Warning(path + ".cron", problem + "; exported as daily at 05:00 UTC, AWS Backup's default");
                return "cron(0 5 ? * * *)";
            default:
                throw new ArgumentOutOfRangeException(nameof(trigger));
        }
    }

    /// <summary>DeleteAfterDays for a retention; null (kept until deleted) when it has no age.</summary>
    private static int? Days(RetentionRule retain, string path, InteropReport report)
    {
        if (retain.Count is not null)
        {
            report.Warning(path + ".count", "AWS Backup keeps recovery points by age only; the count is not exported");
        }

        if (retain.Minimum is not null)
        {
            report.Warning(path + ".minimum", "AWS Backup has no retention floor; not exported");
        }

        if (retain.Buckets is { IsEmpty: false })
        {
            report.Warning(path + ".buckets", "AWS Backup has no calendar buckets (write one rule per period instead); not exported");
        }

        if (retain.Age is not { } age)
        {
            report.Warning(path, "without an age the recovery points are kept until deleted by hand");
            return null;
        }

        return DaysOf(age, path + ".age", report);
    }

    private static int DaysOf(PolicyDuration age, string path, InteropReport report)
    {
        var days = age.Unit switch
        {
            DurationUnit.Days => age.Value,
            DurationUnit.Weeks => age.Value * 7,
            _ => (int)Math.Ceiling(age.Approximate.TotalDays),
        };
        if (age.Unit is not (DurationUnit.Days or DurationUnit.Weeks))
        {
            report.Warning(path, $"AWS Backup counts whole days; {age} exported as {days} days");
        }

        return days;
    }

    private static JsonObject Selection(SnapshotPolicy policy, string role, InteropReport report)
    {
        var targets = policy.Targets;
        if (targets.Resource == ResourceKind.Instance)
        {
            report.Warning("spec.targets.resource", "AWS Backup backs up an instance as an AMI with snapshots of its volumes, not as a set of snapshots");
        }

        if (targets.ExcludeBootVolume)
        {
            report.Warning("spec.targets.exclude.bootVolume", "AWS Backup cannot leave an instance's boot volume out; not exported");
        }

        var selection = new JsonObject
        {
            ["SelectionName"] = policy.Name,
            ["IamRoleArn"] = role,
            ["Resources"] = new JsonArray(targets.Resource == ResourceKind.Instance ? "arn:aws:ec2:*:*:instance/*" : "arn:aws:ec2:*:*:volume/*"),
        };
        var single = targets.Tags.Count == 1 ? targets.Tags.First() : default;
        if (targets.ExcludeTags.IsEmpty && single.Key is not null && single.Value.Length > 1 && !single.Value.Any(v => v.Contains('*', StringComparison.Ordinal)))
        {
            // Any of several values of one key: ListOfTags entries match when any one does.
            selection["ListOfTags"] = new JsonArray([.. single.Value.Select(v => (JsonNode)new JsonObject
            {
                ["ConditionType"] = "STRINGEQUALS",
                ["ConditionKey"] = single.Key,
                ["ConditionValue"] = v,
            })]);
            return selection;
        }

        var conditions = new JsonObject();
        foreach (var (key, values) in targets.Tags)
        {
            if (values.Length > 1)
            {
                report.Warning("spec.targets.tags." + key, $"AWS Backup conditions all have to match; only the first of the values ({values[0]}) is exported");
            }

            Condition(conditions, values[0].Contains('*', StringComparison.Ordinal) ? "StringLike" : "StringEquals", key, values[0]);
        }

        foreach (var (key, values) in targets.ExcludeTags)
        {
            foreach (var value in values)
            {
                Condition(conditions, value.Contains('*', StringComparison.Ordinal) ? "StringNotLike" : "StringNotEquals", key, value);
            }
        }

        selection["Conditions"] = conditions;
        return selection;
    }

    private static void Condition(JsonObject conditions, string type, string key, string value)
    {
        if (conditions[type] is not JsonArray list)
        {
            conditions[type] = list = [];
        }

        list.Add(new JsonObject { ["ConditionKey"] = "aws:ResourceTag/" + key, ["ConditionValue"] = value });
    }
}
