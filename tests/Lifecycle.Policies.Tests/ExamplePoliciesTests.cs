using Lifecycle.Core.Policies;

namespace Lifecycle.Policies.Tests;

public class ExamplePoliciesTests
{
    [Fact]
    public void Examples_AllValidate_WithoutErrorsOrWarnings()
    {
        var result = PolicyLoader.Load([RepositoryPaths.Policies]);

        Assert.True(result.Diagnostics.IsEmpty, string.Join("\n", result.Diagnostics));
        Assert.Equal(
            ["databases", "development", "long-term-archive", "prod-critical", "staging"],
            result.Policies.Policies.Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Examples_EveryFile_StartsWithTheSchemaModeline()
    {
        var files = Directory.GetFiles(RepositoryPaths.Policies, "*.yaml");

        Assert.NotEmpty(files);
        Assert.All(files, file =>
            Assert.StartsWith("# yaml-language-server: $schema=./lifecycle-policy.schema.json\n", File.ReadAllText(file), StringComparison.Ordinal));
    }

    [Fact]
    public void Examples_RunOnTheLocalEngine_FromEuWest1()
    {
        var policies = PolicyLoader.Load([RepositoryPaths.Policies]).Policies.Policies;

        Assert.All(policies, p =>
        {
            Assert.Equal(EngineKind.Local, p.Engine);
            Assert.Equal(["eu-west-1"], p.Regions.ToArray());
        });
    }
}
