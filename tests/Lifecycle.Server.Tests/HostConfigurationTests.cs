using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Tests;

/// <summary>
/// The server takes its settings from its command line: its host neither reads configuration files from the working
/// directory nor watches them. ASP.NET Core's defaults watch the content root (the working directory) recursively for
/// appsettings.json, one inotify watch per directory and an event for every write below it: `lifecycle serve` started
/// in the repository, with its data in ./.lifecycle, paid an event for every write of the engine and the store.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HostConfigurationTests(ServerFixture server)
{
    [Fact]
    public void NoConfigurationFileIsWatched()
    {
        var configuration = (IConfigurationRoot)server.App.Services.GetRequiredService<IConfiguration>();
        var files = configuration.Providers.OfType<FileConfigurationProvider>().ToList();

        Assert.NotEmpty(files); // appsettings.json and appsettings.{environment}.json, read if present
        Assert.All(files, f => Assert.False(f.Source.ReloadOnChange, $"{f.Source.Path} is watched for changes"));
    }
}
