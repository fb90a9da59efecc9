using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>resource: instance takes every volume attached to a matching instance, minus the exclusions.</summary>
public class InstanceTargetTests
{
    private const string DlmInstanceSet =
        "DLM: a policy targeting instances snapshots all EBS volumes attached to the instance; ExcludeBootVolume leaves out the root volume; ExcludeDataVolumeTags leaves out data volumes with those tags";

    private static readonly SnapshotPlanner Planner = new();

    private static SnapshotPolicy InstancePolicy(bool excludeBoot = false, string? excludeTag = null, params string[] excludeIds) =>
        Policy("db") with
        {
            Targets = Policy().Targets with
            {
                Resource = ResourceKind.Instance,
                ExcludeBootVolume = excludeBoot,
                ExcludeTags = excludeTag is null
                    ? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty
                    : ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create(excludeTag, ImmutableArray.Create("true"))]),
                ExcludeVolumeIds = [.. excludeIds],
            },
        };

    private static VolumeInfo Attached(string id, string instance, params string[] tags) =>
        Volume(id) with { InstanceId = instance, Tags = Tags(tags) };

    private static ImmutableArray<PlannedAction> Creates(SnapshotPolicy policy, params VolumeInfo[] volumes) =>
        [.. Planner.Plan(Set(policy), InventoryOf(volumes, []), At("2026-11-21T12:00:00Z")).Actions.Where(a => a.Kind == ActionKind.Create)];

    [Fact]
    public void Plan_SnapshotsEveryAttachedVolume_OfAMatchingInstance_NotOnlyTheTaggedOnes()
    {
        // Only vol-data carries the target tag; the instance matches through it, and its set is every attached volume.
        var create = Assert.Single(Creates(InstancePolicy(),
            Attached("vol-root", "i-1") with { IsBoot = true },
            Attached("vol-data", "i-1", "backup", "yes"),
            Attached("vol-logs", "i-1", "role", "logs"),
            Volume("vol-loose") with { Tags = Tags("role", "logs") }));

        Assert.Equal("i-1", create.InstanceId);
        Assert.True(create.VolumeIds.SequenceEqual(["vol-data", "vol-logs", "vol-root"]),
            $"{DlmInstanceSet}; got {string.Join(",", create.VolumeIds)}");
        Assert.False(create.ExcludeBootVolume);
        Assert.Empty(create.ExcludeVolumeIds);
    }

    [Fact]
    public void Plan_LeavesOutTheBootVolume_AndExcludedDataVolumes_AndSaysSoInTheCreate()
    {
        var create = Assert.Single(Creates(InstancePolicy(excludeBoot: true, excludeTag: "scratch", "vol-tmp"),
            Attached("vol-root", "i-1", "backup", "yes") with { IsBoot = true },
            Attached("vol-data", "i-1", "backup", "yes"),
            Attached("vol-logs", "i-1"),
            Attached("vol-scratch", "i-1", "scratch", "true"),
            Attached("vol-tmp", "i-1")));

        Assert.True(create.VolumeIds.SequenceEqual(["vol-data", "vol-logs"]), $"{DlmInstanceSet}; got {string.Join(",", create.VolumeIds)}");
        Assert.True(create.ExcludeBootVolume);
        Assert.Equal(["vol-scratch", "vol-tmp"], create.ExcludeVolumeIds.ToArray());

        var request = CreateSnapshotsRequest.For(create, create.Tags);
        Assert.Equal("i-1", request.InstanceId);
        Assert.True(request.ExcludeBootVolume);
        Assert.Equal(["vol-scratch", "vol-tmp"], request.ExcludeVolumeIds.ToArray());
    }

    [Fact]
    public void Plan_MatchesAnInstance_ByTheInstancesOwnTags()
    {
        // As EC2 reports them (DescribeInstances): none of the volumes carries the target tags, the instance does.
        var instanceTags = Tags("backup", "yes");
        var create = Assert.Single(Creates(InstancePolicy(),
            Attached("vol-a", "i-1") with { InstanceTags = instanceTags },
            Attached("vol-b", "i-1") with { InstanceTags = instanceTags },
            Attached("vol-c", "i-2") with { InstanceTags = Tags("backup", "no") }));

        Assert.Equal("i-1", create.InstanceId);
        Assert.Equal(["vol-a", "vol-b"], create.VolumeIds.ToArray());
    }

    [Fact]
    public void Plan_DoesNotMatchAnInstance_ThroughAVolumeItExcludes()
    {
        var creates = Creates(InstancePolicy(excludeTag: "scratch"),
            Attached("vol-scratch", "i-1", "backup", "yes", "scratch", "true"),
            Attached("vol-data", "i-1"));

        Assert.Empty(creates);
    }

    [Fact]
    public void Plan_IgnoresVolumesOfAnInstance_ThatAreBeingDeleted_OrInAnotherRegion()
    {
        var create = Assert.Single(Creates(InstancePolicy(),
            Attached("vol-data", "i-1", "backup", "yes"),
            Attached("vol-going", "i-1") with { State = VolumeState.Deleting },
            Volume("vol-far", region: "us-east-1") with { InstanceId = "i-1" }));

        Assert.Equal(["vol-data"], create.VolumeIds.ToArray());
    }

    [Fact]
    public void CreateSnapshotsRequest_For_RefusesAVolumeCreate()
    {
        var create = Assert.Single(Creates(Policy(), Volume()));
        Assert.Throws<ArgumentException>(() => CreateSnapshotsRequest.For(create, create.Tags));
    }
}
