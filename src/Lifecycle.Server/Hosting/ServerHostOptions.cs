using Microsoft.AspNetCore.Builder;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The options every web host of ours is built with. The server takes its settings from its command line only, so the
/// host's own configuration files must neither be watched nor depend on the working directory: ASP.NET Core's default
/// watches the content root, the working directory, recursively for changes to appsettings.json (one inotify watch per
/// directory under it, and an event to read for every write below it). A server started in a directory that holds its
/// data directory, or in /, paid for that on every write of the engine and the store (bench scheduler: a watcher thread
/// busy through a fire, with the kernel queueing an event per engine write).
/// </summary>
public static class ServerHostOptions
{
    /// <summary>Host configuration switch that turns the reload watch off (read before the configuration files are added).</summary>
    public const string NoReloadArgument = "--hostBuilder:reloadConfigOnChange=false";

    public static WebApplicationOptions Options() => new()
    {
        Args = [NoReloadArgument],
        ContentRootPath = AppContext.BaseDirectory,
    };
}
