using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;

namespace Lifecycle.Server.Hosting;

/// <summary>The engine a server runs policies against, opened for the server's lifetime.</summary>
public sealed class EngineHost : IDisposable
{
    private readonly IDisposable? owned;

    private EngineHost(IEngineRegistry engines, string description, LocalEngine.LocalEngine? local, IDisposable? owned)
    {
        Engines = engines;
        Description = description;
        Local = local;
        this.owned = owned;
    }

    /// <summary>The engines policies run against (a policy's <c>engine:</c> picks one).</summary>
    public IEngineRegistry Engines { get; }

    public string Description { get; }

    /// <summary>The bundled engine when <c>--engine local</c> (the demo seeds volumes through it).</summary>
    public LocalEngine.LocalEngine? Local { get; }

    public static EngineHost Open(ServerOptions options, TimeProvider timeProvider)
    {
        switch (options.Engine)
        {
            case "local":
                var directory = Path.GetFullPath(options.EngineDirectoryOrDefault);
                var keyRing = Path.Combine(Path.GetFullPath(options.DataDirectory), "keyring.json");
                if (options.Demo)
                {
                    EnsureDemoKeys(keyRing);
                }

                var engine = LocalEngine.LocalEngine.Open(new LocalEngineOptions
                {
                    DataDirectory = directory,
                    KeyRingPath = keyRing,
                    TimeProvider = timeProvider,
                    // The demo and the tests watch fast-restore states change within a run.
                    FastRestoreEnablingTime = TimeSpan.FromSeconds(5),
                    FastRestoreOptimizingTime = TimeSpan.FromSeconds(5),
                    FastRestoreDisablingTime = TimeSpan.FromSeconds(5),
                });
                return new EngineHost(EngineRegistry.Single(EngineKind.Local, engine), $"local engine at {directory}", engine, engine);
            case "aws":
                throw new NotSupportedException("--engine aws needs the AWS provider (Lifecycle.Aws), which is not part of this build yet");
            default:
                throw new ArgumentException($"unknown engine '{options.Engine}'; use local, remote or aws");
        }
    }

    public void Dispose() => owned?.Dispose();

    /// <summary>
    /// The demo runs the example policies too: they encrypt copies with the key ring's default key and with
    /// <c>dr-key</c>, so the demo's key ring has both (created once, kept outside the engine directory).
    /// </summary>
    private static void EnsureDemoKeys(string keyRing)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(keyRing)!);
        var existing = File.Exists(keyRing) ? Lifecycle.LocalEngine.Encryption.KeyRing.Load(keyRing).KeyIds : [];
        if (!existing.Contains("demo-default"))
        {
            Lifecycle.LocalEngine.Encryption.KeyRing.AddKey(keyRing, "demo-default", makeDefault: true);
        }

        if (!existing.Contains("dr-key"))
        {
            Lifecycle.LocalEngine.Encryption.KeyRing.AddKey(keyRing, "dr-key", makeDefault: false);
        }
    }
}
