using Lifecycle.Core.Policies;
using Lifecycle.Core.Retention;
using Lifecycle.Core.Time;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Retention;

public class RetentionEvaluatorTests
{
    private static string[] Kept(RetentionRule rule, string now, params string[] newestFirst)
    {
        var reasons = RetentionEvaluator.Evaluate(rule, [.. newestFirst.Select(At)], At(now));
        return [.. reasons.Select((r, i) => r is null ? "-" : string.Join(" + ", r))];
    }

    public static TheoryData<string, RetentionRule, string, string[], string[]> Cases => new()
    {
        {
            "count keeps the newest N",
            new RetentionRule { Count = 2 }, "2026-11-21T12:00:00Z",
            ["2026-11-21T02:00:00Z", "2026-11-20T02:00:00Z", "2026-11-19T02:00:00Z"],
            ["count 1 of 2", "count 2 of 2", "-"]
        },
        {
            "age keeps what is younger, with the instant it expires",
            new RetentionRule { Age = PolicyDuration.Days(2) }, "2026-11-21T12:00:00Z",
            ["2026-11-21T02:00:00Z", "2026-11-19T12:00:01Z", "2026-11-19T12:00:00Z"],
            ["age 2d (until 2026-11-23T02:00:00Z)", "age 2d (until 2026-11-21T12:00:01Z)", "-"]
        },
        {
            "age in months is calendar months (from 31 March, one month is 30 April)",
            new RetentionRule { Age = PolicyDuration.Parse("1mo") }, "2026-04-30T00:00:00Z",
            ["2026-03-31T00:00:01Z", "2026-03-29T23:59:59Z"],
            ["age 1mo (until 2026-04-30T00:00:01Z)", "-"]
        },
        {
            "daily buckets keep the newest of each day that has snapshots (restic), skipping empty days",
            new RetentionRule { Buckets = new RetentionBuckets { Daily = 3 } }, "2026-11-21T12:00:00Z",
            ["2026-11-21T10:00:00Z", "2026-11-21T02:00:00Z", "2026-11-18T02:00:00Z", "2026-11-10T02:00:00Z", "2026-11-09T02:00:00Z"],
            ["daily bucket 2026-11-21", "-", "daily bucket 2026-11-18", "daily bucket 2026-11-10", "-"]
        },
        {
            "weekly buckets use ISO weeks starting Monday (Sunday 2026-11-22 is still week 47)",
            new RetentionRule { Buckets = new RetentionBuckets { Weekly = 2 } }, "2026-11-23T12:00:00Z",
            ["2026-11-23T02:00:00Z", "2026-11-22T02:00:00Z", "2026-11-16T02:00:00Z", "2026-11-15T02:00:00Z"],
            ["weekly bucket 2026-W48", "weekly bucket 2026-W47", "-", "-"]
        },
        {
            "week 53 of 2026 spans the new year (ISO year of 2027-01-02 is 2026)",
            new RetentionRule { Buckets = new RetentionBuckets { Weekly = 2 } }, "2027-01-05T00:00:00Z",
            ["2027-01-04T02:00:00Z", "2027-01-02T02:00:00Z", "2026-12-28T02:00:00Z"],
            ["weekly bucket 2027-W01", "weekly bucket 2026-W53", "-"]
        },
        {
            "monthly buckets across a leap day",
            new RetentionRule { Buckets = new RetentionBuckets { Monthly = 2 } }, "2028-03-02T00:00:00Z",
            ["2028-03-01T02:00:00Z", "2028-02-29T02:00:00Z", "2028-02-28T02:00:00Z", "2028-01-31T02:00:00Z"],
            ["monthly bucket 2028-03", "monthly bucket 2028-02", "-", "-"]
        },
        {
            "buckets count in their time zone: 23:30Z on 20 Nov is 21 Nov in Berlin",
            new RetentionRule { Buckets = new RetentionBuckets { Daily = 2, TimeZone = "Europe/Berlin" } }, "2026-11-21T12:00:00Z",
            ["2026-11-21T02:00:00Z", "2026-11-20T23:30:00Z", "2026-11-20T22:30:00Z"],
            ["daily bucket 2026-11-21", "-", "daily bucket 2026-11-20"]
        },
        {
            "kept = union of the rules; each reason is listed",
            new RetentionRule { Count = 1, Buckets = new RetentionBuckets { Daily = 2, Yearly = 1 } }, "2026-11-21T12:00:00Z",
            ["2026-11-21T02:00:00Z", "2026-11-20T02:00:00Z", "2026-11-19T02:00:00Z"],
            ["count 1 of 1 + daily bucket 2026-11-21 + yearly bucket 2026", "daily bucket 2026-11-20", "-"]
        },
        {
            "hourly buckets label the local hour",
            new RetentionRule { Buckets = new RetentionBuckets { Hourly = 2 } }, "2026-11-21T12:00:00Z",
            ["2026-11-21T11:45:00Z", "2026-11-21T11:15:00Z", "2026-11-21T09:59:00Z"],
            ["hourly bucket 2026-11-21T11:00", "-", "hourly bucket 2026-11-21T09:00"]
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Evaluate_KeepsWhatEachRuleSays(string because, RetentionRule rule, string now, string[] newestFirst, string[] expected)
    {
        Assert.True(Kept(rule, now, newestFirst).SequenceEqual(expected),
            because + ": got [" + string.Join(" | ", Kept(rule, now, newestFirst)) + "]");
    }

    [Fact]
    public void Describe_NamesEveryRule()
    {
        var rule = new RetentionRule { Count = 7, Age = PolicyDuration.Days(7), Buckets = new RetentionBuckets { Daily = 7, Monthly = 12 }, Minimum = 3 };
        Assert.Equal("count 7, age 7d, daily 7, monthly 12, minimum 3", RetentionEvaluator.Describe(rule));
    }
}
