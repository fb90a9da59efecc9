using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Retention;
using Lifecycle.Core.Scheduling;

namespace Lifecycle.Core.Planning;

/// <summary>
/// The planner: a pure function of the policies, the inventory and <c>now</c>. It decides what to create, copy,
/// archive, fast-restore-enable/disable and delete, and explains every owned snapshot's fate. No I/O, no clock reads;
/// the same inputs always give the same plan (see <see cref="Planning.Plan"/> for the order).
/// </summary>
/// <remarks>
/// Only snapshots tagged <c>lifecycle:policy</c> = a policy of the set are ever considered for deletion, and only by
/// that policy. Anything the rules cannot judge (a schedule or copy rule no longer in the policy, an archived snapshot
/// without an archive rule) is kept, with a reason saying so.
/// </remarks>
public sealed partial class SnapshotPlanner
{
    private static readonly TimeSpan ArchiveMinimum = TimeSpan.FromDays(90);

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SnapshotInfo, OwnershipBox>? ownershipCache;

    /// <summary>A planner.</summary>
    /// <param name="cacheOwnershipTags">
    /// Remember each snapshot's parsed ownership tags per <see cref="SnapshotInfo"/> instance (records are immutable).
    /// For callers that plan mostly the same snapshot objects again and again (simulate, a reconcile loop); a single
    /// plan of a large inventory is faster without it.
    /// </param>
    public SnapshotPlanner(bool cacheOwnershipTags = false)
    {
        ownershipCache = cacheOwnershipTags ? new() : null;
    }

    /// <summary>
    /// Only the creates due at <paramref name="now"/> (what a fired schedule runs first); the same creates
    /// <see cref="Plan"/> would list, without the retention work.
    /// </summary>
    public ImmutableArray<PlannedAction> DueCreates(PolicySet policies, Inventory.Inventory inventory, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(inventory);
        var index = new PlanIndex(inventory, ownershipCache);
        var contested = ContestedAdoptions(policies);
        var actions = new List<PlannedAction>();
        foreach (var policy in policies.Policies.Where(p => p.Enabled).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            var start = actions.Count;
            new PolicyRun(policy, index, now, actions, [], [], contested).PlanCreatesOnly();
            StampEngine(actions, start, policy.Engine);
        }

        actions.Sort(CompareActions);
        return [.. actions];
    }

    public Plan Plan(PolicySet policies, Inventory.Inventory inventory, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(inventory);
        var index = new PlanIndex(inventory, ownershipCache);

        // Policies are independent (the index is read-only once built, and every owned snapshot belongs to one policy),
        // so they are planned in parallel and their outputs joined in policy-name order: the plan stays deterministic.
        var ordered = policies.Policies.OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
        var contested = ContestedAdoptions(policies);
        var outputs = new PolicyOutput[ordered.Length];
        Parallel.For(0, ordered.Length, i =>
        {
            var output = new PolicyOutput([], [], []);
            new PolicyRun(ordered[i], index, now, output.Actions, output.Decisions, output.Notes, contested).Run();
            StampEngine(output.Actions, 0, ordered[i].Engine);
            outputs[i] = output;
        });

        var actions = new List<PlannedAction>(outputs.Sum(o => o.Actions.Count));
        var decisions = new List<SnapshotDecision>(outputs.Sum(o => o.Decisions.Count));
        var notes = new List<PlanNote>();
        foreach (var output in outputs)
        {
            actions.AddRange(output.Actions);
            decisions.AddRange(output.Decisions);
            notes.AddRange(output.Notes);
        }

        foreach (var owner in index.OwningPolicies.Where(name => policies.Find(name) is null).Order(StringComparer.Ordinal))
        {
            var count = index.OwnedBy(owner).Count;
            notes.Add(new PlanNote(owner, string.Create(CultureInfo.InvariantCulture,
                $"{count} snapshot(s) carry lifecycle:policy={owner}, a policy not in this set; they are left alone")));
        }

        // Decisions come out in their final order (policy, region, volume, newest first); only actions need sorting.
        actions.Sort(CompareActions);
        return new Plan(now, [.. actions], [.. decisions],
            [.. notes.Select((n, i) => (n, i)).OrderBy(x => x.n.Policy, StringComparer.Ordinal).ThenBy(x => x.i).Select(x => x.n)]);
    }

    /// <summary>
    /// Joins plans of disjoint policy sets made at one instant (the server plans each engine's policies against that
    /// engine's inventory) into the plan one call over all of them would have given: actions, decisions and notes in
    /// policy order.
    /// </summary>
    public static Plan Merge(DateTimeOffset now, IReadOnlyList<Plan> plans)
    {
        ArgumentNullException.ThrowIfNull(plans);
        if (plans.Count == 1)
        {
            return plans[0];
        }

        var actions = plans.SelectMany(p => p.Actions).ToList();
        actions.Sort(CompareActions);
        // Within one plan decisions and notes are in policy order already; a stable sort by policy keeps theirs.
        return new Plan(now, [.. actions],
            [.. plans.SelectMany(p => p.Decisions).OrderBy(d => d.Policy, StringComparer.Ordinal)],
            [.. plans.SelectMany(p => p.Notes).OrderBy(n => n.Policy, StringComparer.Ordinal)]);
    }

