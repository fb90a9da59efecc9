using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lifecycle.Scheduling;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Api;
using Lifecycle.Server.Dashboard;
using Lifecycle.Server.Demo;
using Lifecycle.Server.Ec2;
using Lifecycle.Server.Hosting;
using Lifecycle.Server.Metrics;
using Lifecycle.Server.Security;
using Lifecycle.Server.Views;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server;

/// <summary>
/// The `lifecycle serve` host: the scheduler (Quartz on the store), the engine's providers, the REST API under
/// /api/v1, /healthz, /metrics, the Hangfire dashboard at /hangfire and the backup views at /views with browser sign-in at /signin, the watched policy directory
/// and the demo.
/// </summary>
public static class LifecycleServer
{
    /// <summary>Builds the application; the caller runs it. The engine is disposed when the application stops.</summary>
    /// <param name="minimumLevel">The console log's level (a benchmark that prints JSON on stdout raises it).</param>
    public static WebApplication Build(ServerOptions options, TextWriter? announce = null, LogLevel minimumLevel = LogLevel.Information)
    {
        var builder = WebApplication.CreateSlimBuilder(ServerHostOptions.Options());
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(minimumLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Quartz", LogLevel.Warning);
        // Data Protection (browser sessions, anti-forgery) keeps its keys in DATA/keys; its start-up notes are noise.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);

        // Test-only: an accelerated clock shared by every process given the same value (AcceleratedTimeProvider).
        var testClock = Environment.GetEnvironmentVariable(AcceleratedTimeProvider.Variable) is { Length: > 0 } clockText
            ? AcceleratedTimeProvider.Parse(clockText)
            : null;
        TimeProvider timeProvider = testClock ?? TimeProvider.System;
        var tokens = TokenStore.Open(options.DataDirectory, options.AdminTokenFile, options.TokensFile, timeProvider);
        ConfigureKestrel(builder, options);
        var engine = EngineHost.Open(options, timeProvider);
        var ec2Credentials = engine.Local is null
            ? null
            : options.Ec2CredentialsFile is { } ec2File
                ? Ec2Credentials.Load(ec2File, timeProvider)
                : Ec2Credentials.CreateDefault(Path.Combine(options.DataDirectory, "ec2-credentials"), timeProvider);
        var store = StoreOptions.From(options.DataDirectory, options.DatabaseUrl);
        builder.Services.AddSingleton(timeProvider);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(engine);
        builder.Services.AddLifecycleScheduling(
            new SchedulingOptions { Store = store, MaxConcurrency = options.MaxConcurrency, NodeName = options.NodeName, RehearseOnStart = options.RehearseOnStart },
            new Lifecycle.Scheduling.Telemetry.InstrumentedEngineRegistry(engine.Engines),
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
        builder.Services.AddSingleton<EngineMaintenance>();
        builder.Services.AddSingleton<PolicyOperations>();
        builder.Services.AddSingleton<InventoryViewCache>();
        builder.Services.AddHostedService<EngineMaintenanceSchedule>();
        builder.Services.AddLifecycleAuthentication(tokens);
        builder.Services.AddBrowserSessions(options.DataDirectory);
        builder.Services.AddLifecycleMetrics();

        // Unparsable parameters and bodies throw, so RequestGuards answers them with a problem that names the field.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
            c.ProblemDetails.Detail ??= Problems.DefaultDetail(c.HttpContext, c.ProblemDetails.Status ?? c.HttpContext.Response.StatusCode));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
            o.SerializerOptions.TypeInfoResolverChain.Add(new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver());
        });

        var app = builder.Build();
        if (testClock is not null)
        {
            app.Logger.LogWarning(
                "TEST CLOCK: {Variable}={Value} is set: this server's time (Quartz triggers, misfires, cluster check-ins, retention, hooks' timeouts) runs {Factor}x faster than real time from {Epoch:O}. It is for tests only; never set it in production",
                AcceleratedTimeProvider.Variable, testClock.ToString(), testClock.Factor, testClock.Epoch);
        }

        app.UseExceptionHandler();
        app.UseTrustedProxies(options.TrustedProxies);

