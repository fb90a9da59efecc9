using System.Text.Json;
using System.Text.Json.Serialization;
using Lifecycle.Scheduling;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Api;
using Lifecycle.Server.Demo;
using Lifecycle.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server;

/// <summary>
/// The `lifecycle serve` host: the scheduler (Quartz on the store), the engine's providers, the REST API under
/// /api/v1, /healthz, the watched policy directory and the demo.
/// </summary>
public static class LifecycleServer
{
    /// <summary>Builds the application; the caller runs it. The engine is disposed when the application stops.</summary>
    public static WebApplication Build(ServerOptions options, TextWriter? announce = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Quartz", LogLevel.Warning);

        var timeProvider = TimeProvider.System;
        var engine = EngineHost.Open(options, timeProvider);
        var store = StoreOptions.From(options.DataDirectory, options.DatabaseUrl);
        builder.Services.AddSingleton(timeProvider);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(engine);
        builder.Services.AddLifecycleScheduling(
            new SchedulingOptions { Store = store, MaxConcurrency = options.MaxConcurrency, NodeName = options.NodeName },
            engine.Registry,
            new YamlPolicySetParser());
        if (options.Demo)
        {
            if (engine.Local is null)
            {
                throw new ArgumentException("--demo needs --engine local");
            }

            builder.Services.AddSingleton(engine.Local);
            builder.Services.AddHostedService<DemoSeeder>();
        }

        builder.Services.AddSingleton<PolicySourceStatus>();
        builder.Services.AddHostedService<PolicyDirectoryWatcher>();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
            o.SerializerOptions.TypeInfoResolverChain.Add(new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver());
        });

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        HealthEndpoint.Map(app);
        var api = app.MapGroup("/api/v1");
        PolicyEndpoints.Map(api);
        RunEndpoints.Map(api);
        if (engine.Local is not null)
        {
            EngineEndpoints.Map(app);
        }

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var node = app.Services.GetRequiredService<NodeIdentity>();
            (announce ?? Console.Out).WriteLine(
                $"lifecycle serve: listening on {string.Join(", ", addresses)} (node {node.Name}, store {store.Describe()}, {engine.Description})");
            (announce ?? Console.Out).Flush();
        });
        app.Lifetime.ApplicationStopped.Register(engine.Dispose);
        return app;
    }

    /// <summary>Runs until Ctrl+C / SIGTERM or <paramref name="cancellationToken"/>.</summary>
    public static async Task<int> RunAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        await using var app = Build(options);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }
}
