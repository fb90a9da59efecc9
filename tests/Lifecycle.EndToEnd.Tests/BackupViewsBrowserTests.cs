using System.Globalization;
using System.Net;
using System.Text.Json;
using Lifecycle.Server.Security;
using Lifecycle.Testing.Waiting;
using Microsoft.Playwright;
using static Lifecycle.EndToEnd.Tests.DashboardBrowserTests;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The backup views (/views) in Debian's chromium against a real `lifecycle serve`: every page opened, its figures
/// compared with the REST API, a schedule run now and its job followed into /hangfire, a policy paused and resumed, a
/// failed create retried until it succeeds, nothing changed by a visitor without a session, a read session or a
/// forged post, and both links between the views and the dashboard. Screenshots: artifacts/screenshots/views-*.png.
/// </summary>
public sealed class BackupViewsBrowserTests
{
    private const string Region = "views-a";

    private static string MainPolicy(string suite) => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: views-main, description: "Web <b>volumes</b>, yearly" }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: {{suite}} } }
          schedules:
            - name: yearly
              cron: "0 0 1 1 *"
              retain: { count: 3 }
              fastRestore: { zones: [{{Region}}a], count: 1 }
        """;

    private static string Manual(string suite) => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: views-manual }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: {{suite}} } }
          schedules:
            - name: yearly
              cron: "0 0 1 1 *"
              retain: { count: 3 }
        """;

    private static string Failing(string marker) => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: views-failing }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: views-failing } }
          schedules:
            - name: yearly
              cron: "0 0 1 1 *"
              retain: { count: 3 }
          hooks:
            pre: [{ exec: [/usr/bin/test, -e, "{{marker}}"], timeout: 10s }]
            onFailure: fail
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task EveryPage_ShowsWhatTheApiSays_RunNowPauseResumeAndRetryWork_AndNobodyWithoutOperateChangesAnything()
    {
        using var environment = new TestEnvironment("views");
        var marker = Path.Combine(environment.Root, "hook-may-pass");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", 2, new Dictionary<string, string> { ["suite"] = "views" });
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", 1, new Dictionary<string, string> { ["suite"] = "views-manual" });
            await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", 1, new Dictionary<string, string> { ["suite"] = "views-failing" });
        }

        var (readToken, operateToken) = (TokenStore.NewToken(), TokenStore.NewToken());
        var tokensFile = Path.Combine(environment.Root, "tokens");
        await File.WriteAllTextAsync(tokensFile,
            TokenStore.TokensFileLine("viewer", AccessScope.Read, readToken) + "\n" + TokenStore.TokensFileLine("ops", AccessScope.Operate, operateToken) + "\n");
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--tokens", tokensFile]);

        // views-manual is applied matching nothing, paused, then pointed at its volume: its latest fire is still owed,
        // so "Run now" has a create to make.
        await ApplyAllAsync(server, MainPolicy("views"), Manual("views-manual-later"), Failing(marker), "r1");
        await ExpectOkAsync(await server.PostJsonAsync("/api/v1/policies/views-manual:pause"));
        await ApplyAllAsync(server, MainPolicy("views"), Manual("views-manual"), Failing(marker), "r2");
        var failedAction = await Eventually.UntilAsync(
            async () => (Main: await server.GetJsonAsync("/api/v1/actions?policy=views-main&kind=create"), Failing: await server.GetJsonAsync("/api/v1/actions?policy=views-failing&kind=create")),
            seen => seen.Main.EnumerateArray().Count(a => State(a) == "succeeded") == 2 && seen.Failing.EnumerateArray().Any(a => State(a) == "failed"),
            "views-main's two creates to succeed and views-failing's create to fail", Timeout, describe: seen => $"{seen.Main} {seen.Failing}");
        var failedId = failedAction.Failing.EnumerateArray().First(a => State(a) == "failed").GetProperty("id").GetString()!;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchChromiumAsync(playwright);

        // No session: no page, and a post changes nothing.
        await using (var anonymous = await NewContextAsync(browser, server))
        {
            var page = await anonymous.NewPageAsync();
            var response = await page.GotoAsync("/views/policies");
            Assert.Equal((int)HttpStatusCode.Unauthorized, response!.Status);
            Assert.Contains("/signin", await page.ContentAsync(), StringComparison.Ordinal);
            var post = await anonymous.APIRequest.PostAsync(new Uri(server.BaseAddress, "/views/policies/views-manual/resume").ToString(), new() { Form = anonymous.APIRequest.CreateFormData() });
            Assert.Equal((int)HttpStatusCode.Unauthorized, post.Status);
        }

        // A read session: from the dashboard's menu to the views; every page, not one button; a post is refused.
        await using var readContext = await NewContextAsync(browser, server);
        var reader = await SignInAsync(readContext, readToken, "viewer");
        // The dashboard's menu link, followed by the click event itself: a pointer click at the link's place can land on
        // nothing while the dashboard's page still lays itself out (seen once in CI: no navigation, the page idle).
        var toViews = reader.GetByRole(AriaRole.Link, new() { Name = "Backup views", Exact = true });
        Assert.Equal("/views/policies", await toViews.GetAttributeAsync("href"));
        Assert.True(await toViews.IsVisibleAsync(), "the dashboard's menu has no link to the backup views");
        await toViews.DispatchEventAsync("click");
        try
        {
            await reader.WaitForURLAsync("**/views/policies");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"the dashboard's link did not reach /views/policies; the page at {reader.Url}:\n{await reader.ContentAsync()}", e);
        }

        Assert.Equal("viewer", await reader.Locator("#signed-in-as").InnerTextAsync());
        foreach (var path in new[] { "/views/policies", "/views/volumes", "/views/snapshots", "/views/storage", "/views/revisions" })
        {
            var response = await reader.GotoAsync(path);
            Assert.Equal((int)HttpStatusCode.OK, response!.Status);
            Assert.Equal(0, await reader.Locator("form[method='post']").CountAsync());
        }

        var readPost = await readContext.APIRequest.PostAsync(new Uri(server.BaseAddress, "/views/policies/views-manual/resume").ToString(), new() { Form = readContext.APIRequest.CreateFormData() });
        Assert.Equal((int)HttpStatusCode.Forbidden, readPost.Status);

        // An operate session: a forged post (no anti-forgery token) is refused too.
        await using var operateContext = await NewContextAsync(browser, server);
        var operate = await SignInAsync(operateContext, operateToken, "ops");
        var forged = await operateContext.APIRequest.PostAsync(new Uri(server.BaseAddress, "/views/policies/views-manual/resume").ToString(), new() { Form = operateContext.APIRequest.CreateFormData() });
        Assert.Equal((int)HttpStatusCode.BadRequest, forged.Status);
        Assert.True(await PausedAsync(server, "views-manual"), "a refused post resumed the policy");

        // The policies page against the API: targets, next fire, last result, pause, compliance, snapshots.
        var apiMain = await server.GetJsonAsync("/api/v1/policies/views-main");
        var nextFire = Time(apiMain.GetProperty("schedules")[0].GetProperty("nextFireTimes")[0].GetDateTimeOffset());
        await operate.GotoAsync("/views/policies");
        var main = operate.Locator("tr[data-policy='views-main']");
        Assert.Equal("2", await main.Locator("td.matched").InnerTextAsync());
        Assert.Equal(nextFire, await main.Locator(".schedule[data-schedule='yearly'] .next-fire").InnerTextAsync());
        Assert.Equal("no", await main.Locator(".pause-state").InnerTextAsync());
        Assert.Contains("Web <b>volumes</b>", await main.Locator("td.name").InnerTextAsync(), StringComparison.Ordinal);
        await ReloadUntilAsync(operate, "/views/policies", async () =>
        {
            var run = (await server.GetJsonAsync("/api/v1/runs?policy=views-main&limit=1"))[0].GetProperty("state").GetString();
            var owned = (await OwnedSnapshotsAsync(server, "views-main")).Count;
            return await main.Locator(".run-state").InnerTextAsync() == run
                && await main.Locator("td.snapshots").InnerTextAsync() == owned.ToString(CultureInfo.InvariantCulture)
                && await main.Locator(".compliant").InnerTextAsync() == "2";
        }, "the policies page to show views-main's last run, snapshot count and compliance as the API does");
        Assert.Equal("paused", await operate.Locator("tr[data-policy='views-manual'] .pause-state").InnerTextAsync());
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-policies.png"), FullPage = true });

        // Resume, pause and resume again with the page's buttons; the API agrees each time.
        foreach (var (button, paused) in new[] { ("resume", false), ("pause", true), ("resume", false) })
        {
            await operate.ClickAsync($"[id='{button}-views-manual']");
            await operate.WaitForURLAsync("**/views/policies");
            Assert.Equal(paused, await PausedAsync(server, "views-manual"));
            Assert.Equal(paused ? "paused" : "no", await operate.Locator("tr[data-policy='views-manual'] .pause-state").InnerTextAsync());
        }

        // Run now: the owed create runs; its job appears on the page and opens in the dashboard.
        await operate.ClickAsync("[id='run-views-manual-yearly']");
        await operate.WaitForURLAsync("**/views/policies");
        var manualRow = operate.Locator("tr[data-policy='views-manual']");
        await ReloadUntilAsync(operate, "/views/policies", async () =>
            await manualRow.Locator(".acting-run[data-kind='manual']").CountAsync() == 1 && await manualRow.Locator("a.job").CountAsync() > 0,
            "the manual run of views-manual and its job on the page");
        var apiCreate = (await server.GetJsonAsync("/api/v1/actions?policy=views-manual&kind=create"))[0];
        var job = apiCreate.GetProperty("job").GetString()!;
        Assert.Equal("job " + job, await manualRow.Locator("a.job").First.InnerTextAsync());
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-policies-run-now.png"), FullPage = true });
        await manualRow.Locator("a.job").First.ClickAsync();
        await operate.WaitForURLAsync($"**/hangfire/jobs/details/{job}");
        Assert.Contains("create snapshot", await operate.Locator("body").InnerTextAsync(), StringComparison.Ordinal);

        // Retry: the failed create, once its hook may pass, succeeds.
        await File.WriteAllTextAsync(marker, "");
        await operate.GotoAsync("/views/policies");
        Assert.Contains("failed", await operate.Locator($"#failed-actions tr[data-action='{failedId}']").InnerTextAsync(), StringComparison.Ordinal);
        await operate.ClickAsync($"[id='retry-{failedId}']");
        await operate.WaitForURLAsync("**/views/policies");
        await Eventually.UntilAsync(async () => State((await server.GetJsonAsync($"/api/v1/actions/{failedId}")).GetProperty("action")) == "succeeded",
            "the retried create to succeed", Timeout);
        await ReloadUntilAsync(operate, "/views/policies", async () => await operate.Locator($"#failed-actions tr[data-action='{failedId}']").CountAsync() == 0,
            "the retried action to leave the failed list");

        // Volumes: each views-main volume's newest completed snapshot, as the API lists them.
        await ReloadUntilAsync(operate, "/views/volumes?policy=views-main", async () =>
        {
            var newest = (await OwnedSnapshotsAsync(server, "views-main")).Where(s => s.GetProperty("state").GetString() == "completed")
                .GroupBy(s => s.GetProperty("volumeId").GetString()!).ToDictionary(g => g.Key, g => Time(g.Max(s => s.GetProperty("startTime").GetDateTimeOffset())));
            var rows = operate.Locator("#volumes tr[data-volume]");
            if (await rows.CountAsync() != 2 || newest.Count != 2)
            {
                return false;
            }

            foreach (var (volume, time) in newest)
            {
                if (await operate.Locator($"#volumes tr[data-volume='{volume}'] td.newest").InnerTextAsync() != time)
                {
                    return false;
                }
            }

            return true;
        }, "the volumes page to show each volume's newest snapshot as the API does");
        Assert.Equal(2, await operate.Locator("#volumes td.status.ok").CountAsync());
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-volumes.png"), FullPage = true });

        // Snapshots by region and tier, and storage: the counts of the API's snapshots; the planner's reasons.
        await ReloadUntilAsync(operate, "/views/snapshots", async () =>
        {
            var counts = await TierCountsAsync(server);
            foreach (var (tier, count) in counts)
            {
                if (await operate.Locator($"#snapshot-groups tr[data-region='{Region}'][data-tier='{tier}'] td.count").InnerTextAsync() != count.ToString(CultureInfo.InvariantCulture))
                {
                    return false;
                }
            }

            return counts.Count > 0 && await operate.Locator("#snapshot-groups tr[data-region]").CountAsync() == counts.Count;
        }, "the snapshots page's counts by region and tier to be the API's");
        var kept = operate.Locator("#snapshots tr[data-snapshot] td.planner", new() { HasText = "kept" });
        Assert.True(await kept.CountAsync() >= 4, await operate.Locator("#snapshots").InnerTextAsync());
        Assert.Contains("count", await kept.First.InnerTextAsync(), StringComparison.Ordinal);
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-snapshots.png"), FullPage = true });

        await ReloadUntilAsync(operate, "/views/storage", async () =>
        {
            var standard = (await TierCountsAsync(server)).GetValueOrDefault("standard");
            return await operate.Locator($"#storage tr[data-region='{Region}'][data-tier='standard'] td.count").InnerTextAsync() == standard.ToString(CultureInfo.InvariantCulture);
        }, "the storage page's snapshot count to be the API's");
        Assert.StartsWith("$", await operate.Locator("#total-cost").InnerTextAsync(), StringComparison.Ordinal);
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-storage.png"), FullPage = true });

        // Revisions: the API's newest first, with author and diff.
        var revisions = await server.GetJsonAsync("/api/v1/revisions");
        await operate.GotoAsync("/views/revisions");
        Assert.Equal(revisions.GetArrayLength(), await operate.Locator("section.revision").CountAsync());
        var newestRevision = operate.Locator("section.revision").First;
        Assert.Equal(revisions[0].GetProperty("seq").GetInt64().ToString(CultureInfo.InvariantCulture), await newestRevision.GetAttributeAsync("data-seq"));
        Assert.Equal(revisions[0].GetProperty("author").GetString(), await newestRevision.Locator(".author").InnerTextAsync());
        Assert.Equal(revisions[0].GetProperty("diff").GetString()!.Trim(), (await newestRevision.Locator(".diff").InnerTextAsync()).Trim());
        await operate.ScreenshotAsync(new() { Path = Screenshot("views-revisions.png"), FullPage = true });

        // Back to the dashboard from the views.
        await operate.ClickAsync("#to-hangfire");
        await operate.WaitForURLAsync("**/hangfire");
    }

    private static string State(JsonElement action) => action.GetProperty("state").GetString() ?? "";

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static async Task<bool> PausedAsync(ServerProcess server, string policy) =>
        (await server.GetJsonAsync($"/api/v1/policies/{policy}")).GetProperty("paused").GetBoolean();

    private static async Task<List<JsonElement>> OwnedSnapshotsAsync(ServerProcess server, string policy) =>
        [.. (await server.GetJsonAsync($"/api/v1/snapshots?region={Region}&policy={policy}")).EnumerateArray()];

    /// <summary>The API's policy-owned snapshots of the region by tier.</summary>
    private static async Task<Dictionary<string, int>> TierCountsAsync(ServerProcess server) =>
        (await server.GetJsonAsync($"/api/v1/snapshots?region={Region}")).EnumerateArray()
            .Where(s => s.GetProperty("tags").TryGetProperty("lifecycle:policy", out _))
            .GroupBy(s => s.GetProperty("tier").GetString()!).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>
    /// The views read the inventory in the background (a view at most a few seconds old): reload until the page shows
    /// what <paramref name="matches"/> expects.
    /// </summary>
    private static Task ReloadUntilAsync(IPage page, string path, Func<Task<bool>> matches, string what) =>
        Eventually.UntilAsync(async () =>
        {
            await page.GotoAsync(path);
            return await matches();
        }, what, Timeout, TimeSpan.FromMilliseconds(500), describe: () => page.Url);

    private static async Task ApplyAllAsync(ServerProcess server, string main, string manual, string failing, string revision)
    {
        using var applied = await server.PostJsonAsync("/api/v1/policies:apply", new
        {
            files = new[] { new { path = "main.yaml", text = main }, new { path = "manual.yaml", text = manual }, new { path = "failing.yaml", text = failing } },
            revision,
        });
        Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
    }

    private static async Task ExpectOkAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
    }
}
