using Lifecycle.Scheduling.Telemetry;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Lifecycle.Server.Metrics;

/// <summary>
/// <c>GET /metrics</c>: every <see cref="System.Diagnostics.Metrics.Meter"/> of the process (ours,
/// <see cref="LifecycleMetrics.MeterName"/>, and ASP.NET Core's) in the Prometheus text format through prometheus-net's
/// meter adapter, plus its process metrics. Needs a <c>read</c> token, or nothing with <c>--metrics-anonymous</c>.
/// </summary>
public static class MetricsEndpoint
{
    public const string Path = "/metrics";

    /// <summary>
    /// A series nobody updated for this long is dropped (the Meters API never says a series is gone): a volume, state or
    /// backlog that left the inventory leaves /metrics within this time. Counters are re-reported by the refresh, so
    /// they stay.
    /// </summary>
    public static readonly TimeSpan SeriesExpireAfter = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The meters exported: ours and ASP.NET Core's request durations. The runtime's own meter (System.Runtime) is left
    /// out: prometheus-net's process_* and dotnet_* series cover it, and its names (…_count gauges) fail promtool's lint.
    /// </summary>
    public static readonly IReadOnlySet<string> ExportedMeters = new HashSet<string>(StringComparer.Ordinal)
    {
        LifecycleMetrics.MeterName, "Microsoft.AspNetCore.Hosting",
    };

    private static readonly Lazy<bool> Configured = new(() =>
    {
        // The default registry is process-wide: configured once, before its first use. The event-counter adapter
        // duplicates the runtime's figures and its debug series fail promtool's lint; process metrics stay.
        Prometheus.Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressEventCounters = true,
            SuppressDebugMetrics = true,
            SuppressProcessMetrics = false,
            SuppressMeters = false,
        });
        Prometheus.Metrics.ConfigureMeterAdapter(o =>
        {
            o.InstrumentFilterPredicate = instrument => ExportedMeters.Contains(instrument.Meter.Name);
            var defaults = o.ResolveHistogramBuckets;
            o.ResolveHistogramBuckets = instrument => LifecycleMetrics.BucketsOf(instrument.Name) ?? defaults(instrument);
            o.MetricsExpireAfter = SeriesExpireAfter;
        });

        // The adapter starts listening at the registry's first collection: collect once now, so events before the
        // first scrape are counted.
        Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();
        return true;
    });

    /// <summary>Configures the process-wide exporter (once; later calls do nothing).</summary>
    public static void ConfigureExporter() => _ = Configured.Value;

    public static IServiceCollection AddLifecycleMetrics(this IServiceCollection services)
    {
        ConfigureExporter();
        services.AddSingleton<MetricsRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<MetricsRefresher>());
        return services;
    }

    public static IEndpointConventionBuilder MapLifecycleMetrics(this IEndpointRouteBuilder app, bool anonymous)
    {
        var endpoint = app.MapMetrics(Path).WithMetadata(new HttpMethodMetadata(["GET"]));
        return anonymous ? endpoint.AllowAnonymous() : endpoint.RequireScope(AccessScope.Read);
    }
}
