using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lifecycle.Server.Security;
using Microsoft.Playwright;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// The dashboard in a real browser (Debian's chromium through Playwright) against a real `lifecycle serve`: sign-in
/// with a read and an operate token, no dashboard without one, the read-only dashboard and anti-forgery refusing
/// forged posts, the Schedules page, and the jobs Hangfire delivered for a policy's creates, one succeeded and one
/// failed. Screenshots go to artifacts/screenshots/.
/// </summary>
public sealed class DashboardBrowserTests
{
    /// <summary>Debian's chromium (tests/dependencies.txt installs it); Playwright never downloads a browser here.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private const string Policy = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: dash-hourly }
        spec:
          engine: local
          regions: [dash-a]
          targets: { tags: { suite: dash } }
          schedules:
            - name: hourly
              cron: "0 * * * *"
              retain: { count: 3 }
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SignIn_ReadSeesAReadOnlyDashboard_OperateAWritableOne_NobodyWithoutAToken_AndTheSchedulesPageShowsTheNextFire()
    {
        using var environment = new TestEnvironment("dash");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "dash-a", "dash-a-1", 1, new Dictionary<string, string> { ["suite"] = "dash" });
        }

        var (readToken, operateToken) = (TokenStore.NewToken(), TokenStore.NewToken());
        var tokensFile = Path.Combine(environment.Root, "tokens");
        await File.WriteAllTextAsync(tokensFile,
            TokenStore.TokensFileLine("viewer", AccessScope.Read, readToken) + "\n" + TokenStore.TokensFileLine("ops", AccessScope.Operate, operateToken) + "\n");
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--tokens", tokensFile]);
        await ApplyAsync(server, Policy);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchChromiumAsync(playwright);

        // No sign-in, no dashboard: not its pages, not its menu.
        await using (var anonymous = await NewContextAsync(browser, server))
        {
            var page = await anonymous.NewPageAsync();
            var response = await page.GotoAsync("/hangfire");
            Assert.Equal((int)HttpStatusCode.Unauthorized, response!.Status);
            Assert.Contains("/signin", await page.ContentAsync(), StringComparison.Ordinal);
            Assert.Equal(0, await page.Locator("a[href='/hangfire/schedules']").CountAsync());
            var schedules = await page.GotoAsync("/hangfire/schedules");
            Assert.Equal((int)HttpStatusCode.Unauthorized, schedules!.Status);
        }

        // A read token: the pages, read-only; a command is refused without the page's anti-forgery token and, with
        // it, because the dashboard is read-only.
        await using var readContext = await NewContextAsync(browser, server);
        var reader = await SignInAsync(readContext, readToken, "viewer");
        Assert.True(await reader.Locator("a[href='/hangfire/schedules']").IsVisibleAsync());
        Assert.Equal(0, await CommandButtonsAsync(reader));

        // The dashboard's own scripts post (its live stats) with the anti-forgery header from the page: accepted.
        var stats = await reader.RunAndWaitForResponseAsync(() => reader.GotoAsync("/hangfire"), r => r.Url.EndsWith("/hangfire/stats", StringComparison.Ordinal));
        Assert.Equal((int)HttpStatusCode.OK, stats.Status);
        Assert.Equal((int)HttpStatusCode.Forbidden, await PostCommandAsync(reader, server, withAntiforgery: false));
        Assert.Equal((int)HttpStatusCode.Unauthorized, await PostCommandAsync(reader, server, withAntiforgery: true));

        // An operate token: the same forged post is refused; with the token the command runs (and finds no such job).
        await using var operateContext = await NewContextAsync(browser, server);
        var operate = await SignInAsync(operateContext, operateToken, "ops");
        Assert.Equal((int)HttpStatusCode.Forbidden, await PostCommandAsync(operate, server, withAntiforgery: false));
        Assert.Equal(422, await PostCommandAsync(operate, server, withAntiforgery: true));
        await operate.GotoAsync("/hangfire");
        await operate.ScreenshotAsync(new() { Path = Screenshot("hangfire-main.png"), FullPage = true });

        // The Schedules page: the policy's schedule with its cron, zone and next fire (the next full hour, UTC).
        var before = DateTimeOffset.UtcNow;
        await operate.GotoAsync("/hangfire/schedules");
        var row = operate.Locator("tr[data-schedule='dash-hourly/hourly']");
        await row.WaitForAsync(new() { Timeout = (float)Timeout.TotalMilliseconds });
        Assert.Equal("dash-hourly", await row.Locator("td.policy").InnerTextAsync());
        Assert.Equal("cron 0 * * * * UTC", await row.Locator("td.expression").InnerTextAsync());
        Assert.Equal("no", await row.Locator("td.paused").InnerTextAsync());
        var nextFire = await row.Locator("td.next-fire").InnerTextAsync();
        Assert.Contains(nextFire, new[] { NextFullHour(before), NextFullHour(DateTimeOffset.UtcNow) });
        await operate.ScreenshotAsync(new() { Path = Screenshot("hangfire-schedules.png"), FullPage = true });

        // Signing out ends the session in this browser only.
        await operate.GotoAsync("/signin");
        await operate.ClickAsync("#signout");
        await operate.WaitForURLAsync("**/signin");
        var after = await operate.GotoAsync("/hangfire");
        Assert.Equal((int)HttpStatusCode.Unauthorized, after!.Status);
        var stillReading = await reader.GotoAsync("/hangfire");
        Assert.Equal((int)HttpStatusCode.OK, stillReading!.Status);
    }

    private const string FailingPolicy = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: dash-failing }
        spec:
          engine: local
          regions: [dash-a]
          targets: { tags: { suite: dash-failing } }
          schedules:
            - name: hourly
              cron: "0 * * * *"
              retain: { count: 3 }
          hooks:
            pre: [{ exec: [/bin/false], timeout: 10s }]
            onFailure: fail
        """;

    [Fact]
    public async Task ACreateHangfireDelivered_IsASucceededJob_AFailedCreateAFailedJobWithTheErrorAndNoStackTrace_AndOnlyOperateHasButtons()
    {
        using var environment = new TestEnvironment("dash-jobs");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, "dash-a", "dash-a-1", 1, new Dictionary<string, string> { ["suite"] = "dash" });
            await TestEnvironment.SeedVolumesAsync(engine, "dash-a", "dash-a-1", 1, new Dictionary<string, string> { ["suite"] = "dash-failing" });
        }

        var (readToken, operateToken) = (TokenStore.NewToken(), TokenStore.NewToken());
        var tokensFile = Path.Combine(environment.Root, "tokens");
        await File.WriteAllTextAsync(tokensFile,
            TokenStore.TokensFileLine("viewer", AccessScope.Read, readToken) + "\n" + TokenStore.TokensFileLine("ops", AccessScope.Operate, operateToken) + "\n");
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--tokens", tokensFile]);
        using (var applied = await server.PostJsonAsync("/api/v1/policies:apply", new
        {
            files = new[] { new { path = "hourly.yaml", text = Policy }, new { path = "failing.yaml", text = FailingPolicy } },
        }))
        {
            Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
        }

        foreach (var policy in new[] { "dash-hourly", "dash-failing" })
        {
            using var triggered = await server.PostJsonAsync($"/api/v1/policies/{policy}:trigger");
            Assert.True(triggered.IsSuccessStatusCode, await triggered.Content.ReadAsStringAsync());
        }

        // The run store's word first: one create succeeded, the other failed on its pre hook.
        JsonElement failedCreate = default;
        await server.WaitUntilAsync(async () =>
        {
            var succeeded = (await server.GetJsonAsync("/api/v1/actions?policy=dash-hourly&kind=create")).EnumerateArray()
                .Any(a => a.GetProperty("state").GetString() == "succeeded");
            failedCreate = (await server.GetJsonAsync("/api/v1/actions?policy=dash-failing&kind=create")).EnumerateArray()
                .FirstOrDefault(a => a.GetProperty("state").GetString() == "failed");
            return succeeded && failedCreate.ValueKind == JsonValueKind.Object;
        }, Timeout, "a succeeded create of dash-hourly and a failed create of dash-failing");
        var error = failedCreate.GetProperty("error").GetString()!;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchChromiumAsync(playwright);
        await using var operateContext = await NewContextAsync(browser, server);
        var operate = await SignInAsync(operateContext, operateToken, "ops");
        await using var readContext = await NewContextAsync(browser, server);
        var reader = await SignInAsync(readContext, readToken, "viewer");

        // The succeeded create, named for a person; operate has its requeue and delete buttons, read has none.
        var succeededJob = await OpenCreateJobAsync(operate, "/hangfire/jobs/succeeded", new Regex(@"^create snapshot vol-\S+ · dash-hourly/hourly · \d{4}-\d\d-\d\d \d\d:\d\dZ$"));
        Assert.True(await CommandButtonsAsync(operate) >= 2, "the operate token's job page has no requeue/delete buttons");
        await operate.ScreenshotAsync(new() { Path = Screenshot("hangfire-succeeded-create.png"), FullPage = true });
        await reader.GotoAsync(succeededJob);
        Assert.Matches(@"create snapshot vol-\S+ · dash-hourly/hourly", await reader.Locator("body").InnerTextAsync());
        Assert.Equal(0, await CommandButtonsAsync(reader));

        // The failed create: a failed job whose message is the action's error, without a stack trace, for read too.
        var failedJob = await OpenCreateJobAsync(operate, "/hangfire/jobs/failed", new Regex(@"create snapshot vol-\S+ · dash-failing/hourly · "));
        var operateText = await operate.Locator("body").InnerTextAsync();
        Assert.Contains(error, operateText, StringComparison.Ordinal);
        await operate.ScreenshotAsync(new() { Path = Screenshot("hangfire-failed-create.png"), FullPage = true });
        await reader.GotoAsync(failedJob);
        var readText = await reader.Locator("body").InnerTextAsync();
        Assert.Contains(error, readText, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\bat (Lifecycle|Hangfire|System)\.", readText);
        Assert.Equal(0, await CommandButtonsAsync(reader));

        // The Requeue button works in the browser (its post carries the page's anti-forgery header): the job is
        // delivered again (the run store's claim makes the second delivery a no-op), so its history grows.
        await operate.GotoAsync(failedJob);
        var states = await operate.Locator(".state-card").CountAsync();
        var requeue = await operate.RunAndWaitForResponseAsync(
            () => operate.Locator("button[data-ajax*='/jobs/actions/requeue/']").ClickAsync(), r => r.Url.Contains("/jobs/actions/requeue/", StringComparison.Ordinal));
        Assert.Equal((int)HttpStatusCode.NoContent, requeue.Status);
        var check = await operateContext.NewPageAsync();
        await server.WaitUntilAsync(async () =>
        {
            await check.GotoAsync(failedJob);
            return await check.Locator(".state-card").CountAsync() > states;
        }, Timeout, "the requeued job's history to grow");
    }

    /// <summary>
    /// Waits (reloading the list) for a job named by <paramref name="name"/> that runs <c>ActionJob.Create</c> (its page
    /// shows the call), opens it, and returns its page's address.
    /// </summary>
    private static async Task<string> OpenCreateJobAsync(IPage page, string list, Regex name)
    {
        var deadline = DateTimeOffset.UtcNow + Timeout;
        while (true)
        {
            await page.GotoAsync(list);
            var links = page.Locator("a[href*='/hangfire/jobs/details/']", new() { HasTextRegex = name });
            var pages = new List<string>();
            for (var i = 0; i < await links.CountAsync(); i++)
            {
                pages.Add(new Uri(new Uri(page.Url), await links.Nth(i).GetAttributeAsync("href")).ToString());
            }

            foreach (var job in pages)
            {
                await page.GotoAsync(job);
                if ((await page.Locator("body").InnerTextAsync()).Contains(".Create(", StringComparison.Ordinal))
                {
                    return job;
                }
            }

            await page.GotoAsync(list);
            Assert.True(DateTimeOffset.UtcNow < deadline, $"no create job matching {name} in {list}:\n{await page.Locator("body").InnerTextAsync()}");
            await Task.Delay(500);
        }
    }

    [Fact]
    public async Task BehindATrustedProxy_TheSessionCookieIsSecureWhenTheProxySaysHttps()
    {
        using var environment = new TestEnvironment("dash-proxy");
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--trusted-proxy", "127.0.0.1"]);
        foreach (var (proto, secure) in new[] { ("https", true), ((string?)null, false) })
        {
            using var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false };
            using var client = new HttpClient(handler) { BaseAddress = server.BaseAddress };
            var form = await client.GetStringAsync("/signin");
            var antiforgery = Regex.Match(form, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
            using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
            {
                Content = new FormUrlEncodedContent([new("__RequestVerificationToken", WebUtility.HtmlDecode(antiforgery)), new("token", server.AdminToken)]),
            };
            if (proto is not null)
            {
                request.Headers.Add("X-Forwarded-Proto", proto);
            }

            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
            var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("lifecycle-session=", StringComparison.Ordinal));
            Assert.Equal(secure, cookie.Split(';', StringSplitOptions.TrimEntries).Any(a => a.Equals("secure", StringComparison.OrdinalIgnoreCase)));
        }
    }

    /// <summary>Launches /usr/bin/chromium; a missing browser fails the test (it is a dependency, never a skip).</summary>
    internal static async Task<IBrowser> LaunchChromiumAsync(IPlaywright playwright)
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new FileNotFoundException($"{ChromiumPath} is missing: install Debian's chromium (tests/run.sh does, from tests/dependencies.txt)", ChromiumPath);
        }

        return await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>
    /// A browser context on the server. Its pages wait up to <see cref="Timeout"/> for an element, a navigation or a
    /// page's load event: on CI's 2 cores, beside the other test projects, the dashboard's first page once took over
    /// 15 s to fire its load event (its scripts and styles), which failed a sign-in that had worked.
    /// </summary>
    internal static async Task<IBrowserContext> NewContextAsync(IBrowser browser, ServerProcess server)
    {
        var context = await browser.NewContextAsync(new() { BaseURL = server.BaseAddress.ToString().TrimEnd('/'), ViewportSize = new() { Width = 1366, Height = 900 } });
        context.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
        context.SetDefaultNavigationTimeout((float)Timeout.TotalMilliseconds);
        return context;
    }

    /// <summary>Signs in through the form, as a person does, and lands on the dashboard.</summary>
    internal static async Task<IPage> SignInAsync(IBrowserContext context, string token, string name)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.FillAsync("#token", token);
        await page.ClickAsync("#signin");
        try
        {
            await page.WaitForURLAsync("**/hangfire");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"signing in as {name} did not reach /hangfire; the page at {page.Url}:\n{await page.ContentAsync()}", e);
        }

        Assert.True(await page.Locator("a[href='/hangfire/schedules']").IsVisibleAsync());
        await page.GotoAsync("/signin");
        Assert.Equal(name, await page.Locator("#signed-in-as").InnerTextAsync());
        await page.GotoAsync("/hangfire");
        return page;
    }

    /// <summary>Requeue and delete buttons on the page (a job's, or a list's).</summary>
    internal static Task<int> CommandButtonsAsync(IPage page) =>
        page.Locator("button[data-ajax*='/requeue/'], button[data-ajax*='/delete/'], button[data-url*='/requeue'], button[data-url*='/delete']").CountAsync();

    /// <summary>
    /// A requeue post with the browser's cookies (the session rides along, as on a forged post from another page),
    /// with or without the anti-forgery header the dashboard's page carries. Its status code.
    /// </summary>
    private static async Task<int> PostCommandAsync(IPage page, ServerProcess server, bool withAntiforgery)
    {
        await page.GotoAsync("/hangfire");
        var headers = new Dictionary<string, string>();
        if (withAntiforgery)
        {
            var header = await page.Locator("meta[name='csrf-header']").GetAttributeAsync("content");
            var token = await page.Locator("meta[name='csrf-token']").GetAttributeAsync("content");
            Assert.False(string.IsNullOrEmpty(header) || string.IsNullOrEmpty(token), "the dashboard page carries no anti-forgery token");
            headers[header!] = token!;
        }

        var form = page.Context.APIRequest.CreateFormData();
        form.Set("jobs[]", "no-such-job");
        var response = await page.Context.APIRequest.PostAsync(new Uri(server.BaseAddress, "/hangfire/jobs/actions/requeue/no-such-job").ToString(),
            new() { Headers = headers, Form = form });
        return response.Status;
    }

    internal static async Task ApplyAsync(ServerProcess server, string policy)
    {
        using var applied = await server.PostJsonAsync("/api/v1/policies:apply", new { files = new[] { new { path = "policy.yaml", text = policy } } });
        Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
    }

    private static string NextFullHour(DateTimeOffset now) =>
        new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero).AddHours(1)
            .ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>artifacts/screenshots/NAME at the repository's root (created when missing).</summary>
    internal static string Screenshot(string name)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Lifecycle.sln")))
        {
            directory = directory.Parent;
        }

        var screenshots = Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("no Lifecycle.sln above the test's directory"), "artifacts", "screenshots");
        Directory.CreateDirectory(screenshots);
        return Path.Combine(screenshots, name);
    }
}
