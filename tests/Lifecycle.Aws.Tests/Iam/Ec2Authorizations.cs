using System.Collections.Immutable;
using Lifecycle.Aws.Tests.Support;

namespace Lifecycle.Aws.Tests.Iam;

/// <summary>
/// The authorizations IAM makes for one EC2 call (one per resource the action touches, as the EC2 service
/// authorization reference lists them for these actions), with the condition keys: aws:RequestTag/* and aws:TagKeys
/// from TagSpecifications or Tag.N, ec2:ResourceTag/* of existing targets, and ec2:CreateAction for the implied
/// CreateTags of a create with tags. A resource that does not exist is authorized without resource tags.
/// </summary>
public static class Ec2Authorizations
{
    public const string Account = "123456789012";

    public static IReadOnlyList<IamRequest> Of(RecordedCall recorded)
    {
        var call = recorded.Call;
        var action = "ec2:" + call.Action;
        var region = call.Region;
        var requestTags = RequestTags(call);
        var p = call.Parameters;
        var list = new List<IamRequest>();
        void Existing(string arn, string id) => list.Add(new IamRequest(action, arn, Context(requestTags, recorded.ResourceTags.GetValueOrDefault(id))));
        void Created(string arn, string createAction)
        {
            list.Add(new IamRequest(action, arn, Context(requestTags, null)));
            if (requestTags.Count > 0)
            {
                list.Add(new IamRequest("ec2:CreateTags", arn, Context(requestTags, null).SetItem("ec2:CreateAction", [createAction])));
            }
        }

        switch (call.Action)
        {
            case var a when a.StartsWith("Describe", StringComparison.Ordinal) || a.StartsWith("List", StringComparison.Ordinal):
                list.Add(new IamRequest(action, "*", ImmutableDictionary<string, ImmutableArray<string>>.Empty));
                break;
            case "CreateSnapshot":
                Existing(Volume(region, p["VolumeId"]), p["VolumeId"]);
                Created(NewSnapshot(region), call.Action);
                break;
            case "CreateSnapshots":
                var instance = p["InstanceSpecification.InstanceId"];
                Existing($"arn:aws:ec2:{region}:{Account}:instance/{instance}", instance);
                Created(NewSnapshot(region), call.Action);
                break;
            case "CopySnapshot":
                Existing(Snapshot(p["SourceRegion"], p["SourceSnapshotId"]), p["SourceSnapshotId"]);
                Created(NewSnapshot(region), call.Action);
                break;
            case "CreateVolume":
                Existing(Snapshot(region, p["SnapshotId"]), p["SnapshotId"]);
                Created($"arn:aws:ec2:{region}:{Account}:volume/*", call.Action);
                break;
            case "DeleteSnapshot" or "ModifySnapshotTier" or "RestoreSnapshotTier" or "RestoreSnapshotFromRecycleBin":
                Existing(Snapshot(region, p["SnapshotId"]), p["SnapshotId"]);
                break;
            case "EnableFastSnapshotRestores" or "DisableFastSnapshotRestores":
                foreach (var id in call.Values("SourceSnapshotId."))
                {
                    Existing(Snapshot(region, id), id);
                }

                break;
            case "CreateTags":
                foreach (var id in call.Values("ResourceId."))
                {
                    Existing(id.StartsWith("snap-", StringComparison.Ordinal) ? Snapshot(region, id) : Volume(region, id), id);
                }

                break;
            default:
                throw new NotSupportedException($"no authorization model for {call.Action}: add it before the provider uses it");
        }

        return list;
    }

    public static string Snapshot(string region, string id) => $"arn:aws:ec2:{region}::snapshot/{id}";

    public static string Volume(string region, string id) => $"arn:aws:ec2:{region}:{Account}:volume/{id}";

    private static string NewSnapshot(string region) => $"arn:aws:ec2:{region}::snapshot/*";

    private static ImmutableDictionary<string, ImmutableArray<string>> Context(
        IReadOnlyDictionary<string, string> requestTags, IReadOnlyDictionary<string, string>? resourceTags)
    {
        var context = ImmutableDictionary.CreateBuilder<string, ImmutableArray<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in requestTags)
        {
            context["aws:RequestTag/" + key] = [value];
        }

        if (requestTags.Count > 0)
        {
            context["aws:TagKeys"] = [.. requestTags.Keys];
        }

        foreach (var (key, value) in resourceTags ?? ImmutableDictionary<string, string>.Empty)
        {
            context["ec2:ResourceTag/" + key] = [value];
        }

        return context.ToImmutable();
    }

    /// <summary>Tags of TagSpecification.N.Tag.M (creates) or Tag.N (CreateTags).</summary>
    private static Dictionary<string, string> RequestTags(Ec2Call call)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, name) in call.Parameters.Where(p => p.Key.EndsWith(".Key", StringComparison.Ordinal)
            && (p.Key.StartsWith("TagSpecification.", StringComparison.Ordinal) || p.Key.StartsWith("Tag.", StringComparison.Ordinal))))
        {
            tags[name] = call.Parameters.GetValueOrDefault(key[..^4] + ".Value", "");
        }

        return tags;
    }
}
