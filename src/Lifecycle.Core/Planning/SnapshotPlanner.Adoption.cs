using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Scheduling;

namespace Lifecycle.Core.Planning;

/// <summary>Adoption of an Amazon DLM policy's snapshots (<c>adopt: { dlmPolicyId }</c>).</summary>
public sealed partial class SnapshotPlanner
{
    private sealed partial class PolicyRun
    {
        /// <summary>How far before a fire time a snapshot DLM made may start and still count as that fire's (at most).</summary>
        private static readonly TimeSpan AdoptedFireMargin = TimeSpan.FromHours(1);

        /// <summary>
        /// Adds the snapshots the adopted DLM policy made to <see cref="owned"/>: those of volumes the policy targets
        /// now, in its regions, that are not copies and carry no lifecycle:policy tag (the index holds only those).
        /// Each is matched to the schedule DLM's schedule-name tag names, else to the policy's first schedule. Nothing
        /// else tagged by that DLM policy is touched: it is only counted in a note.
        /// </summary>
        private void Adopt()
        {
            if (policy.Adopt is not { } adopt)
            {
                return;
            }

            var made = index.MadeByDlmPolicy(adopt.DlmPolicyId);
            if (contestedAdoptions.Contains(adopt.DlmPolicyId))
            {
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"adopt: Amazon DLM policy {adopt.DlmPolicyId} is adopted by more than one policy of this set, so by none: its {made.Count} snapshot(s) are left alone")));
                return;
            }

            var regions = policy.Regions.ToHashSet(StringComparer.Ordinal);
            var targeted = TargetedVolumeIds();
            var first = policy.Schedules[0];
            var adopted = new List<OwnedSnapshot>();
            var leftAlone = new List<string>();
            var unmatched = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var snapshot in made)
            {
                if (snapshot.SourceSnapshotId is not null || !regions.Contains(snapshot.Region) || !targeted.Contains(snapshot.VolumeId))
                {
                    leftAlone.Add(snapshot.Id);
                    continue;
                }

                var dlmSchedule = snapshot.Tags.GetValueOrDefault(DlmTags.ScheduleName);
                string why;
                Schedule schedule;
                if (dlmSchedule is not null && schedules.TryGetValue(dlmSchedule, out var named))
                {
                    schedule = named;
                    why = $"DLM schedule '{dlmSchedule}' = schedule {named.Name}";
                }
                else
                {
                    schedule = first;
                    why = dlmSchedule is null
                        ? $"no DLM schedule tag: first schedule {first.Name}"
                        : $"DLM schedule '{dlmSchedule}' is not a schedule here: first schedule {first.Name}";
                    if (policy.Schedules.Length > 1)
                    {
                        unmatched.Add(dlmSchedule ?? "(none)");
                    }
                }

                adopted.Add(new OwnedSnapshot(snapshot, policy.Name)
                {
                    Schedules = [schedule.Name],
                    AdoptedFrom = adopt.DlmPolicyId,
                    Adoption = $"adopted from Amazon DLM policy {adopt.DlmPolicyId} ({why})",
                });
            }

            if (adopted.Count > 0)
            {
                owned = [.. owned, .. adopted];
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"adopts {adopted.Count} snapshot(s) made by Amazon DLM policy {adopt.DlmPolicyId} (tagged {DlmTags.PolicyId}): retained with its own snapshots by its rules; nothing is copied from them")));
            }

            if (unmatched.Count > 0)
            {
                notes.Add(new PlanNote(policy.Name,
                    $"adopt: DLM schedule name(s) {string.Join(", ", unmatched.Select(n => $"'{n}'"))} match no schedule of the policy: those snapshots are retained under its first schedule, {first.Name}; name a schedule after the DLM schedule to choose"));
            }

            if (leftAlone.Count > 0)
            {
                leftAlone.Sort(StringComparer.Ordinal);
                notes.Add(new PlanNote(policy.Name, string.Create(CultureInfo.InvariantCulture,
                    $"adopt: {leftAlone.Count} snapshot(s) of Amazon DLM policy {adopt.DlmPolicyId} are not of a volume the policy targets in its regions, or are copies ({ListSome(leftAlone)}): they are left alone")));
            }
        }

        /// <summary>
        /// The (volume, schedule) pairs whose current fire an adopted snapshot already covers: DLM made one for that
        /// period, so the first fire after the switch makes no duplicate. A snapshot covers a fire when it started at
        /// the fire time or later, or at most an hour (and at most half the schedule's interval) before it.
        /// </summary>
        private HashSet<(string Volume, string Schedule)> AdoptedCovering(IEnumerable<(Schedule Schedule, DateTimeOffset Fire)> fires)
        {
            var covering = new HashSet<(string, string)>();
            var adopted = owned.Where(o => o.AdoptedFrom is not null && o.Info.State != SnapshotState.Error).ToList();
            if (adopted.Count == 0)
            {
                return covering;
            }

            foreach (var (schedule, fire) in fires)
            {
                var from = fire - AdoptedFireMargin;
                if (ScheduleCalendar.For(schedule.Trigger).LatestAtOrBefore(fire.AddTicks(-1)) is { } previous && fire - (fire - previous) / 2 > from)
                {
                    from = fire - (fire - previous) / 2;
                }

                foreach (var snapshot in adopted)
                {
                    if (snapshot.Carries(schedule.Name) && snapshot.Info.StartTime >= from)
                    {
                        covering.Add((snapshot.Info.VolumeId, schedule.Name));
                    }
                }
            }

            return covering;
        }
    }
}
