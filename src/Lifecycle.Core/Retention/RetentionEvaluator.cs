using System.Collections.Concurrent;
using System.Globalization;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Core.Retention;

/// <summary>
/// Applies one <see cref="RetentionRule"/> to a series of snapshots (one volume, one schedule, one region) and says
/// which rules keep each of them. Pure: <c>now</c> is passed in.
/// </summary>
/// <remarks>
/// Buckets follow restic's <c>forget</c>: walking from the newest snapshot back, the newest snapshot of each period
/// is kept until N periods <em>that have snapshots</em> are counted. A sparse stretch (a volume that was off for a
/// month) therefore never loses its only snapshot, unlike "the last N calendar periods", which would drop it.
/// Periods are counted in the bucket time zone; weeks are ISO 8601 weeks starting Monday.
/// </remarks>
public static class RetentionEvaluator
{
    private static readonly ConcurrentDictionary<string, TimeZoneInfo> Zones = new(StringComparer.Ordinal);

    /// <summary>
    /// The reasons each snapshot is kept, by index into <paramref name="startTimesNewestFirst"/> (completed snapshots
    /// only, newest first); null means no rule keeps it. <see cref="RetentionRule.Minimum"/> is not applied
    /// here (it depends on what other schedules keep; see <see cref="MinimumReason"/>).
    /// </summary>
    public static List<string>?[] Evaluate(RetentionRule rule, IReadOnlyList<DateTimeOffset> startTimesNewestFirst, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(startTimesNewestFirst);
        var reasons = new List<string>?[startTimesNewestFirst.Count];
        Evaluate(rule, startTimesNewestFirst, now, (i, reason) => Add(reasons, i, reason));
        return reasons;
    }

    /// <summary>
    /// The same evaluation, reporting each (index, reason) to <paramref name="keep"/> in rule order (count, age,
    /// buckets) instead of building lists: the planner calls it for every series of a million snapshots.
    /// </summary>
    public static void Evaluate(RetentionRule rule, IReadOnlyList<DateTimeOffset> startTimesNewestFirst, DateTimeOffset now, Action<int, string> keep)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(startTimesNewestFirst);
        ArgumentNullException.ThrowIfNull(keep);
        var count = startTimesNewestFirst.Count;
        if (rule.Count is { } keepCount)
        {
            var texts = CountTexts.GetOrAdd(keepCount, static n =>
                [.. Enumerable.Range(1, Math.Min(n, 100_000)).Select(i => string.Create(CultureInfo.InvariantCulture, $"count {i} of {n}"))]);
            for (var i = 0; i < Math.Min(keepCount, count); i++)
            {
                keep(i, i < texts.Length ? texts[i] : string.Create(CultureInfo.InvariantCulture, $"count {i + 1} of {keepCount}"));
            }
        }

        if (rule.Age is { } age)
        {
            var prefix = $"age {age} (until ";
            for (var i = 0; i < count; i++)
            {
                var until = age.AddTo(startTimesNewestFirst[i]);
                if (until > now)
                {
                    keep(i, string.Concat(prefix, InstantText(until), ")"));
                }
                else
                {
                    break; // newest first: every older one is older still
                }
            }
        }

