using System.Collections.Immutable;
using System.Globalization;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Simulation;

/// <summary>
/// What a change of a policy set does, for a pull request: the policies added, removed and changed, the
/// destructive parts (a removed policy, shortened retention, deletes the server plans), and the 30-day simulation
/// before and after. Built by <see cref="PolicyChangeReview.Review"/>; written by <see cref="PolicyChangeMarkdownWriter"/>.
/// </summary>
public sealed record PolicyChangeSummary
{
    public required SimulationReport Before { get; init; }

    public required SimulationReport After { get; init; }

    public ImmutableArray<string> Added { get; init; } = [];

    public ImmutableArray<string> Removed { get; init; } = [];

    public ImmutableArray<string> Changed { get; init; } = [];

    /// <summary>Every destructive finding, one sentence each ("policy db removed", "db/daily: count 14 → 7").</summary>
    public ImmutableArray<string> Destructive { get; init; } = [];

    /// <summary>Delete actions the server plans for the changed policies (null: no server plan was given).</summary>
    public int? PlannedDeletes { get; init; }

    /// <summary>The destructive change is allowed (the pipeline's LIFECYCLE_ALLOW_DESTRUCTIVE).</summary>
    public bool DestructiveAllowed { get; init; }

    public bool IsDestructive => !Destructive.IsEmpty;
}

/// <summary>Compares two policy sets (before: the policies at the base revision; after: the working tree).</summary>
public static class PolicyChangeReview
{
    /// <summary>The findings, and the two simulations run from the same inventory and instant.</summary>
    /// <param name="plannedDeletes">Delete actions of a server plan of the change (each is destructive), or null.</param>
    public static PolicyChangeSummary Review(PolicySet before, PolicySet after, SimulationReport beforeReport, SimulationReport afterReport,
        int? plannedDeletes, bool destructiveAllowed)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var added = after.Policies.Select(p => p.Name).Where(n => before.Find(n) is null).Order(StringComparer.Ordinal).ToImmutableArray();
        var removed = before.Policies.Select(p => p.Name).Where(n => after.Find(n) is null).Order(StringComparer.Ordinal).ToImmutableArray();
        var changed = after.Policies.Where(p => before.Find(p.Name) is { } old && !Same(old, p)).Select(p => p.Name).Order(StringComparer.Ordinal).ToImmutableArray();
        var destructive = new List<string>();
        destructive.AddRange(removed.Select(n => $"policy {n} is removed"));
        foreach (var name in changed)
        {
            destructive.AddRange(ShortenedRetention(before.Find(name)!, after.Find(name)!));
        }

        if (plannedDeletes is > 0)
        {
            destructive.Add(string.Create(CultureInfo.InvariantCulture, $"the server plans {plannedDeletes} snapshot deletion(s) for the changed policies"));
        }

        return new PolicyChangeSummary
        {
            Before = beforeReport,
            After = afterReport,
            Added = added,
            Removed = removed,
            Changed = changed,
            Destructive = [.. destructive],
            PlannedDeletes = plannedDeletes,
            DestructiveAllowed = destructiveAllowed,
        };
    }

    // Records compare immutable arrays by reference; the source location differs whenever a line moves.
    private static bool Same(SnapshotPolicy a, SnapshotPolicy b) =>
        Describe(a with { Source = SourceLocation.None }) == Describe(b with { Source = SourceLocation.None });

    private static string Describe(SnapshotPolicy policy) => System.Text.Json.JsonSerializer.Serialize(policy, DescribeOptions);

    // Triggers and hooks are abstract records: the serializer writes their concrete members only when told the types.
    private static readonly System.Text.Json.JsonSerializerOptions DescribeOptions = new()
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    if (info.Type == typeof(ScheduleTrigger))
                    {
                        info.PolymorphismOptions = new() { DerivedTypes = { new(typeof(CronTrigger), "cron"), new(typeof(IntervalTrigger), "every") } };
                    }
                    else if (info.Type == typeof(HookSpec))
                    {
                        info.PolymorphismOptions = new() { DerivedTypes = { new(typeof(ExecHook), "exec"), new(typeof(HttpHook), "http") } };
                    }
                },
            },
        },
    };

    /// <summary>
    /// Where the new policy keeps less than the old: a schedule's (or copy's, or archive's) count, age, bucket or
    /// minimum lowered or dropped, or keepLatest lowered. A schedule that is removed is not listed: the planner keeps
    /// the snapshots of a schedule it no longer has.
    /// </summary>
    public static IEnumerable<string> ShortenedRetention(SnapshotPolicy before, SnapshotPolicy after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        if (after.Safety.KeepLatest < before.Safety.KeepLatest)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"{after.Name}: keepLatest {before.Safety.KeepLatest} → {after.Safety.KeepLatest}");
        }

        foreach (var schedule in after.Schedules)
        {
            if (before.Schedules.FirstOrDefault(s => s.Name == schedule.Name) is not { } old)
            {
                continue;
            }

            var where = $"{after.Name}/{schedule.Name}";
            foreach (var finding in Shortened(where, old.Retain, schedule.Retain))
            {
                yield return finding;
            }

            foreach (var copy in schedule.Copies)
            {
                if (old.Copies.FirstOrDefault(c => c.Region == copy.Region) is { } oldCopy)
                {
                    foreach (var finding in Shortened($"{where} copy to {copy.Region}", oldCopy.Retain, copy.Retain))
                    {
                        yield return finding;
                    }
                }
            }

            if (old.Archive is { } oldArchive && schedule.Archive is { } archive)
            {
                foreach (var finding in Shortened($"{where} archive", oldArchive.Retain, archive.Retain))
                {
                    yield return finding;
                }
            }
        }
    }

    private static IEnumerable<string> Shortened(string where, RetentionRule old, RetentionRule now)
    {
        if (old.Count is { } count && (now.Count ?? 0) < count)
        {
            yield return $"{where}: retain count {count} → {(now.Count is { } n ? n.ToString(CultureInfo.InvariantCulture) : "none")}";
        }

        if (old.Age is { } age && (now.Age is not { } newAge || newAge.CompareTo(age) < 0))
        {
            yield return $"{where}: retain age {age} → {(now.Age is { } a ? a.ToString() : "none")}";
        }

        if (old.Minimum is { } minimum && (now.Minimum ?? 0) < minimum)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"{where}: retain minimum {minimum} → {now.Minimum ?? 0}");
        }

        if (old.Buckets is { } buckets)
        {
            var next = now.Buckets ?? new RetentionBuckets();
            foreach (var (name, was, @is) in new[]
            {
                ("hourly", buckets.Hourly, next.Hourly), ("daily", buckets.Daily, next.Daily), ("weekly", buckets.Weekly, next.Weekly),
                ("monthly", buckets.Monthly, next.Monthly), ("yearly", buckets.Yearly, next.Yearly),
            })
            {
                if (@is < was)
                {
                    yield return string.Create(CultureInfo.InvariantCulture, $"{where}: retain buckets {name} {was} → {@is}");
                }
            }
        }
    }
}