        app.UseBadInputProblems();
        app.UseStatusCodePages();
        app.UseHostFiltering(RequestGuards.AllowedHosts(options.Urls, options.AllowedHosts));
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseWriteGuards();
        HealthEndpoint.Map(app);
        app.MapLifecycleMetrics(options.MetricsAnonymous);
        var api = app.MapGroup("/api/v1");
        PolicyEndpoints.Map(api);
        RunEndpoints.Map(api);
        RunEndpoints.MapInventory(api);
        SignInEndpoints.Map(app);
        app.MapLifecycleDashboard();
        BackupViews.Map(app);
        if (engine.Local is not null && ec2Credentials is not null)
        {
            var applied = app.Services.GetRequiredService<Lifecycle.Scheduling.Policies.AppliedPolicies>();
            app.MapEc2Endpoint(engine.Local, ec2Credentials, new Ec2EndpointOptions
            {
                Regions = options.Regions,
                // SigV4 clients sign with their wall clock, so the signature skew is judged on the real one.
                TimeProvider = testClock is null ? timeProvider : TimeProvider.System,
                MoreRegions = async ct => RunEndpoints.ServedRegions((await applied.GetAsync(ct).ConfigureAwait(false)).Policies, options),
            }.WithFaultsFrom(Environment.GetEnvironmentVariable(Ec2EndpointOptions.FaultsVariable)));
        }

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var node = app.Services.GetRequiredService<NodeIdentity>();
            var output = announce ?? Console.Out;
            output.WriteLine(
                $"lifecycle serve: listening on {string.Join(", ", addresses)} (node {node.Name}, store {store.Describe()}, {engine.Description})");
            output.WriteLine(tokens.CreatedAdminToken
                ? $"lifecycle serve: wrote a new admin token to {tokens.AdminTokenPath} (mode 0600); send it as 'Authorization: Bearer TOKEN'"
                : $"lifecycle serve: admin token from {tokens.AdminTokenPath}");
            if (ec2Credentials is not null)
            {
                output.WriteLine(ec2Credentials.Created
                    ? $"lifecycle serve: EC2 endpoint at {Ec2Endpoint.Path}; wrote a new key pair to {ec2Credentials.Path} (mode 0600; use it as AWS_SHARED_CREDENTIALS_FILE)"
                    : $"lifecycle serve: EC2 endpoint at {Ec2Endpoint.Path}; key pairs from {ec2Credentials.Path}");
            }

            output.Flush();
            if (!RequestGuards.IsLoopbackOnly(PlainHttpUrls(options.Urls)))
            {
                app.Logger.LogWarning(
                    "listening on a non-loopback address ({Urls}) without TLS: bearer tokens cross the network in clear text. Use --tls-cert/--tls-key, or a TLS-terminating reverse proxy on the same host (src/Lifecycle.Server/README.md, \"Exposing the server\")",
                    options.Urls);
            }
        });
        app.Lifetime.ApplicationStopped.Register(engine.Dispose);
        return app;
    }

    /// <summary>Request limits, and HTTPS from PEM files when asked.</summary>
    private static void ConfigureKestrel(WebApplicationBuilder builder, ServerOptions options)
    {
        if ((options.TlsCertificateFile is null) != (options.TlsKeyFile is null))
        {
            throw new ArgumentException("--tls-cert and --tls-key go together");
        }

        var https = options.Urls.Split(';').Any(u => u.Trim().StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        if (https && options.TlsCertificateFile is null)
        {
            throw new ArgumentException("an https:// address in --urls needs --tls-cert and --tls-key");
        }

        if (https)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
            if (options.TlsCertificateFile is { } cert && options.TlsKeyFile is { } key)
            {
                var certificate = X509Certificate2.CreateFromPemFile(cert, key);
                kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
            }
        });
    }

    /// <summary>The http:// (not https://) addresses of <c>--urls</c>.</summary>
    private static string PlainHttpUrls(string urls) =>
        string.Join(';', urls.Split(';', StringSplitOptions.TrimEntries).Where(u => !u.StartsWith("https://", StringComparison.OrdinalIgnoreCase)));

    /// <summary>The largest request body read (a policy set of many files fits easily).</summary>
    public const long MaxRequestBodyBytes = 16L * 1024 * 1024;

    /// <summary>Runs until Ctrl+C / SIGTERM or <paramref name="cancellationToken"/>.</summary>
    public static async Task<int> RunAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        await using var app = Build(options);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }
}
