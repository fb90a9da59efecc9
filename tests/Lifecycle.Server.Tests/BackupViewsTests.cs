using System.Collections.Immutable;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Simulation;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Dashboard;
using Lifecycle.Server.Hosting;
using Lifecycle.Server.Views;

namespace Lifecycle.Server.Tests;

/// <summary>
/// The backup views (/views) on the real server: who sees them and who may act, bad parameters, encoding; and the
/// inventory view's figures (storage, cost, compliance) from a known inventory. The browser tests
/// (Lifecycle.EndToEnd.Tests/BackupViewsBrowserTests) drive them in chromium.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BackupViewsTests(ServerFixture server)
{
    private static readonly string[] Pages = ["/views/policies", "/views/volumes", "/views/snapshots", "/views/storage", "/views/revisions"];

    [Fact]
    public async Task EveryPage_Is401WithoutAToken_RendersForARead_WithoutAnyButton_AndWithButtonsForOperate()
    {
        using var anonymous = server.Client(null);
        using var reader = server.Client(server.ReadToken);
        foreach (var page in Pages)
        {
            using var refused = await anonymous.GetAsync(page);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("/signin", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            using var response = await reader.GetAsync(page);
            var html = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{page}: {(int)response.StatusCode} {html}");
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.DoesNotContain("<form method=\"post\"", html, StringComparison.Ordinal);
            Assert.DoesNotContain("class=\"inline\" method=\"post\"", html, StringComparison.Ordinal);
            Assert.Contains("href=\"/hangfire\"", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        }

        using var operate = server.Client(server.OperateToken);
        var policies = await operate.GetStringAsync("/views/policies");
        Assert.Contains($"action=\"/views/policies/{ServerFixture.PolicyName}/pause\"", policies, StringComparison.Ordinal);
        Assert.Contains($"action=\"/views/policies/{ServerFixture.PolicyName}/trigger\"", policies, StringComparison.Ordinal);
        Assert.Contains(BrowserSessions.AntiforgeryFieldName, policies, StringComparison.Ordinal);

        // The dashboard links to the views.
        Assert.Contains("href=\"/views/policies\"", await reader.GetStringAsync("/hangfire"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APost_ByAReadToken_Is403_ByOperateWithoutTheAntiforgeryToken400_AndNothingChanges()
    {
        using var reader = server.Client(server.ReadToken);
        using var operate = server.Client(server.OperateToken);
        var path = $"/views/policies/{ServerFixture.PolicyName}/pause";
        using (var refused = await reader.PostAsync(path, new FormUrlEncodedContent([new("x", "y")])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("operate", Detail(await refused.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        }

        using (var forged = await operate.PostAsync(path, new FormUrlEncodedContent([new("x", "y")])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
            Assert.Contains(BrowserSessions.AntiforgeryFieldName, Detail(await forged.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        }

        using (var json = await operate.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
            Assert.Contains("Content-Type", Detail(await json.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        }

        var policy = await operate.GetFromJsonAsync<JsonElement>($"/api/v1/policies/{ServerFixture.PolicyName}");
        Assert.False(policy.GetProperty("paused").GetBoolean());
    }

    public static TheoryData<string, HttpStatusCode, string> BadParameters => new()
    {
        { "/views/snapshots?page=0", HttpStatusCode.BadRequest, "page" },
        { "/views/snapshots?page=x", HttpStatusCode.BadRequest, "page" },
        { "/views/snapshots?page=1&page=2", HttpStatusCode.BadRequest, "page" },
        { "/views/snapshots?size=501", HttpStatusCode.BadRequest, "size" },
        { "/views/snapshots?size=-1", HttpStatusCode.BadRequest, "size" },
        { "/views/snapshots?size=99999999999999999999", HttpStatusCode.BadRequest, "size" },
        { "/views/snapshots?tier=cold", HttpStatusCode.BadRequest, "tier" },
        { "/views/snapshots?region=nowhere", HttpStatusCode.NotFound, "region" },
        { "/views/volumes?policy=nobody", HttpStatusCode.NotFound, "policy" },
        { "/views/volumes?page=%00", HttpStatusCode.BadRequest, "page" },
        { "/views/revisions?limit=51", HttpStatusCode.BadRequest, "limit" },
        { "/views/policies?size=201", HttpStatusCode.BadRequest, "size" },
        { "/views/policies?page=-3", HttpStatusCode.BadRequest, "page" },
        { "/views/revisions?limit=0", HttpStatusCode.BadRequest, "limit" },
    };

    [Theory]
    [MemberData(nameof(BadParameters))]
    public async Task ABadParameter_IsA4xxWhoseDetailNamesIt(string path, HttpStatusCode status, string field)
    {
        using var reader = server.Client(server.ReadToken);
        using var response = await reader.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{path}: {(int)response.StatusCode} {body}");
        Assert.StartsWith(field + ":", Detail(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnActionPost_OfAnUnknownPolicyOrAction_IsA404WhoseDetailNamesIt()
    {
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        browser.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", server.OperateToken);
        var page = await browser.GetStringAsync("/views/policies");
        var antiforgery = WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value);
        foreach (var (path, mentions) in new[] { ("/views/policies/no-such-policy/pause", "no-such-policy"), ("/views/actions/no-such-action/retry", "no-such-action") })
        {
            using var response = await browser.PostAsync(path, new FormUrlEncodedContent([new(BrowserSessions.AntiforgeryFieldName, antiforgery)]));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains(mentions, Detail(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        }

        using var badSchedule = await browser.PostAsync($"/views/policies/{ServerFixture.PolicyName}/trigger",
            new FormUrlEncodedContent([new(BrowserSessions.AntiforgeryFieldName, antiforgery), new("schedule", "hourly-nope")]));
        Assert.Equal(HttpStatusCode.NotFound, badSchedule.StatusCode);
        Assert.StartsWith("schedule:", Detail(await badSchedule.Content.ReadAsStringAsync()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AButtonsPost_FromAnotherOrigin_Is403_EvenWithAValidAntiforgeryToken_AndNothingChanges()
    {
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        browser.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", server.OperateToken);
        var page = await browser.GetStringAsync("/views/policies");
        var antiforgery = WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/views/policies/{ServerFixture.PolicyName}/pause")
        {
            Content = new FormUrlEncodedContent([new(BrowserSessions.AntiforgeryFieldName, antiforgery)]),
        };
        request.Headers.TryAddWithoutValidation("Origin", "https://attacker.example");
        using var response = await browser.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("Origin", Detail(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        var policy = await browser.GetFromJsonAsync<JsonElement>($"/api/v1/policies/{ServerFixture.PolicyName}");
        Assert.False(policy.GetProperty("paused").GetBoolean());
    }

    // ---- the inventory view, alone ------------------------------------------------------------------------

    private const string Policies = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: web-p1, description: "<b>web</b>" }
        spec:
          engine: local
          regions: [r-a]
          targets: { tags: { app: web } }
          schedules:
            - name: hourly
              every: 1h
              retain: { count: 5 }
        """;

    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 30, 0, TimeSpan.Zero);

    [Fact]
    public void InventoryView_CountsStorageCostAndCompliance_FromTheInventoryAndThePricesTable()
    {
        var view = BuildView(out _);

        // Storage by region and tier: the standard tier bills incremental bytes, the archive full copies.
        var standard = Assert.Single(view.Storage, r => r.Region == "r-a" && r.Tier == "standard");
        Assert.Equal(3, standard.Snapshots);
        Assert.Equal((3 + 1 + 1) * InventoryView.GiB, standard.Bytes);
        Assert.Equal(5 * 0.05m, standard.MonthlyCost);
        var archive = Assert.Single(view.Storage, r => r.Tier == "archive");
        Assert.Equal(40 * InventoryView.GiB, archive.Bytes);
        Assert.Equal(40 * 0.0125m, archive.MonthlyCost);
        var bin = Assert.Single(view.Storage, r => r.Tier == "recycle-bin");
        Assert.Equal(1, bin.Snapshots);
        var fast = Assert.Single(view.FastRestore);
        Assert.Equal(2, fast.SnapshotZones);
        Assert.Equal(2 * 730 * 0.75m, fast.MonthlyCost);

        // Compliance: vol-1's newest is 30 minutes old (ok for an hourly RPO), vol-2's 5 hours (stale), vol-3 has none.
        var stats = view.Policies["web-p1"];
        Assert.Equal((3, 1, 0, 2), (stats.MatchedVolumes, stats.WithinRpo, stats.Late, stats.Stale));
        Assert.Equal(TimeSpan.FromHours(1), stats.Rpo);
        Assert.Equal(["stale", "stale", "ok"], view.Volumes.Select(v => v.Status));
        Assert.Equal(Now.AddMinutes(-30), view.Volumes.Single(v => v.VolumeId == "vol-1").NewestSnapshot);

        // Snapshots by region and tier, newest first, each with the planner's decision.
        Assert.Equal([("r-a", "standard", 3), ("r-a", "archive", 1), ("r-a", "recycle-bin", 1)], view.SnapshotGroups.Select(g => (g.Region, g.Tier, g.Count)));
        Assert.Equal("snap-new", view.Snapshots[0].Snapshot.Id);
        Assert.All(view.Snapshots.Take(4), r => Assert.Equal(SnapshotVerdict.Kept, r.Verdict));
        Assert.Contains(view.Snapshots[0].Reasons, r => r.Contains("count", StringComparison.Ordinal));
    }

    [Fact]
    public void ThePages_EncodeEveryValue_AndPageWithinTheirBounds()
    {
        var view = BuildView(out var hostile);
        var snapshots = BackupViews.SnapshotsBody(view, null, null, page: 1, size: 2, Now).ToString();
        Assert.DoesNotContain(hostile, snapshots, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(snapshots, "<tr data-snapshot="));
        var bin = BackupViews.SnapshotsBody(view, "r-a", "recycle-bin", page: 1, size: 100, Now).ToString();
        Assert.DoesNotContain(hostile, bin, StringComparison.Ordinal);
        Assert.Contains("&lt;img src=x onerror=alert(1)&gt;", bin, StringComparison.Ordinal);
        var last = BackupViews.SnapshotsBody(view, null, null, page: 3, size: 2, Now).ToString();
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(last, "<tr data-snapshot="));
        var volumes = BackupViews.VolumesBody(view, "web-p1", 1, 100, Now).ToString();
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(volumes, "<tr data-volume="));
        Assert.DoesNotContain(hostile, volumes, StringComparison.Ordinal);
        Assert.Contains("&lt;img src=x onerror=alert(1)&gt;", volumes, StringComparison.Ordinal);
    }

    private static InventoryView BuildView(out string hostile)
    {
        hostile = "<img src=x onerror=alert(1)>";
        var policies = new YamlPolicySetParser().Parse([new PolicySource("p.yaml", Policies)]).Policies;
        var tags = new Dictionary<string, string> { ["app"] = "web" }.ToImmutableSortedDictionary();
        VolumeInfo Volume(string id) => new() { Id = id, Region = "r-a", Zone = "r-aa", SizeGiB = 40, Tags = tags };
        SnapshotInfo Snapshot(string id, string volume, DateTimeOffset start, StorageTier tier = StorageTier.Standard, long? stored = null) => new()
        {
            Id = id, VolumeId = volume, Region = "r-a", StartTime = start, Tier = tier, VolumeSizeGiB = 40, StoredBytes = stored, FullSizeBytes = 40 * InventoryView.GiB,
            Tags = new Dictionary<string, string> { [OwnershipTags.Policy] = "web-p1", [OwnershipTags.Schedule] = "hourly" }.ToImmutableSortedDictionary(),
            ArchivedAt = tier == StorageTier.Archive ? start.AddDays(1) : null,
        };
        var inventory = new Inventory
        {
            Volumes = [Volume("vol-1"), Volume("vol-2"), Volume(hostile)],
            Snapshots =
            [
                Snapshot("snap-new", "vol-1", Now.AddMinutes(-30), stored: 3 * InventoryView.GiB) with
                {
                    FastRestore = ImmutableSortedDictionary<string, FastRestoreState>.Empty.Add("r-aa", FastRestoreState.Enabled).Add("r-ab", FastRestoreState.Optimizing),
                },
                Snapshot("snap-old", "vol-1", Now.AddHours(-3), stored: InventoryView.GiB),
                Snapshot("snap-2", "vol-2", Now.AddHours(-5), stored: InventoryView.GiB),
                Snapshot("snap-arch", "vol-2", Now.AddDays(-100), StorageTier.Archive),
            ],
        };
        var plan = new SnapshotPlanner().Plan(policies, inventory, Now);
        var binned = Snapshot("snap-bin", hostile, Now.AddDays(-2), stored: InventoryView.GiB);
        return InventoryView.Build(policies, inventory, plan, [new Lifecycle.Core.Providers.RecycleBinEntry(binned, Now.AddHours(-1), Now.AddDays(6))], Now,
            StoragePrices.Default, TimeSpan.FromMilliseconds(3), 1);
    }

    private static string Detail(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("detail").GetString() ?? "";
    }
}