        if (rule.Buckets is { IsEmpty: false } buckets)
        {
            var zone = FindZone(buckets.TimeZone);
            var local = new DateTime[count]; // converted once for all bucket kinds
            for (var i = 0; i < count; i++)
            {
                local[i] = zone == TimeZoneInfo.Utc ? startTimesNewestFirst[i].UtcDateTime : TimeZoneInfo.ConvertTime(startTimesNewestFirst[i], zone).DateTime;
            }

            ApplyBuckets(BucketKind.Hourly, buckets.Hourly, local, keep);
            ApplyBuckets(BucketKind.Daily, buckets.Daily, local, keep);
            ApplyBuckets(BucketKind.Weekly, buckets.Weekly, local, keep);
            ApplyBuckets(BucketKind.Monthly, buckets.Monthly, local, keep);
            ApplyBuckets(BucketKind.Yearly, buckets.Yearly, local, keep);
        }
    }

    /// <summary>
    /// The bucket reasons that name the periods still open at <paramref name="now"/> ("daily bucket 2026-11-21",
    /// "monthly bucket 2026-11"): the newest snapshot of an open period may still be replaced by a newer one.
    /// </summary>
    public static IReadOnlySet<string> OpenPeriodReasons(RetentionBuckets? buckets, DateTimeOffset now)
    {
        var open = new HashSet<string>(StringComparer.Ordinal);
        if (buckets is null || buckets.IsEmpty)
        {
            return open;
        }

        var zone = FindZone(buckets.TimeZone);
        var local = zone == TimeZoneInfo.Utc ? now.UtcDateTime : TimeZoneInfo.ConvertTime(now, zone).DateTime;
        foreach (var (kind, periods) in new[] { (BucketKind.Hourly, buckets.Hourly), (BucketKind.Daily, buckets.Daily), (BucketKind.Weekly, buckets.Weekly), (BucketKind.Monthly, buckets.Monthly), (BucketKind.Yearly, buckets.Yearly) })
        {
            if (periods > 0)
            {
                open.Add($"{Name(kind)} bucket {Label(kind, local)}");
            }
        }

        return open;
    }

    /// <summary>The reason text of the minimum floor.</summary>
    public static string MinimumReason(int minimum) => string.Create(CultureInfo.InvariantCulture, $"minimum {minimum}");

    /// <summary>A short description of a rule for release messages: "count 7, age 7d, daily 7".</summary>
    public static string Describe(RetentionRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var parts = new List<string>();
        if (rule.Count is { } c)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"count {c}"));
        }

        if (rule.Age is { } a)
        {
            parts.Add($"age {a}");
        }

        if (rule.Buckets is { } b)
        {
            void Add(string name, int n)
            {
                if (n > 0)
                {
                    parts.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {n}"));
                }
            }

            Add("hourly", b.Hourly);
            Add("daily", b.Daily);
            Add("weekly", b.Weekly);
            Add("monthly", b.Monthly);
            Add("yearly", b.Yearly);
        }

        if (rule.Minimum is { } m)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"minimum {m}"));
        }

        return parts.Count == 0 ? "no rules" : string.Join(", ", parts);
    }

    internal static TimeZoneInfo FindZone(string id) =>
        Zones.GetOrAdd(id, static z => CronSchedule.TryFindZone(z, out var zone, out var error) ? zone! : throw new ArgumentException(error));

    private enum BucketKind
    {
        Hourly,
        Daily,
        Weekly,
        Monthly,
        Yearly,
    }

    private static void Add(List<string>?[] reasons, int index, string reason) => (reasons[index] ??= new List<string>(2)).Add(reason);

    /// <summary>"yyyy-MM-ddTHH:mm:ssZ" (as <see cref="OwnershipTags.FormatFireTime"/>), written without the general formatter: it runs once per kept snapshot.</summary>
    public static string InstantText(DateTimeOffset instant)
    {
        var utc = instant.UtcDateTime;
        return string.Create(20, utc, static (span, t) =>
        {
            static void Two(Span<char> s, int at, int v)
            {
                s[at] = (char)('0' + (v / 10));
                s[at + 1] = (char)('0' + (v % 10));
            }

            Two(span, 0, t.Year / 100);
            Two(span, 2, t.Year % 100);
            span[4] = '-';
            Two(span, 5, t.Month);
            span[7] = '-';
            Two(span, 8, t.Day);
            span[10] = 'T';
            Two(span, 11, t.Hour);
            span[13] = ':';
            Two(span, 14, t.Minute);
            span[16] = ':';
            Two(span, 17, t.Second);
            span[19] = 'Z';
        });
    }

    private static readonly ConcurrentDictionary<int, string[]> CountTexts = new();

    private static readonly ConcurrentDictionary<(BucketKind Kind, long Key), string> BucketTexts = new();

    private static void ApplyBuckets(BucketKind kind, int periods, DateTime[] localTimes, Action<int, string> keep)
    {
        if (periods <= 0)
        {
            return;
        }

        var counted = 0;
        long lastKey = long.MinValue;
        for (var i = 0; i < localTimes.Length && counted < periods; i++)
        {
            var local = localTimes[i];
            var key = PeriodKey(kind, local);
            if (key == lastKey)
            {
                continue;
            }

            lastKey = key;
            counted++;
            keep(i, BucketTexts.GetOrAdd((kind, key), static (k, local) => $"{Name(k.Kind)} bucket {Label(k.Kind, local)}", local));
        }
    }

    private static long PeriodKey(BucketKind kind, DateTime local) => kind switch
    {
        BucketKind.Hourly => local.Ticks / TimeSpan.TicksPerHour,
        BucketKind.Daily => local.Ticks / TimeSpan.TicksPerDay,
        BucketKind.Weekly => (ISOWeek.GetYear(local) * 100L) + ISOWeek.GetWeekOfYear(local),
        BucketKind.Monthly => (local.Year * 12L) + local.Month,
        _ => local.Year,
    };

    private static string Name(BucketKind kind) => kind switch
    {
        BucketKind.Hourly => "hourly",
        BucketKind.Daily => "daily",
        BucketKind.Weekly => "weekly",
        BucketKind.Monthly => "monthly",
        _ => "yearly",
    };

    private static string Label(BucketKind kind, DateTime local) => kind switch
    {
        BucketKind.Hourly => local.ToString("yyyy-MM-dd'T'HH':00'", CultureInfo.InvariantCulture),
        BucketKind.Daily => local.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        BucketKind.Weekly => string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(local)}-W{ISOWeek.GetWeekOfYear(local):00}"),
        BucketKind.Monthly => local.ToString("yyyy-MM", CultureInfo.InvariantCulture),
        _ => local.ToString("yyyy", CultureInfo.InvariantCulture),
    };
}
