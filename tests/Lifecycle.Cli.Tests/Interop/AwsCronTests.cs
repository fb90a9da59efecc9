using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>AWS 6-field cron (1 = Sunday, '?', a year) against the policy language's 5-field cron (0 = Sunday).</summary>
public sealed class AwsCronTests
{
    [Theory]
    [InlineData("cron(0 12 * * ? *)", "0 12 * * *")]
    [InlineData("cron(0 9 1 * ? *)", "0 9 1 * *")]
    [InlineData("cron(30 2 ? * MON-FRI *)", "30 2 * * MON-FRI")]
    [InlineData("cron(0 5 ? * 7 *)", "0 5 * * 6")]
    [InlineData("cron(0 5 ? * 1,4 *)", "0 5 * * 0,3")]
    [InlineData("cron(0/15 * * * ? *)", "0-59/15 * * * *")]
    public void ToLifecycle_ConvertsTheFieldsAndTheDayNumbers(string aws, string expected)
    {
        Assert.Equal(expected, AwsCron.ToLifecycle(aws, out var problem));
        Assert.Null(problem);
        Assert.Equal(expected, AwsCron.ToLifecycle(AwsCron.FromLifecycle(expected, out _)!, out _));
    }

    [Theory]
    [InlineData("cron(0 0 L * ? *)", "L, W or #")]
    [InlineData("cron(0 0 ? * 6#3 *)", "L, W or #")]
    [InlineData("cron(0 0 * * ? 2027)", "the year field '2027'")]
    [InlineData("rate(1 day)", "not an AWS cron expression")]
    [InlineData("cron(0 0 * *)", "has 4 fields")]
    public void ToLifecycle_SaysWhatA5FieldCronCannotSay(string aws, string expected)
    {
        Assert.Null(AwsCron.ToLifecycle(aws, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0 3 * * 0", "cron(0 3 ? * 1 *)")]
    [InlineData("0 4 1 * *", "cron(0 4 1 * ? *)")]
    [InlineData("*/30 * * * *", "cron(0/30 * * * ? *)")]
    [InlineData("0 2 * * 7", "cron(0 2 ? * 1 *)")]
    public void FromLifecycle_WritesAwsCron(string cron, string expected)
    {
        Assert.Equal(expected, AwsCron.FromLifecycle(cron, out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void FromLifecycle_RefusesBothDayFields_WhichCronReadsAsEither()
    {
        Assert.Null(AwsCron.FromLifecycle("0 0 1 * MON", out var problem));
        Assert.Contains("both day-of-month and day-of-week", problem, StringComparison.Ordinal);
    }
}