    /// <summary>
    /// DLM policies that more than one policy of the set adopts: none of them adopts (a snapshot has one owner, or two
    /// policies could delete it for different rules).
    /// </summary>
    private static HashSet<string> ContestedAdoptions(PolicySet policies) =>
        policies.Policies.Where(p => p.Adopt is not null).GroupBy(p => p.Adopt!.DlmPolicyId, StringComparer.Ordinal)
            .Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);

    private static void StampEngine(List<PlannedAction> actions, int start, EngineKind engine)
    {
        for (var i = start; i < actions.Count; i++)
        {
            actions[i] = actions[i] with { Engine = engine };
        }
    }

    private static int CompareActions(PlannedAction a, PlannedAction b)
    {
        var c = string.CompareOrdinal(a.Policy, b.Policy);
        if (c == 0) c = a.Kind.CompareTo(b.Kind);
        if (c == 0) c = string.CompareOrdinal(a.Region, b.Region);
        if (c == 0) c = string.CompareOrdinal(a.InstanceId ?? a.VolumeIds.FirstOrDefault(), b.InstanceId ?? b.VolumeIds.FirstOrDefault());
        if (c == 0) c = string.CompareOrdinal(a.SnapshotId, b.SnapshotId);
        if (c == 0) c = Nullable.Compare(a.FireTime, b.FireTime);
        if (c == 0) c = string.CompareOrdinal(a.Token, b.Token);
        return c;
    }

    /// <summary>One create target: a volume, or an instance's set with what it deliberately leaves out.</summary>
    private sealed record CreateTarget(
        string TargetId, string? InstanceId, List<VolumeInfo> Volumes, bool ExcludeBootVolume, ImmutableArray<string> ExcludeVolumeIds);

    private sealed record PolicyOutput(List<PlannedAction> Actions, List<SnapshotDecision> Decisions, List<PlanNote> Notes);

    /// <summary>The planning of one policy.</summary>
    private sealed partial class PolicyRun(
        SnapshotPolicy policy,
        PlanIndex index,
        DateTimeOffset now,
        List<PlannedAction> actions,
        List<SnapshotDecision> decisions,
        List<PlanNote> notes,
        IReadOnlySet<string> contestedAdoptions)
    {
        private readonly Dictionary<string, Schedule> schedules = policy.Schedules.ToDictionary(s => s.Name, StringComparer.Ordinal);
        private List<OwnedSnapshot> owned = index.OwnedBy(policy.Name);
        private readonly string keepLatestReason = string.Create(CultureInfo.InvariantCulture, $"keepLatest {policy.Safety.KeepLatest}");

        public void Run()
        {
            Adopt();
            var byKey = new Dictionary<(string Region, string VolumeId, bool IsCopy), List<OwnedSnapshot>>();
            foreach (var snapshot in owned)
            {
                var key = (snapshot.Info.Region, snapshot.SeriesVolumeId, snapshot.IsCopy);
                if (!byKey.TryGetValue(key, out var list))
                {
                    byKey[key] = list = [];
                }

                list.Add(snapshot);
            }

            var groups = byKey.Select(g => (g.Key, Members: g.Value)).ToList();
            groups.Sort((a, b) =>
            {
                var c = string.CompareOrdinal(a.Key.Region, b.Key.Region);
                if (c == 0) c = string.CompareOrdinal(a.Key.VolumeId, b.Key.VolumeId);
                return c != 0 ? c : a.Key.IsCopy.CompareTo(b.Key.IsCopy);
            });
            foreach (var (_, members) in groups)
            {
                SortNewestFirst(members);
            }

            NoteSnapshotsWithoutToken();
            if (!policy.Enabled)
            {
                notes.Add(new PlanNote(policy.Name, "policy is disabled: nothing is created, copied, archived or deleted"));
                foreach (var snapshot in owned)
                {
                    snapshot.Verdict = SnapshotVerdict.Kept;
                    snapshot.DecisionReasons = ["policy disabled"];
                }

                EmitDecisions(groups);
                return;
            }

            PlanCreates();
            NoteArchivedWithoutArchiveTime();
            var targeted = TargetedVolumeIds();

            foreach (var (key, members) in groups)
            {
                if (key.IsCopy)
                {
                    EvaluateCopies(key.Region, members);
                }
                else
                {
                    EvaluateSources(members);
                    if (!index.VolumesById.TryGetValue(key.VolumeId, out var volume) || volume.State is VolumeState.Deleted)
                    {
                        notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                            $"volume {key.VolumeId} ({key.Region}) no longer exists: its {members.Count} snapshot(s) stay under the retention rules; nothing new is created for it")));
                    }
                    else if (!targeted.Contains(key.VolumeId))
                    {
                        notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                            $"volume {key.VolumeId} ({key.Region}) no longer matches the targets of policy {policy.Name}: its {members.Count} snapshot(s) are still retained by the policy rules (kept or released by them); nothing new is created for it")));
                    }
                }
            }

            foreach (var (key, members) in groups.Where(g => !g.Key.IsCopy))
            {
                PlanCopies(key.Region, members);
                PlanFastRestore(key.Region, members);
            }

            PlanArchivesAndDeletes();
            EmitDecisions(groups);
        }

        /// <summary>
        /// Notes owned snapshots without a lifecycle:token tag (made by hand or by an older tool): the rules still retain
        /// them, but nothing can find them by token, so no copy is made from them and a copy without one may be made twice.
        /// </summary>
        private void NoteSnapshotsWithoutToken()
        {
            var missing = owned.Where(o => o.Token is null && o.AdoptedFrom is null).Select(o => o.Info.Id).Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
            {
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"{missing.Count} owned snapshot(s) carry no {OwnershipTags.Token} tag ({ListSome(missing)}): they are still retained by the policy rules (kept or released by them), but nothing is copied from them and a retried creation or copy cannot find them by token")));
            }
        }

        /// <summary>Notes archived snapshots whose archive time is unknown (old data): they are kept, never deleted by archive age.</summary>
        private void NoteArchivedWithoutArchiveTime()
        {
            var unknown = owned.Where(o => o.IsCompleted && !o.IsStandard && o.Info.ArchivedAt is null)
                .Select(o => o.Info.Id).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0)
            {
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"{unknown.Count} archived snapshot(s) have no known archive time ({ListSome(unknown)}): archive age and the 90-day minimum count from it, so they are kept until the inventory reports it")));
            }
        }

        private static string ListSome(List<string> ids) =>
            ids.Count <= 5 ? string.Join(", ", ids) : string.Join(", ", ids.Take(5)) + string.Create(CultureInfo.InvariantCulture, $", and {ids.Count - 5} more");

        private static void SortNewestFirst(List<OwnedSnapshot> members) => SortByStartTime(members, newestFirst: true);

        private static readonly IComparer<OwnedSnapshot> ById =
            Comparer<OwnedSnapshot>.Create((a, b) => string.CompareOrdinal(a.Info.Id, b.Info.Id));

        /// <summary>
        /// Sorts by start time (newest or oldest first), then id, by a primitive key (a plan sorts a million snapshots;
        /// a comparison delegate over records costs several times more). Equal start times are then ordered by id.
        /// </summary>
        private static void SortByStartTime(List<OwnedSnapshot> snapshots, bool newestFirst)
        {
            if (snapshots.Count < 2)
            {
                return;
            }

            var keys = new long[snapshots.Count];
            var items = snapshots.ToArray();
            for (var i = 0; i < items.Length; i++)
            {
                keys[i] = newestFirst ? -items[i].Info.StartTime.UtcTicks : items[i].Info.StartTime.UtcTicks;
            }

            Array.Sort(keys, items);
            for (var i = 0; i < items.Length;)
            {
                var end = i + 1;
                while (end < items.Length && keys[end] == keys[i])
                {
                    end++;
                }

                if (end - i > 1)
                {
                    Array.Sort(items, i, end - i, ById);
                }

                i = end;
            }

            snapshots.Clear();
            snapshots.AddRange(items);
        }

        /// <summary>Decisions in plan order: region, volume, newest first (a volume's copies and sources interleave by time).</summary>
        private void EmitDecisions(List<((string Region, string VolumeId, bool IsCopy) Key, List<OwnedSnapshot> Members)> groups)
        {
            for (var i = 0; i < groups.Count; i++)
            {
                var members = groups[i].Members;
                if (i + 1 < groups.Count && groups[i + 1].Key.Region == groups[i].Key.Region && groups[i + 1].Key.VolumeId == groups[i].Key.VolumeId)
                {
                    members = [.. members, .. groups[++i].Members];
                    SortNewestFirst(members);
                }

                foreach (var snapshot in members)
                {
                    var reasons = snapshot.DecisionReasons;
                    if (reasons.IsDefault)
                    {
                        // Kept (the verdict's default): its own reasons.
                        reasons = snapshot.HasOneReason ? Single(snapshot.FirstReason!) : snapshot.KeepReasonArray();
                    }

                    decisions.Add(new SnapshotDecision(
                        policy.Name,
                        snapshot.Info.Id,
                        snapshot.Info.Region,
                        snapshot.SeriesVolumeId,
                        snapshot.Schedules.Length > 0 ? snapshot.Schedules[0] : null,
                        snapshot.Info.StartTime,
                        snapshot.Verdict,
                        reasons) { AdoptedFrom = snapshot.AdoptedFrom, Adoption = snapshot.Adoption });
                }
            }
        }

        private bool CarriesKnownSchedule(OwnedSnapshot snapshot)
        {
            foreach (var name in snapshot.Schedules)
            {
                if (schedules.ContainsKey(name))
                {
                    return true;
                }
            }

            return false;
        }

        private List<Schedule> CarriedSchedules(OwnedSnapshot snapshot)
        {
            var carried = new List<Schedule>(snapshot.Schedules.Length);
            foreach (var name in snapshot.Schedules)
            {
                if (schedules.TryGetValue(name, out var schedule))
                {
                    carried.Add(schedule);
                }
            }

            return carried;
        }

        // ---------------------------------------------------------------------------------------------- creates

        public void PlanCreatesOnly()
        {
            Adopt();
            PlanCreates();
        }

        private void PlanCreates()
        {
            var fires = policy.Schedules
                .Select(s => (Schedule: s, Fire: ScheduleCalendar.For(s.Trigger).LatestAtOrBefore(now)))
                .Where(x => x.Fire is not null)
                .Select(x => (x.Schedule, Fire: x.Fire!.Value, FireText: OwnershipTags.FormatFireTime(x.Fire!.Value)))
                .ToList();
            if (fires.Count == 0)
            {
                return;
            }

            // Which (volume, fire time) pairs already have a live snapshot, and for which schedules.
            var existing = new Dictionary<(string Volume, string Fire), List<OwnedSnapshot>>();
            var fireTexts = fires.Select(f => f.FireText).ToHashSet(StringComparer.Ordinal);
            foreach (var snapshot in owned)
            {
                // Only snapshots taken for one of the current fire times matter.
                if (!snapshot.IsCopy && snapshot.FireTime is not null && fireTexts.Contains(snapshot.FireTime) && snapshot.Info.State != SnapshotState.Error)
                {
                    var key = (snapshot.Info.VolumeId, snapshot.FireTime);
                    if (!existing.TryGetValue(key, out var list))
                    {
                        existing[key] = list = [];
                    }

                    list.Add(snapshot);
                }
            }

            var covering = AdoptedCovering(fires.Select(f => (f.Schedule, f.Fire)));
            bool Taken(List<VolumeInfo> volumes, (Schedule Schedule, DateTimeOffset Fire, string FireText) fire)
            {
                foreach (var volume in volumes)
                {
                    if (existing.TryGetValue((volume.Id, fire.FireText), out var list) && list.Exists(o => o.Carries(fire.Schedule.Name)))
                    {
                        return true;
                    }

                    if (covering.Contains((volume.Id, fire.Schedule.Name)))
                    {
                        return true;
                    }
                }

                return false;
            }

            foreach (var target in Targets())
            {
                var volumes = target.Volumes;
                if (fires.Count == 1)
                {
                    // The common case (one schedule): no grouping needed.
                    if (!Taken(volumes, fires[0]))
                    {
                        actions.Add(BuildCreate(target, [fires[0].Schedule], fires[0].Fire));
                    }

                    continue;
                }

                var due = fires.Where(f => !Taken(volumes, f)).GroupBy(f => f.Fire);
                foreach (var simultaneous in due)
                {
                    var merged = simultaneous.Select(f => f.Schedule).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
                    actions.Add(BuildCreate(target, merged, simultaneous.Key));
                }
            }
        }

        private List<CreateTarget>? targets;

        /// <summary>What the policy targets now: one volume each, or one crash-consistent set per matching instance.</summary>
        private List<CreateTarget> Targets() => targets ??= [.. FindTargets()];

        private IEnumerable<CreateTarget> FindTargets()
        {
            var selector = TargetMatcher.Compile(policy);
            if (policy.Targets.Resource == ResourceKind.Volume)
            {
                foreach (var volume in index.Volumes.Where(selector.Matches).OrderBy(v => v.Id, StringComparer.Ordinal))
                {
                    yield return new CreateTarget(volume.Id, null, [volume], false, []);
                }

                yield break;
            }

            // DLM: a policy targeting instances snapshots all EBS volumes attached to a matching instance, not only
            // the ones that carry the target tags; ExcludeBootVolume and ExcludeDataVolumeTags leave volumes out.
            foreach (var set in selector.InstanceSets(index.Volumes))
            {
                yield return new CreateTarget(set.InstanceId, set.InstanceId, [.. set.Volumes], set.ExcludeBootVolume, set.ExcludeVolumeIds);
            }
        }

        /// <summary>The volumes the policy targets now (to note owned snapshots of volumes it no longer targets).</summary>
        private HashSet<string> TargetedVolumeIds()
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var target in Targets())
            {
                foreach (var volume in target.Volumes)
                {
                    ids.Add(volume.Id);
                }
            }

            return ids;
        }

        private PlannedAction BuildCreate(CreateTarget target, List<Schedule> merged, DateTimeOffset fire)
        {
            var (targetId, instanceId, volumes) = (target.TargetId, target.InstanceId, target.Volumes);
            var first = merged[0].Name;
            var names = string.Join(',', merged.Select(s => s.Name));
            var token = CreationToken.ForCreate(policy.Name, first, fire, targetId);
            var fireText = OwnershipTags.FormatFireTime(fire);
            var single = volumes.Count == 1 && instanceId is null ? volumes[0] : null;
            var tags = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            if (policy.CopyVolumeTags && single is not null)
            {
                foreach (var (key, value) in single.Tags)
                {
                    if (!key.StartsWith("aws:", StringComparison.Ordinal) && !key.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal))
                    {
                        tags[key] = value;
                    }
                }
            }

            // $(volume-id) of an instance set is per volume: the executor expands it when it tags each snapshot.
            string Expand(string value) => value
                .Replace("$(policy)", policy.Name, StringComparison.Ordinal)
                .Replace("$(schedule)", first, StringComparison.Ordinal)
                .Replace("$(timestamp)", fireText, StringComparison.Ordinal)
                .Replace("$(instance-id)", instanceId ?? single?.InstanceId ?? string.Empty, StringComparison.Ordinal)
                .Replace("$(volume-id)", single?.Id ?? "$(volume-id)", StringComparison.Ordinal);

            foreach (var (key, value) in policy.Tags)
            {
                tags[key] = Expand(value);
            }

            foreach (var schedule in merged)
            {
                foreach (var (key, value) in schedule.Tags)
                {
                    tags[key] = Expand(value);
                }
            }

            tags[OwnershipTags.Policy] = policy.Name;
            tags[OwnershipTags.Schedule] = first;
            tags[OwnershipTags.Schedules] = names;
            tags[OwnershipTags.FireTime] = fireText;
            tags[OwnershipTags.Token] = token;
            if (instanceId is not null)
            {
                tags[OwnershipTags.Instance] = instanceId;
            }

            var what = merged.Count == 1 ? $"schedule {first} fired" : $"schedules {string.Join(", ", merged.Select(s => s.Name))} fired together";
            return new PlannedAction
            {
                Kind = ActionKind.Create,
                Policy = policy.Name,
                Schedule = first,
                Schedules = [.. merged.Select(s => s.Name)],
                Region = volumes[0].Region,
                VolumeIds = [.. volumes.Select(v => v.Id)],
                InstanceId = instanceId,
                ExcludeBootVolume = target.ExcludeBootVolume,
                ExcludeVolumeIds = target.ExcludeVolumeIds,
                FireTime = fire,
                Token = token,
                Tags = tags.ToImmutable(),
                Reason = $"{what} at {fireText}; no snapshot for it yet{LeftOut(target)}",
            };
        }

        /// <summary>What an instance set leaves out, for the create's reason ("; left out: boot volume, vol-scratch").</summary>
        private static string LeftOut(CreateTarget target)
        {
            if (target.InstanceId is null || (!target.ExcludeBootVolume && target.ExcludeVolumeIds.IsDefaultOrEmpty))
            {
                return string.Empty;
            }

            IEnumerable<string> parts = target.ExcludeBootVolume ? ["boot volume", .. target.ExcludeVolumeIds] : target.ExcludeVolumeIds;
            return "; left out: " + string.Join(", ", parts);
        }

        // ---------------------------------------------------------------------------------------------- retention

        /// <summary>The completed snapshots of one schedule in one tier, newest first (members are sorted so).</summary>
        private static List<OwnedSnapshot> Series(List<OwnedSnapshot> members, string schedule, bool? standardTier, List<OwnedSnapshot> series)
        {
            series.Clear();
            foreach (var o in members)
            {
                if (o.IsCompleted && (standardTier is null || o.IsStandard == standardTier) && o.Carries(schedule))
                {
                    series.Add(o);
                }
            }

            return series;
        }

        private readonly List<DateTimeOffset> times = [];

        // Scratch lists for one series at a time (a list is filled, used, and dropped before the next fill).
        private readonly List<OwnedSnapshot> seriesA = [];
        private readonly List<OwnedSnapshot> seriesB = [];

        /// <summary>Applies a retention rule to a series, adding the reasons to each snapshot it keeps.</summary>
        private void KeepBy(RetentionRule rule, List<OwnedSnapshot> series, Schedule schedule, string extraPrefix)
        {
            times.Clear();
            foreach (var o in series)
            {
                times.Add(o.Info.StartTime);
            }

            RetentionEvaluator.Evaluate(rule, times, now, (i, reason) =>
            {
                var prefix = Prefix(series[i], schedule);
                series[i].AddKeepReason(prefix.Length == 0 && extraPrefix.Length == 0 ? reason : string.Concat(prefix, extraPrefix, reason));
            });
        }

        /// <summary>
        /// Applies an archive-tier retention rule. As in Amazon DLM, an archive <c>age</c> counts from the moment the
        /// snapshot entered the archive tier (<see cref="SnapshotInfo.ArchivedAt"/>), not from its start time; count and
        /// buckets still order and bucket archived snapshots by start time (the point in time of their data).
        /// </summary>
        private void KeepArchivedBy(RetentionRule rule, List<OwnedSnapshot> archived, Schedule schedule)
        {
            if (rule.Age is not { } age)
            {
                KeepBy(rule, archived, schedule, "archive ");
                return;
            }

            // Rule order as everywhere: count, age, buckets.
            if (rule.Count is not null)
            {
                KeepBy(rule with { Age = null, Buckets = null, Minimum = null }, archived, schedule, "archive ");
            }

            foreach (var snapshot in archived)
            {
                var prefix = Prefix(snapshot, schedule);
                if (snapshot.Info.ArchivedAt is not { } archivedAt)
                {
                    // Old data without an archive time: its archive age cannot be judged, so it is kept (and noted).
                    snapshot.AddKeepReason($"{prefix}archive age {age}: archive time unknown (kept)");
                    continue;
                }

                // Never earlier than an age counted from the start time would release it (an archive time before the
                // start time is bad data).
                var from = archivedAt > snapshot.Info.StartTime ? archivedAt : snapshot.Info.StartTime;
                var until = age.AddTo(from);
                if (until > now)
                {
                    snapshot.AddKeepReason(
                        $"{prefix}archive age {age} from archiving at {OwnershipTags.FormatFireTime(archivedAt)} (until {OwnershipTags.FormatFireTime(until)})");
                }
            }

            if (rule.Buckets is not null)
            {
                KeepBy(rule with { Count = null, Age = null, Minimum = null }, archived, schedule, "archive ");
            }
        }

        private string Prefix(OwnedSnapshot snapshot, Schedule schedule)
        {
            if (snapshot.Schedules.Length < 2)
            {
                return string.Empty;
            }

            var known = 0;
            foreach (var name in snapshot.Schedules)
            {
                known += schedules.ContainsKey(name) ? 1 : 0;
            }

            return known > 1 ? schedule.Name + ": " : string.Empty;
        }

        /// <summary>
        /// What the rules do not judge: pending snapshots are kept, failed ones released, and ones whose schedules are
        /// no longer in the policy kept with a reason saying so.
        /// </summary>
        private void TriageUnjudgeable(OwnedSnapshot snapshot, string failedReason)
        {
            if (snapshot.Info.State == SnapshotState.Pending)
            {
                snapshot.AddKeepReason("pending (not yet complete)");
            }
            else if (snapshot.Info.State == SnapshotState.Error)
            {
                snapshot.Outcome = SnapshotOutcome.Released;
                snapshot.OutcomeReason = failedReason;
            }
            else if (!CarriesKnownSchedule(snapshot))
            {
                snapshot.AddKeepReason(snapshot.Schedules.Length == 0
                    ? "no lifecycle:schedule tag (kept; the rules cannot judge it)"
                    : $"schedule {string.Join(", ", snapshot.Schedules)} is not in the policy (kept; the rules cannot judge it)");
            }
        }

        private void EvaluateSources(List<OwnedSnapshot> members)
        {
            foreach (var snapshot in members)
            {
                TriageUnjudgeable(snapshot, "released: creation failed (state error)");
            }

            foreach (var schedule in policy.Schedules)
            {
                var standard = Series(members, schedule.Name, standardTier: true, seriesA);
                KeepBy(schedule.Retain, standard, schedule, string.Empty);
                for (var i = 0; i < standard.Count; i++)
                {
                    if (schedule.Archive?.After is { } after && standard[i].ArchiveBy is null)
                    {
                        if (after.Count is { } n && i >= n)
                        {
                            standard[i].ArchiveBy = string.Create(CultureInfo.InvariantCulture, $"archive after count {n} (number {i + 1})");
                        }
                        else if (after.Age is { } age && age.AddTo(standard[i].Info.StartTime) <= now)
                        {
                            standard[i].ArchiveBy = $"archive after age {age}";
                        }
                    }
                }

                var archived = Series(members, schedule.Name, standardTier: false, seriesB);
                if (schedule.Archive is { } archive)
                {
                    KeepArchivedBy(archive.Retain, archived, schedule);
                }
                else
                {
                    foreach (var snapshot in archived)
                    {
                        snapshot.AddKeepReason($"archived; schedule {schedule.Name} has no archive rule (kept)");
                    }
                }
            }

            ApplyKeepLatest(members);

            foreach (var snapshot in members.Where(o => o.IsCompleted))
            {
                if (!snapshot.IsStandard)
                {
                    if (snapshot.IsKeptByAnyRule)
                    {
                        snapshot.Outcome = SnapshotOutcome.Kept;
                    }
                    else if (snapshot.Info.ArchivedAt is not { } archivedAt || archivedAt + ArchiveMinimum > now)
                    {
                        snapshot.Outcome = SnapshotOutcome.Kept;
                        snapshot.AddKeepReason(snapshot.Info.ArchivedAt is { } at
                            ? $"archived (90-day minimum until {OwnershipTags.FormatFireTime(at + ArchiveMinimum)})"
                            : "archived (archive date unknown, 90-day minimum assumed)");
                    }
                    else
                    {
                        snapshot.Outcome = SnapshotOutcome.Released;
                        snapshot.OutcomeReason = ReleaseText("archive rule", CarriedSchedules(snapshot), s => s.Archive?.Retain)
                            + $"; its 90 days in the archive ended {OwnershipTags.FormatFireTime(archivedAt + ArchiveMinimum)}";
                    }
                }
                else if (snapshot.ArchiveBy is not null && !snapshot.ProtectedAsLatest)
                {
                    snapshot.Outcome = SnapshotOutcome.Archive;
                    snapshot.OutcomeReason = snapshot.ArchiveBy;
                }
                else if (snapshot.IsKeptByAnyRule)
                {
                    snapshot.Outcome = SnapshotOutcome.Kept;
                }
                else if (CarriedSchedules(snapshot).FirstOrDefault(s => s.Archive is { After: null }) is { } archiving)
                {
                    snapshot.Outcome = SnapshotOutcome.Archive;
                    snapshot.OutcomeReason = $"archive on leaving standard retention ({RetentionEvaluator.Describe(archiving.Retain)})";
                }
                else
                {
                    snapshot.Outcome = SnapshotOutcome.Released;
                    snapshot.OutcomeReason = ReleaseText("rule", CarriedSchedules(snapshot), s => s.Retain);
                }
            }

            foreach (var snapshot in members.Where(o => o.Outcome == SnapshotOutcome.Undecided))
            {
                snapshot.Outcome = SnapshotOutcome.Kept; // pending
            }

            foreach (var schedule in policy.Schedules.Where(s => s.Retain.Minimum is > 0))
            {
                ApplyMinimum(members.Where(o => o.IsCompleted && o.IsStandard && o.Carries(schedule.Name)), schedule.Retain.Minimum!.Value);
            }
        }

        private void EvaluateCopies(string region, List<OwnedSnapshot> members)
        {
            foreach (var snapshot in members)
            {
                TriageUnjudgeable(snapshot, "released: copy failed (state error)");
            }

            foreach (var schedule in policy.Schedules)
            {
                var completed = Series(members, schedule.Name, standardTier: null, seriesA);
                var rule = CopyRuleFor(schedule, region);
                if (rule is null)
                {
                    foreach (var snapshot in completed)
                    {
                        snapshot.AddKeepReason($"no copy rule of schedule {schedule.Name} targets {region} (kept)");
                    }

                    continue;
                }

                KeepBy(rule.Retain, completed, schedule, string.Empty);
            }

            ApplyKeepLatest(members);
            foreach (var snapshot in members.Where(o => o.Outcome == SnapshotOutcome.Undecided))
            {
                if (snapshot.IsKeptByAnyRule)
                {
                    snapshot.Outcome = SnapshotOutcome.Kept;
                }
                else
                {
                    var carried = CarriedSchedules(snapshot);
                    snapshot.Outcome = SnapshotOutcome.Released;
                    snapshot.OutcomeReason = ReleaseText($"{region} copy rule", carried, s => CopyRuleFor(s, region)?.Retain);
                }
            }

            foreach (var schedule in policy.Schedules)
            {
                if (CopyRuleFor(schedule, region)?.Retain.Minimum is > 0 and var minimum)
                {
                    ApplyMinimum(members.Where(o => o.IsCompleted && o.Carries(schedule.Name)), minimum);
                }
            }
        }

        private string? FirstScheduleCopyingTo(OwnedSnapshot source, string region)
        {
            foreach (var name in source.Schedules)
            {
                if (schedules.TryGetValue(name, out var schedule) && CopyRuleFor(schedule, region) is not null)
                {
                    return name;
                }
            }

            return null;
        }

        private static CopyRule? CopyRuleFor(Schedule schedule, string region) =>
            schedule.Copies.FirstOrDefault(c => string.Equals(c.Region, region, StringComparison.Ordinal));

        private void ApplyKeepLatest(List<OwnedSnapshot> members)
        {
            var latest = policy.Safety.KeepLatest;
            if (latest <= 0)
            {
                return;
            }

            foreach (var snapshot in members.Where(o => o.IsCompleted).Take(latest))
            {
                snapshot.ProtectedAsLatest = true;
                snapshot.AddKeepReason(keepLatestReason);
            }
        }

        private static void ApplyMinimum(IEnumerable<OwnedSnapshot> seriesNewestFirst, int minimum)
        {
            var series = seriesNewestFirst.ToList();
            var kept = series.Count(o => o.Outcome == SnapshotOutcome.Kept);
            foreach (var snapshot in series)
            {
                if (kept >= minimum)
                {
                    break;
                }

                if (snapshot.Outcome == SnapshotOutcome.Released)
                {
                    snapshot.Outcome = SnapshotOutcome.Kept;
                    snapshot.OutcomeReason = null;
                    snapshot.AddKeepReason(RetentionEvaluator.MinimumReason(minimum));
                    kept++;
                }
            }
        }

        private readonly Dictionary<(string What, string Schedules), string> releaseTexts = [];

        /// <summary>The release message; the same for every snapshot of a schedule, so it is built once.</summary>
        private string ReleaseText(string what, List<Schedule> carried, Func<Schedule, RetentionRule?> rule)
        {
            var key = (what, carried.Count == 1 ? carried[0].Name : string.Join(",", carried.Select(s => s.Name)));
            if (!releaseTexts.TryGetValue(key, out var text))
            {
                releaseTexts[key] = text = BuildReleaseText(what, carried, rule);
            }

            return text;
        }

        private static string BuildReleaseText(string what, List<Schedule> carried, Func<Schedule, RetentionRule?> rule)
        {
            if (carried.Count == 1)
            {
                var r = rule(carried[0]);
                return $"released: no {what} of schedule {carried[0].Name} keeps it ({(r is null ? "none" : RetentionEvaluator.Describe(r))})";
            }

            var parts = carried.Select(s => $"{s.Name}: {(rule(s) is { } r ? RetentionEvaluator.Describe(r) : "none")}");
            return $"released: no {what} of schedules {string.Join(", ", carried.Select(s => s.Name))} keeps it ({string.Join("; ", parts)})";
        }

        // ---------------------------------------------------------------------------------------------- copies

        private void PlanCopies(string sourceRegion, List<OwnedSnapshot> members)
        {
            foreach (var schedule in policy.Schedules.Where(s => !s.Copies.IsEmpty))
            {
                var standard = Series(members, schedule.Name, standardTier: true, seriesA);
                var times = standard.Select(o => o.Info.StartTime).ToList();
                foreach (var rule in schedule.Copies.Where(c => !string.Equals(c.Region, sourceRegion, StringComparison.Ordinal)))
                {
                    // Copy only what the copy retention would keep at once in the target, and not for a calendar
                    // bucket that is still open: the newest snapshot of this month is replaced by every later one,
                    // so a monthly copy waits for the month to end instead of copying (and deleting) each of them.
                    var wouldKeep = RetentionEvaluator.Evaluate(rule.Retain, times, now);
                    var open = RetentionEvaluator.OpenPeriodReasons(rule.Retain.Buckets, now);
                    for (var i = 0; i < standard.Count; i++)
                    {
                        var source = standard[i];
                        var keptBy = wouldKeep[i]?.FirstOrDefault(r => !open.Contains(r));
                        if (source.Outcome != SnapshotOutcome.Kept || source.Token is null || keptBy is null)
                        {
                            continue;
                        }

                        // With simultaneous schedules, the first schedule with a rule for the region copies it.
                        if (FirstScheduleCopyingTo(source, rule.Region) != schedule.Name)
                        {
                            continue;
                        }

                        var token = CreationToken.ForCopy(CopySourceKey(source), rule.Region);
                        if (index.HasCopy(rule.Region, token))
                        {
                            continue;
                        }

                        actions.Add(BuildCopy(source, schedule, rule, token, keptBy));
                    }
                }
            }
        }

        /// <summary>
        /// What a copy token derives from: the source's creation token, plus the volume for a snapshot of an instance
        /// set (all volumes of a set share one creation token, and each needs its own copy).
        /// </summary>
        internal static string CopySourceKey(OwnedSnapshot source) =>
            source.Info.Tags.ContainsKey(OwnershipTags.Instance) ? $"{source.Token}/{source.Info.VolumeId}" : source.Token!;

        private PlannedAction BuildCopy(OwnedSnapshot source, Schedule schedule, CopyRule rule, string token, string keptBy)
        {
            var tags = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in source.Info.Tags)
            {
                if (rule.CopyTags && !key.StartsWith(OwnershipTags.Prefix, StringComparison.Ordinal) && !key.StartsWith("aws:", StringComparison.Ordinal))
                {
                    tags[key] = value;
                }
            }

            tags[OwnershipTags.Policy] = policy.Name;
            tags[OwnershipTags.Schedule] = source.Schedules.FirstOrDefault() ?? schedule.Name;
            tags[OwnershipTags.Schedules] = string.Join(',', source.Schedules);
            if (source.FireTime is not null)
            {
                tags[OwnershipTags.FireTime] = source.FireTime;
            }

            tags[OwnershipTags.Token] = token;
            tags[OwnershipTags.SourceSnapshot] = source.Info.Id;
            tags[OwnershipTags.SourceRegion] = source.Info.Region;
            tags[OwnershipTags.SourceVolume] = source.Info.VolumeId;
            DateTimeOffset? fire = OwnershipTags.TryParseFireTime(source.FireTime, out var f) ? f : null;
            return new PlannedAction
            {
                Kind = ActionKind.Copy,
                Policy = policy.Name,
                Schedule = schedule.Name,
                Region = rule.Region,
                SourceRegion = source.Info.Region,
                SnapshotId = source.Info.Id,
                VolumeIds = [source.Info.VolumeId],
                FireTime = fire,
                Token = token,
                Tags = tags.ToImmutable(),
                Encrypted = rule.Encrypted || source.Info.Encrypted,
                KeyId = rule.Key,
                Reason = $"copy to {rule.Region} (kept there by {keptBy})",
            };
        }

        // ---------------------------------------------------------------------------------------------- fast restore

        /// <summary>The archive or delete action that carries out a snapshot's outcome, with the outcome's reason.</summary>
        private PlannedAction OutcomeAction(ActionKind kind, OwnedSnapshot snapshot) => new()
        {
            Kind = kind,
            Policy = policy.Name,
            Schedule = snapshot.Schedules.FirstOrDefault(),
            Region = snapshot.Info.Region,
            SnapshotId = snapshot.Info.Id,
            VolumeIds = [snapshot.Info.VolumeId],
            AdoptedFrom = snapshot.AdoptedFrom,
            Reason = snapshot.OutcomeReason!,
        };

        private static bool IsOn(FastRestoreState state) => state is FastRestoreState.Enabling or FastRestoreState.Optimizing or FastRestoreState.Enabled;

        private void PlanFastRestore(string region, List<OwnedSnapshot> members)
        {
            var wanted = new Dictionary<OwnedSnapshot, (SortedSet<string> Zones, string Reason)>();
            var listed = new Dictionary<OwnedSnapshot, SortedSet<string>>();
            foreach (var schedule in policy.Schedules.Where(s => s.FastRestore is not null))
            {
                var rule = schedule.FastRestore!;
                var standard = Series(members, schedule.Name, standardTier: true, seriesA);
                for (var i = 0; i < standard.Count; i++)
                {
                    var snapshot = standard[i];
                    string? reason = null;
                    if (rule.Count is { } n && i < n)
                    {
                        reason = string.Create(CultureInfo.InvariantCulture, $"fast restore for the newest {n} (number {i + 1})");
                    }
                    else if (rule.Age is { } age && age.AddTo(snapshot.Info.StartTime) > now)
                    {
                        reason = $"fast restore while younger than {age} (until {OwnershipTags.FormatFireTime(age.AddTo(snapshot.Info.StartTime))})";
                    }

                    // Only snapshots with fast restore on somewhere, or wanted, need a look (most have none).
                    if (snapshot.Info.FastRestore.Count > 0 || reason is not null)
                    {
                        if (!listed.TryGetValue(snapshot, out var zones))
                        {
                            listed[snapshot] = zones = new SortedSet<string>(StringComparer.Ordinal);
                        }

                        zones.UnionWith(rule.Zones);
                    }

                    if (reason is not null && snapshot.Outcome == SnapshotOutcome.Kept)
                    {
                        if (!wanted.TryGetValue(snapshot, out var entry))
                        {
                            wanted[snapshot] = entry = (new SortedSet<string>(StringComparer.Ordinal), reason);
                        }

                        entry.Zones.UnionWith(rule.Zones);
                    }
                }
            }

            foreach (var (snapshot, zones) in listed)
            {
                var on = snapshot.Info.FastRestore.Where(z => IsOn(z.Value)).Select(z => z.Key).ToHashSet(StringComparer.Ordinal);
                if (wanted.TryGetValue(snapshot, out var entry))
                {
                    var enable = entry.Zones.Where(z => !on.Contains(z)).ToList();
                    if (enable.Count > 0)
                    {
                        actions.Add(FastRestoreAction(ActionKind.EnableFastRestore, region, snapshot, enable, entry.Reason));
                    }
                }

                var disable = zones.Where(z => on.Contains(z) && !(wanted.TryGetValue(snapshot, out var w) && w.Zones.Contains(z))).ToList();
                if (disable.Count > 0)
                {
                    var why = snapshot.Outcome switch
                    {
                        SnapshotOutcome.Released => "fast restore off before deletion",
                        SnapshotOutcome.Archive => "fast restore off before archiving",
                        _ => "fast restore no longer wanted: fell out of the fast-restore rule",
                    };
                    actions.Add(FastRestoreAction(ActionKind.DisableFastRestore, region, snapshot, disable, why));
                }
            }
        }

        private PlannedAction FastRestoreAction(ActionKind kind, string region, OwnedSnapshot snapshot, List<string> zones, string reason) => new()
        {
            Kind = kind,
            Policy = policy.Name,
            Schedule = snapshot.Schedules.FirstOrDefault(),
            Region = region,
            SnapshotId = snapshot.Info.Id,
            VolumeIds = [snapshot.Info.VolumeId],
            Zones = [.. zones],
            AdoptedFrom = snapshot.AdoptedFrom,
            Reason = reason,
        };

        // ---------------------------------------------------------------------------------------------- archive, delete

        private void PlanArchivesAndDeletes()
        {
            var released = new List<OwnedSnapshot>();
            foreach (var snapshot in owned)
            {
                // The archive's 90-day minimum holds whatever released the snapshot (a copy rule, a failed state).
                if (snapshot.Outcome == SnapshotOutcome.Released && !snapshot.IsStandard
                    && (snapshot.Info.ArchivedAt is not { } archivedAt || archivedAt + ArchiveMinimum > now))
                {
                    snapshot.Outcome = SnapshotOutcome.Kept;
                    snapshot.AddKeepReason(snapshot.Info.ArchivedAt is { } at
                        ? $"archived (90-day minimum until {OwnershipTags.FormatFireTime(at + ArchiveMinimum)})"
                        : "archived (archive date unknown, 90-day minimum assumed)");
                }

                switch (snapshot.Outcome)
                {
                    case SnapshotOutcome.Archive:
                        actions.Add(OutcomeAction(ActionKind.Archive, snapshot));
                        SetDecision(snapshot, SnapshotVerdict.Kept, ["moving to archive: " + snapshot.OutcomeReason]);
                        break;
                    case SnapshotOutcome.Released:
                        released.Add(snapshot);
                        break;
                    default:
                        break; // kept: its decision is built as it is emitted
                }
            }

            var limit = released.Count;
            if (policy.Safety.MaxDeletesPerRun is { } cap)
            {
                // A percentage never rounds down to zero: that would stop retention for good on a small policy.
                limit = Math.Min(limit, cap.IsPercent ? Math.Max(1, cap.Resolve(owned.Count)) : cap.Value);
            }

            if (limit < released.Count)
            {
                // Only a cap makes the order matter: the oldest are deleted first (actions are sorted at the end anyway).
                SortByStartTime(released, newestFirst: false);
            }

            for (var i = 0; i < released.Count; i++)
            {
                var snapshot = released[i];
                if (i < limit)
                {
                    actions.Add(OutcomeAction(ActionKind.Delete, snapshot));
                    SetDecision(snapshot, SnapshotVerdict.Released, Single(snapshot.OutcomeReason!));
                }
                else
                {
                    SetDecision(snapshot, SnapshotVerdict.Deferred,
                        [snapshot.OutcomeReason!, $"deferred: maxDeletesPerRun {policy.Safety.MaxDeletesPerRun}"]);
                }
            }

            if (limit < released.Count)
            {
                var limitRule = policy.Safety.MaxDeletesPerRun!;
                var allowance = limitRule.IsPercent ? $"{limitRule} of {owned.Count} owned = {limit}" : limitRule.ToString();
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"maxDeletesPerRun {allowance}: {limit} of {released.Count} released snapshot(s) deleted in this run (the oldest first), {released.Count - limit} deferred to a later run")));
            }
        }

        // One shared array per single-reason text: most decisions have one reason, and most reason texts are shared
        // instances ("count 2 of 30", a bucket label, a release message), so the lookup is by reference (cheap); texts
        // made per snapshot (an age's end) are not remembered.
        private readonly Dictionary<string, ImmutableArray<string>> singleReasons = new(ReferenceEqualityComparer.Instance);

        private ImmutableArray<string> Single(string reason)
        {
            if (singleReasons.TryGetValue(reason, out var array))
            {
                return array;
            }

            array = [reason];
            if (singleReasons.Count < 100_000 && !reason.StartsWith("age ", StringComparison.Ordinal))
            {
                singleReasons[reason] = array;
            }

            return array;
        }

        private static void SetDecision(OwnedSnapshot snapshot, SnapshotVerdict verdict, ImmutableArray<string> reasons)
        {
            snapshot.Verdict = verdict;
            snapshot.DecisionReasons = reasons;
        }
    }
}
