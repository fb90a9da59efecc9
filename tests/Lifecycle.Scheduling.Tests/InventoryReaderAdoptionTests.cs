using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Execution;

namespace Lifecycle.Scheduling.Tests;

public sealed class InventoryReaderAdoptionTests
{
    private static SnapshotPolicy Policy(DlmAdoption? adopt) => new()
    {
        Name = "p1",
        Engine = EngineKind.Local,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("backup", ["yes"]) },
        Schedules = [new Schedule { Name = "daily", Trigger = new CronTrigger("0 2 * * *", "UTC"), Retain = new RetentionRule { Count = 3 } }],
        Adopt = adopt,
    };

    private static SnapshotInfo Tagged(string id, string key, string value) => new()
    {
        Id = id, VolumeId = "vol-1", Region = "r1", StartTime = DateTimeOffset.UnixEpoch, Tags = ImmutableSortedDictionary<string, string>.Empty.Add(key, value),
    };

    [Fact]
    public async Task Read_AddsTheAdoptedDlmPolicysSnapshots_OnlyWhenAPolicyAdoptsIt()
    {
        var provider = new FakeProvider("r1");
        provider.Add(Tagged("snap-ours", OwnershipTags.Policy, "p1"));
        provider.Add(Tagged("snap-dlm", DlmTags.PolicyId, "policy-0123456789abcdef0"));
        provider.Add(Tagged("snap-other-dlm", DlmTags.PolicyId, "policy-0fedcba9876543210"));
        var reader = new InventoryReader(provider);

        var adopting = await reader.ReadAsync(new PolicySet([Policy(new DlmAdoption("policy-0123456789abcdef0"))]));
        var plain = await reader.ReadAsync(new PolicySet([Policy(null)]));

        Assert.Equal(["snap-dlm", "snap-ours"], adopting.Snapshots.Select(s => s.Id).Order(StringComparer.Ordinal));
        Assert.Equal(["snap-ours"], plain.Snapshots.Select(s => s.Id));
    }
}
