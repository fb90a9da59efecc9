using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Lifecycle.Scheduling.Tests;

public sealed class SchedulingStartupOrderTests
{
    [Fact]
    public void HookLeftovers_AreKilled_AfterTheSchemaMigration_AndBeforeQuartzCanStartAJob()
    {
        var services = new ServiceCollection();
        services.AddLifecycleScheduling(
            new SchedulingOptions { Store = StoreOptions.From(Path.GetTempPath(), null) }, new FakeProvider("r1"), new NoPolicies());

        // Hosted services start one after the other, in registration order.
        var hosted = services.Where(d => d.ServiceType == typeof(IHostedService))
            .Select(d => d.ImplementationType?.Name ?? d.ImplementationFactory?.Method.ReturnType.Name ?? "?").ToList();

        var migration = hosted.IndexOf("SchemaMigrationService");
        var leftovers = hosted.IndexOf("HookLeftoverService");
        var quartz = hosted.FindIndex(name => name.Contains("Quartz", StringComparison.Ordinal));
        Assert.True(migration >= 0 && leftovers > migration && quartz > leftovers, string.Join(", ", hosted));
    }

    private sealed class NoPolicies : IPolicySetParser
    {
        public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources) => throw new NotSupportedException();
    }
}
