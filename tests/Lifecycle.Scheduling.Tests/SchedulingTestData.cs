using System.Collections.Immutable;
using Lifecycle.Core.Planning;

namespace Lifecycle.Scheduling.Tests;

/// <summary>Test data shared by the executor and pause tests.</summary>
internal static class SchedulingTestData
{
    /// <summary>A create of policy p1, schedule s1 in region r1 for one volume, with its ownership tags and token.</summary>
    public static PlannedAction Create(string volume, DateTimeOffset fire)
    {
        var token = CreationToken.ForCreate("p1", "s1", fire, volume);
        return new PlannedAction
        {
            Kind = ActionKind.Create,
            Policy = "p1",
            Schedule = "s1",
            Region = "r1",
            VolumeIds = [volume],
            FireTime = fire,
            Token = token,
            Tags = ImmutableSortedDictionary<string, string>.Empty
                .Add(OwnershipTags.Policy, "p1").Add(OwnershipTags.Schedule, "s1").Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire)).Add(OwnershipTags.Token, token),
            Reason = "due",
        };
    }
}
