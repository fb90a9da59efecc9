using System.Net;
using Lifecycle.Server.Metrics;
using Lifecycle.Server.Security;
using Lifecycle.Testing.Waiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Tests;

/// <summary>/metrics: who may read it, and that it reports the server's policies and health.</summary>
[Collection(ServerCollection.Name)]
public sealed class MetricsTests(ServerFixture server)
{
    [Fact]
    public async Task Metrics_Is401WithoutOrWithAnUnknownToken_AndNamesTheHeader()
    {
        using var anonymous = server.Client();
        using var none = await anonymous.GetAsync(MetricsEndpoint.Path);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("Authorization: Bearer", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("lifecycle_", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var wrong = server.Client(TokenStore.NewToken());
        using var unknown = await wrong.GetAsync(MetricsEndpoint.Path);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
    }

    [Fact]
    public async Task Metrics_WithAReadToken_ReportsThePolicysScheduleInterval_SnapshotsAndHealth()
    {
        using var reader = server.Client(server.ReadToken);
        // The inventory gauges come from the background refresh (its first pass runs at start).
        var text = await Eventually.UntilAsync(
            async () =>
            {
                using var response = await reader.GetAsync(MetricsEndpoint.Path);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
                return await response.Content.ReadAsStringAsync();
            },
            t => t.Contains("lifecycle_snapshots{policy=\"guarded\"", StringComparison.Ordinal),
            "the policy's snapshots in /metrics",
            TimeSpan.FromSeconds(60));

        Assert.Contains("lifecycle_schedule_interval_seconds{policy=\"guarded\",schedule=\"daily\"} 86400\n", text, StringComparison.Ordinal);
        Assert.Matches("lifecycle_snapshots\\{policy=\"guarded\",region=\"sec-a\",state=\"completed\",tier=\"standard\"\\} [1-9]", text);
        Assert.Contains("lifecycle_health_check{check=\"store\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("lifecycle_newest_snapshot_timestamp_seconds{policy=\"guarded\",schedule=\"daily\",volume=\"vol-", text, StringComparison.Ordinal);
        // The hand-taken snapshot has no policy tag: it is nobody's, and no snapshot id is ever a label.
        Assert.DoesNotContain(server.UnownedSnapshotId, text, StringComparison.Ordinal);
        Assert.DoesNotContain(server.OwnedSnapshotId, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_IsGetOnly_APostIsRefused()
    {
        // Another method matches no route: the fallback policy (admin) answers a read token, and admin gets 405.
        using var reader = server.Client(server.ReadToken);
        using var post = await reader.PostAsync(MetricsEndpoint.Path, new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        using var admin = server.Client(server.AdminToken);
        using var adminPost = await admin.PostAsync(MetricsEndpoint.Path, new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, adminPost.StatusCode);
    }

    [Fact]
    public async Task MetricsAnonymous_ServesMetricsWithoutAToken_AndStillAcceptsOne()
    {
        // The option's effect on the route alone (a second full server would share Quartz's process-wide scheduler).
        var root = Path.Combine(Path.GetTempPath(), "lifecycle-metrics-anon-" + Guid.NewGuid().ToString("N")[..8]);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddLifecycleAuthentication(TokenStore.Open(root, null, null, TimeProvider.System));
        await using var app = builder.Build();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapLifecycleMetrics(anonymous: true);
        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var client = new HttpClient { BaseAddress = address };
            using var response = await client.GetAsync(MetricsEndpoint.Path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("process_start_time_seconds", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            Directory.Delete(root, recursive: true);
        }
    }
}
