using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Tests.Planning;

/// <summary>
/// Safety invariants over random policies and inventories (seeded, so a failure names its seed): whatever the rules,
/// the planner never deletes what it does not own, never deletes the newest completed snapshot of a volume, never
/// deletes an archived snapshot before its 90 days or its archive age (both counted from when it entered the
/// archive tier), decides about every owned snapshot exactly once, and gives the
/// same plan for a shuffled inventory.
/// </summary>
public class PlannerPropertyTests
{
    private static readonly DateTimeOffset Now = Build.At("2026-11-21T12:00:00Z");

    [Fact]
    public void Plan_KeepsItsSafetyInvariants_ForRandomPoliciesAndInventories()
    {
        for (var seed = 1; seed <= 300; seed++)
        {
            var random = new Random(seed);
            var policies = Enumerable.Range(0, random.Next(1, 4)).Select(i => RandomPolicy(random, $"p{i}")).ToArray();
            var volumes = Enumerable.Range(0, random.Next(1, 6)).Select(v => Build.Volume($"vol-{v}") with
            {
                Tags = Build.Tags("backup", random.Next(4) == 0 ? "no" : "yes"),
                InstanceId = $"i-{v % 2}",
            }).ToList();
            var snapshots = RandomSnapshots(random, policies, volumes.Select(v => v.Id).Append("vol-gone").ToArray());
            var inventory = Build.InventoryOf(volumes, snapshots);
            var plan = new SnapshotPlanner().Plan(new PolicySet([.. policies]), inventory, Now);

            var byId = snapshots.ToDictionary(s => s.Id);
            var owned = snapshots.Where(s => s.Tags.TryGetValue(OwnershipTags.Policy, out var p) && policies.Any(x => x.Name == p)).ToList();
            foreach (var action in plan.Actions.Where(a => a.Kind is ActionKind.Delete or ActionKind.Archive))
            {
                var target = byId[action.SnapshotId!];
                Assert.True(target.Tags.GetValueOrDefault(OwnershipTags.Policy) == action.Policy, $"seed {seed}: {action.Kind} of a snapshot {action.Policy} does not own");
                if (target.Tier == StorageTier.Archive)
                {
                    Assert.True(target.ArchivedAt is { } at && at.AddDays(90) <= Now, $"seed {seed}: archived snapshot {target.Id} deleted before 90 days");
                    var schedule = policies.Single(p => p.Name == action.Policy).Schedules.FirstOrDefault(x => x.Name == target.Tags[OwnershipTags.Schedule]);
                    // (a failed snapshot is released whatever its tier; only completed ones are judged by the archive rule)
                    if (action.Kind == ActionKind.Delete && target.State == SnapshotState.Completed && target.SourceSnapshotId is null
                        && schedule?.Archive?.Retain.Age is { } age)
                    {
                        var from = target.ArchivedAt!.Value > target.StartTime ? target.ArchivedAt.Value : target.StartTime;
                        Assert.True(age.AddTo(from) <= Now,
                            $"seed {seed}: archived snapshot {target.Id} deleted before its archive age {age} ended (DLM: archive retention is measured from the time the snapshot is moved to the archive tier)");
                    }
                }
            }

            var keepingLatest = policies.Where(p => p.Safety.KeepLatest >= 1).Select(p => p.Name).ToHashSet();
            foreach (var group in owned.Where(s => s.State == SnapshotState.Completed && keepingLatest.Contains(s.Tags[OwnershipTags.Policy]))
                         .GroupBy(s => (s.Region, s.VolumeId, s.Tags[OwnershipTags.Policy])))
            {
                var newest = group.OrderByDescending(s => s.StartTime).ThenBy(s => s.Id, StringComparer.Ordinal).First();
                Assert.False(plan.Actions.Any(a => a.Kind == ActionKind.Delete && a.SnapshotId == newest.Id), $"seed {seed}: the newest snapshot {newest.Id} is deleted despite keepLatest");
            }

            Assert.Equal(owned.Select(s => s.Id).Order(StringComparer.Ordinal), plan.Decisions.Select(d => d.SnapshotId).Order(StringComparer.Ordinal));
            Assert.All(plan.Decisions, d => Assert.NotEmpty(d.Reasons));

            var shuffled = inventory with { Snapshots = [.. snapshots.OrderBy(_ => random.Next())], Volumes = [.. volumes.OrderBy(_ => random.Next())] };
            var again = new SnapshotPlanner().Plan(new PolicySet([.. policies.Reverse()]), shuffled, Now);
            Assert.Equal(PlanJsonWriter.Write(plan), PlanJsonWriter.Write(again));
        }
    }

