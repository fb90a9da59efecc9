using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The runtime settings the CLI ships with (its <c>lifecycle.runtimeconfig.json</c>, which `dotnet lifecycle.dll`,
/// the Dockerfile and the systemd unit all run with): each one is a measured choice for a server on few cores.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void TheCli_RunsWithServerGc_NoProfileGuidedTier_AndThreadPoolWorkersThatDoNotSpin()
    {
        var path = Path.Combine(Path.GetDirectoryName(ServerProcess.LifecycleDll)!, "lifecycle.runtimeconfig.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var settings = document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(settings.GetProperty("System.GC.Server").GetBoolean());
        Assert.False(settings.GetProperty("System.Runtime.TieredPGO").GetBoolean());
        // Written as a string or a number depending on the SDK; the runtime reads either.
        var spin = settings.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit");
        Assert.Equal("0", spin.ValueKind == JsonValueKind.String ? spin.GetString() : spin.GetRawText());
    }
}
