using Lifecycle.Core.Diagnostics;

namespace Lifecycle.Core.Tests.Diagnostics;

public sealed class FailpointsTests
{
    [Fact]
    public void Parse_ReadsEveryNamedSleep()
    {
        var points = Failpoints.Parse(" engine.copy.before-commit=sleep(5000) ; executor.create=sleep(0);");

        Assert.Equal(2, points.Count);
        Assert.Equal(TimeSpan.FromSeconds(5), points["engine.copy.before-commit"]);
        Assert.Equal(TimeSpan.Zero, points["executor.create"]);
    }

    [Fact]
    public void Parse_IsEmpty_WhenUnset()
    {
        Assert.Empty(Failpoints.Parse(null));
        Assert.Empty(Failpoints.Parse(""));
    }

    [Theory]
    [InlineData("engine.copy")]
    [InlineData("=sleep(5)")]
    [InlineData("a=sleep(-5)")]
    [InlineData("a=crash()")]
    [InlineData("a=sleep(5")]
    public void Parse_NamesTheVariableAndEntry_WhenAnEntryIsMalformed(string specification)
    {
        var error = Assert.Throws<FormatException>(() => Failpoints.Parse(specification));

        Assert.Contains(Failpoints.EnvironmentVariable, error.Message);
        Assert.Contains(specification.Trim(), error.Message);
    }
}
