using Lifecycle.Core.Time;

namespace Lifecycle.Core.Tests.Time;

public class CronZoneLookupTests
{
    [Theory]
    [InlineData("Europe")]
    [InlineData("America")]
    [InlineData("../../etc/passwd")]
    [InlineData("Not/AZone")]
    public void TryFindZone_ReturnsAnError_ForNamesThatAreNotZones(string name)
    {
        Assert.False(CronSchedule.TryFindZone(name, out var zone, out var error));
        Assert.Null(zone);
        Assert.Contains("not a known IANA time zone", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryFindZone_FindsAnIanaZone()
    {
        Assert.True(CronSchedule.TryFindZone("Europe/Berlin", out var zone, out _));
        Assert.Equal("Europe/Berlin", zone!.Id);
    }
}