    private static SnapshotPolicy RandomPolicy(Random random, string name)
    {
        RetentionRule Rule() => new RetentionRule
        {
            Count = random.Next(3) == 0 ? random.Next(1, 6) : null,
            Age = random.Next(3) == 0 ? PolicyDuration.Days(random.Next(1, 10)) : null,
            Buckets = random.Next(3) == 0 ? new RetentionBuckets { Daily = random.Next(0, 4), Weekly = random.Next(0, 3), Monthly = random.Next(0, 2) } : null,
            Minimum = random.Next(4) == 0 ? random.Next(1, 4) : null,
        } is var r && r.IsEmpty ? r with { Count = 2 } : r;

        var schedules = Enumerable.Range(0, random.Next(1, 3)).Select(i => new Schedule
        {
            Name = $"s{i}",
            Trigger = random.Next(2) == 0 ? new CronTrigger("0 2 * * *", "UTC") : new IntervalTrigger(PolicyDuration.Hours(6), new TimeOnly(0, 0)),
            Retain = Rule(),
            Archive = random.Next(4) == 0 ? new ArchiveRule { After = random.Next(2) == 0 ? new ArchiveAfter(2, null) : null, Retain = random.Next(2) == 0 ? new RetentionRule { Count = 1 } : new RetentionRule { Age = PolicyDuration.Days(random.Next(90, 300)) } } : null,
            Copies = random.Next(4) == 0 ? [new CopyRule { Region = "eu-central-1", Retain = Rule() }] : [],
            FastRestore = random.Next(4) == 0 ? new FastRestoreRule { Zones = ["eu-west-1a"], Count = 1 } : null,
        }).ToImmutableArray();
        return Build.Policy(name) with
        {
            Schedules = schedules,
            Enabled = random.Next(8) != 0,
            Targets = Build.Policy().Targets with { Resource = random.Next(4) == 0 ? ResourceKind.Instance : ResourceKind.Volume },
            Safety = new SafetyRules
            {
                KeepLatest = random.Next(0, 3),
                MaxDeletesPerRun = random.Next(3) == 0 ? new DeleteLimit(random.Next(1, 4), random.Next(2) == 0) : null,
            },
        };
    }

    private static List<SnapshotInfo> RandomSnapshots(Random random, SnapshotPolicy[] policies, string[] volumes)
    {
        var snapshots = new List<SnapshotInfo>();
        var count = random.Next(0, 40);
        for (var i = 0; i < count; i++)
        {
            var volume = volumes[random.Next(volumes.Length)];
            var fire = Now.AddHours(-6 * random.Next(0, 200));
            var id = $"snap-{i:D3}";
            var kind = random.Next(10);
            if (kind == 0)
            {
                snapshots.Add(new SnapshotInfo { Id = id, VolumeId = volume, Region = "eu-west-1", StartTime = fire });
                continue;
            }

            var policy = kind == 1 ? "stranger" : policies[random.Next(policies.Length)].Name;
            var schedule = kind == 2 ? "removed" : $"s{random.Next(2)}";
            var snapshot = Build.Owned(id, OwnershipTags.FormatFireTime(fire), policy: policy, schedule: schedule, volume: volume) with
            {
                State = random.Next(8) switch { 0 => SnapshotState.Pending, 1 => SnapshotState.Error, _ => SnapshotState.Completed },
            };
            if (random.Next(6) == 0)
            {
                // Archived some time after it started, which may be long before the archive time.
                DateTimeOffset? archivedAt = random.Next(3) == 0 ? null : Now.AddDays(-random.Next(0, 200));
                snapshot = snapshot with
                {
                    Tier = StorageTier.Archive,
                    ArchivedAt = archivedAt,
                    StartTime = archivedAt is { } at ? at.AddDays(-random.Next(0, 400)) : snapshot.StartTime,
                };
            }

            if (random.Next(6) == 0)
            {
                snapshot = snapshot with
                {
                    Region = "eu-central-1",
                    SourceSnapshotId = "snap-src",
                    SourceRegion = "eu-west-1",
                    Tags = snapshot.Tags.SetItem(OwnershipTags.SourceSnapshot, "snap-src"),
                };
            }

            if (random.Next(5) == 0)
            {
                snapshot = snapshot with { FastRestore = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("eu-west-1a", FastRestoreState.Enabled)]) };
            }

            snapshots.Add(snapshot);
        }

        return snapshots;
    }
}
