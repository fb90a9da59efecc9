using System.Collections.Immutable;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.Server;
using Lifecycle.Server.Hosting;
using Lifecycle.Server.Security;
using Lifecycle.Testing.Waiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Tests;

/// <summary>
/// One real server in this process (Kestrel on a loopback port, SQLite store, local engine in a temp directory) with
/// an applied policy that owns one volume's only snapshot, and a token of every scope. Quartz's scheduler name is
/// process-wide, so the tests of this project share it (one collection).
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string Region = "sec-a";
    public const string PolicyName = "guarded";

    public const string Policy = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: guarded }
        spec:
          engine: local
          regions: [sec-a]
          targets: { tags: { suite: security } }
          schedules:
            - name: daily
              cron: "0 3 * * *"
              retain: { count: 3 }
        """;

    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-server-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public WebApplication App { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public string AdminToken { get; private set; } = "";

    public string OperateToken { get; } = TokenStore.NewToken();

    public string ReadToken { get; } = TokenStore.NewToken();

    public string TokensFile => Path.Combine(root, "tokens");

    public string DataDirectory => Path.Combine(root, "data");

    public LocalEngine.LocalEngine Engine => App.Services.GetRequiredService<EngineHost>().Local!;

    /// <summary>The snapshot the policy owns: the only one of its volume.</summary>
    public string OwnedSnapshotId { get; private set; } = "";

    /// <summary>A snapshot no policy owns (taken by hand).</summary>
    public string UnownedSnapshotId { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(root);
        // The metrics' background refresh every second (30 s by default): the gauges show what the tests seeded soon.
        Environment.SetEnvironmentVariable(Lifecycle.Server.Metrics.MetricsRefresher.IntervalVariable, "1");
        await File.WriteAllTextAsync(TokensFile,
            TokenStore.TokensFileLine("ops", AccessScope.Operate, OperateToken) + "\n" + TokenStore.TokensFileLine("viewer", AccessScope.Read, ReadToken) + "\n");
        App = LifecycleServer.Build(new ServerOptions
        {
            DataDirectory = DataDirectory,
            Urls = "http://127.0.0.1:0",
            TokensFile = TokensFile,
        }, TextWriter.Null);
        await App.StartAsync();
        BaseAddress = new Uri(App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "admin-token"))).Trim();

        var region = Engine.Region(Region);
        var volume = await region.CreateVolumeAsync("sec-a-1", 1024 * 1024, ImmutableSortedDictionary<string, string>.Empty.Add("suite", "security"));
        var owned = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty
            .Add(OwnershipTags.Policy, PolicyName).Add(OwnershipTags.Schedule, "daily").Add(OwnershipTags.Token, "t-1")));
        OwnedSnapshotId = owned.Id;
        UnownedSnapshotId = (await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty.Add("by", "hand")))).Id;
        await region.WaitForSnapshotAsync(OwnedSnapshotId);
        await region.WaitForSnapshotAsync(UnownedSnapshotId);

        using var admin = Client(AdminToken);
        using var applied = await admin.PostAsJsonAsync("/api/v1/policies:apply", new { files = new[] { new { path = "guarded.yaml", text = Policy } } });
        var body = await applied.Content.ReadAsStringAsync();
        if (!applied.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"apply failed: {(int)applied.StatusCode} {body}");
        }

        await WaitIdleAsync(admin);
    }

    /// <summary>
    /// Waits until the policy's runs and actions are all finished (the apply's catch-up run creates a snapshot), so
    /// tests compare the engine's state before and after their requests, not a run still in flight.
    /// </summary>
    public static async Task WaitIdleAsync(HttpClient admin)
    {
        await Eventually.UntilAsync(
            async () => (Runs: await admin.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/v1/runs?policy={PolicyName}"),
                Actions: await admin.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/v1/actions?policy={PolicyName}")),
            seen => seen.Runs.GetArrayLength() > 0
                && !seen.Runs.EnumerateArray().Any(r => r.GetProperty("state").GetString() == "running")
                && !seen.Actions.EnumerateArray().Any(a => a.GetProperty("state").GetString() is "enqueued" or "running" or "completing"),
            "the policy's runs and actions to finish",
            TimeSpan.FromSeconds(60),
            describe: seen => $"{seen.Runs} {seen.Actions}");
    }

    /// <summary>A client that sends <paramref name="token"/> (none when null).</summary>
    public HttpClient Client(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>Ids of every snapshot in the policy's region.</summary>
    public async Task<ImmutableArray<string>> SnapshotIdsAsync() =>
        [.. (await Engine.Region(Region).DescribeSnapshotsAsync()).Select(s => s.Id).Order(StringComparer.Ordinal)];

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
