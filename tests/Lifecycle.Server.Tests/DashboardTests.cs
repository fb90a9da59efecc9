using System.Diagnostics;
using System.Net;
using System.Security.Claims;
using System.Text;
using System.Text.RegularExpressions;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.InMemory;
using Hangfire.States;
using Lifecycle.Server.Dashboard;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Lifecycle.Server.Tests;

/// <summary>
/// /hangfire and the browser sign-in on the real server: who sees the dashboard, who gets its buttons, what a session
/// cookie is and is not good for, the Schedules page, and failed jobs without stack traces.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed partial class DashboardTests(ServerFixture server)
{
    // ---- the dashboard's authorization filter, alone ------------------------------------------------

    public static TheoryData<string?, bool, bool> Callers => new()
    {
        // scope (null: no token), sees the pages, read-only
        { null, false, true },
        { "read", true, true },
        { "operate", true, false },
        { "admin", true, false },
    };

    [Theory]
    [MemberData(nameof(Callers))]
    public async Task DashboardAccess_LetsInAReadToken_AndMakesTheDashboardWritableFromOperate(string? scope, bool allowed, bool readOnly)
    {
        var context = DashboardContextFor(Caller(scope), IPAddress.Parse("203.0.113.7"));
        Assert.Equal(allowed, await new DashboardAccess().AuthorizeAsync(context));
        Assert.Equal(readOnly, DashboardAccess.IsReadOnly(context));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("X-Forwarded-For", "127.0.0.1")]
    [InlineData("X-Forwarded-For", "203.0.113.7")]
    [InlineData("X-Forwarded-Proto", "https")]
    [InlineData("X-Forwarded-Host", "localhost")]
    public async Task DashboardAccess_RefusesAnAnonymousLoopbackClient_ProxiedOrNot(string? header, string? value)
    {
        var context = DashboardContextFor(new ClaimsPrincipal(new ClaimsIdentity()), IPAddress.Loopback);
        if (header is not null)
        {
            context.GetHttpContext().Request.Headers[header] = value;
        }

        Assert.False(await new DashboardAccess().AuthorizeAsync(context));
        Assert.True(DashboardAccess.IsReadOnly(context));
    }

    [Fact]
    public async Task DashboardAccess_DoesNotTakeTheScopeClaimOfAnUnauthenticatedIdentity()
    {
        var unauthenticated = new ClaimsPrincipal(new ClaimsIdentity([new Claim(AccessScopes.ClaimType, "admin")]));
        var context = DashboardContextFor(unauthenticated, IPAddress.Loopback);
        Assert.False(await new DashboardAccess().AuthorizeAsync(context));
        Assert.True(DashboardAccess.IsReadOnly(context));
    }

    [Fact]
    public async Task ForwardedHeaders_FromAnUntrustedProxy_LoopbackIncluded_ChangeNeitherClientNorScheme_AndATrustedProxysDo()
    {
        async Task<(IPAddress? Client, string Scheme)> RunAsync(string[] trusted, string remote)
        {
            var app = new Microsoft.AspNetCore.Builder.ApplicationBuilder(new ServiceCollection().AddLogging().AddOptions().BuildServiceProvider());
            app.UseTrustedProxies(trusted);
            (IPAddress? Client, string Scheme) seen = default;
            app.Run(c =>
            {
                seen = (c.Connection.RemoteIpAddress, c.Request.Scheme);
                return Task.CompletedTask;
            });
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
            context.Request.Scheme = "http";
            context.Request.Headers["X-Forwarded-For"] = "203.0.113.50";
            context.Request.Headers["X-Forwarded-Proto"] = "https";
            await app.Build()(context);
            return seen;
        }

        foreach (var (trusted, remote) in new[] { (Array.Empty<string>(), "127.0.0.1"), ([], "::1"), ([], "10.0.0.9"), (["10.0.0.9"], "127.0.0.1"), (["10.0.0.9"], "10.0.0.8") })
        {
            Assert.Equal((IPAddress.Parse(remote), "http"), await RunAsync(trusted, remote));
        }

        Assert.Equal((IPAddress.Parse("203.0.113.50"), "https"), await RunAsync(["10.0.0.9"], "10.0.0.9"));
        var error = Assert.Throws<ArgumentException>(() => new Microsoft.AspNetCore.Builder.ApplicationBuilder(new ServiceCollection().BuildServiceProvider()).UseTrustedProxies(["proxy.example"]));
        Assert.Contains("--trusted-proxy 'proxy.example'", error.Message, StringComparison.Ordinal);
    }

    // ---- /hangfire on the server ----------------------------------------------------------------------

    [Fact]
    public async Task Hangfire_WithoutAToken_Is401_WithAReadTokenHasNoButtons_WithOperateHasThem()
    {
        var jobId = FailAJob();
        using var anonymous = server.Client(null);
        using var refused = await anonymous.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("/signin", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var reader = server.Client(server.ReadToken);
        var readPage = await GetTextAsync(reader, $"/hangfire/jobs/details/{jobId}");
        Assert.Contains("Schedules", readPage, StringComparison.Ordinal);
        Assert.DoesNotContain("/jobs/actions/requeue/", readPage, StringComparison.Ordinal);
        Assert.DoesNotContain("/jobs/actions/delete/", readPage, StringComparison.Ordinal);
        var readList = await GetTextAsync(reader, "/hangfire/jobs/failed");
        Assert.Contains(jobId, readList, StringComparison.Ordinal);
        Assert.DoesNotContain("/jobs/failed/requeue", readList, StringComparison.Ordinal);
        Assert.DoesNotContain(server.DataDirectory, readList, StringComparison.Ordinal);

        using var operate = server.Client(server.OperateToken);
        var operatePage = await GetTextAsync(operate, $"/hangfire/jobs/details/{jobId}");
        Assert.Contains($"/hangfire/jobs/actions/requeue/{jobId}", operatePage, StringComparison.Ordinal);
        Assert.Contains($"/hangfire/jobs/actions/delete/{jobId}", operatePage, StringComparison.Ordinal);
        Assert.Contains("/jobs/failed/requeue", await GetTextAsync(operate, "/hangfire/jobs/failed"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFailedJob_ShowsItsExceptionTypeAndMessage_AndNoStackTrace()
    {
        var jobId = FailAJob();
        var details = JobStorage().GetMonitoringApi().JobDetails(jobId);
        var failed = details.History.First(h => h.StateName == FailedState.StateName);
        Assert.Equal(typeof(InvalidOperationException).FullName, failed.Data["ExceptionType"]);
        Assert.Equal(FailureMessage, failed.Data["ExceptionMessage"]);
        Assert.StartsWith($"{typeof(InvalidOperationException).FullName}: {FailureMessage}", failed.Data["ExceptionDetails"], StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(StackFrameThatMustNotShow), failed.Data["ExceptionDetails"], StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", failed.Data["ExceptionDetails"], StringComparison.Ordinal);
        Assert.DoesNotContain("\n", failed.Data["ExceptionDetails"], StringComparison.Ordinal);

        using var reader = server.Client(server.ReadToken);
        var page = await GetTextAsync(reader, $"/hangfire/jobs/details/{jobId}");
        Assert.Contains(WebUtility.HtmlEncode(FailureMessage), page, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(StackFrameThatMustNotShow), page, StringComparison.Ordinal);
    }

    [Fact]
    public void AFailureThatIsRetried_IsKeptInTheHistoryWithoutStackTraceToo()
    {
        var jobId = FailAJob(() => DashboardTestJobs.RetriedOnce(), expectFailed: false);
        var history = JobStorage().GetMonitoringApi().JobDetails(jobId).History;
        Assert.Equal(ScheduledState.StateName, history[0].StateName);
        var failed = Assert.Single(history, h => h.StateName == FailedState.StateName);
        Assert.Equal(FailureMessage, failed.Data["ExceptionMessage"]);
        Assert.DoesNotContain(nameof(StackFrameThatMustNotShow), failed.Data["ExceptionDetails"], StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", failed.Data["ExceptionDetails"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task DashboardCommands_NeedTheAntiforgeryToken_AndOperate()
    {
        var jobId = FailAJob();
        using var operate = await SignedInAsync(server.OperateToken);
        var page = await GetTextAsync(operate.Client, $"/hangfire/jobs/details/{jobId}");
        var (header, token) = DashboardAntiforgery(page);

        // A forged post: the session cookie rides along, the page's token does not.
        using var forged = await operate.Client.PostAsync($"/hangfire/jobs/actions/requeue/{jobId}", Form(("x", "1")));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        using var forgedDelete = await operate.Client.PostAsync($"/hangfire/jobs/actions/delete/{jobId}", Form(("x", "1")));
        Assert.Equal(HttpStatusCode.Forbidden, forgedDelete.StatusCode);
        Assert.DoesNotContain(History(jobId), s => s == EnqueuedState.StateName || s == DeletedState.StateName);

        // A read session with a valid token of its own is refused by the read-only dashboard.
        using var reader = await SignedInAsync(server.ReadToken);
        var (readHeader, readToken) = DashboardAntiforgery(await GetTextAsync(reader.Client, $"/hangfire/jobs/details/{jobId}"));
        using var readRequeue = new HttpRequestMessage(HttpMethod.Post, $"/hangfire/jobs/actions/requeue/{jobId}") { Content = Form(("x", "1")) };
        readRequeue.Headers.Add(readHeader, readToken);
        using var readRefused = await reader.Client.SendAsync(readRequeue);
        Assert.True(readRefused.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, readRefused.StatusCode.ToString());
        Assert.DoesNotContain(History(jobId), s => s == EnqueuedState.StateName);

        // The button's own request: the header from the page's meta tags.
        using var requeue = new HttpRequestMessage(HttpMethod.Post, $"/hangfire/jobs/actions/requeue/{jobId}") { Content = Form(("x", "1")) };
        requeue.Headers.Add(header, token);
        using var requeued = await operate.Client.SendAsync(requeue);
        Assert.Equal(HttpStatusCode.NoContent, requeued.StatusCode);
        Assert.Contains(History(jobId), s => s == EnqueuedState.StateName);
    }

    // ---- /signin, /signout ---------------------------------------------------------------------------

    [Fact]
    public async Task SignIn_AnUnknownToken_Is401_AMissingOne400_EachNamingTheTokenField()
    {
        using var browser = new Browser(server.BaseAddress);
        foreach (var (fields, status, named) in new (IEnumerable<(string, string)> Fields, HttpStatusCode Status, string Named)[]
        {
            ([("token", TokenStore.NewToken())], HttpStatusCode.Unauthorized, "'token'"),
            ([("token", server.ReadToken + "x")], HttpStatusCode.Unauthorized, "'token'"),
            ([("token", new string('a', 5000))], HttpStatusCode.Unauthorized, "'token'"),
            ([("token", "  ")], HttpStatusCode.BadRequest, "'token'"),
            ([], HttpStatusCode.BadRequest, "'token'"),
            ([("token", server.ReadToken), ("token", server.ReadToken)], HttpStatusCode.BadRequest, "'token'"),
        })
        {
            var antiforgery = await browser.SignInFormTokenAsync();
            using var response = await browser.Client.PostAsync("/signin", Form([(BrowserSessions.AntiforgeryFieldName, antiforgery), .. fields]));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{string.Join('&', fields.Select(f => f.Item1))}: {(int)response.StatusCode} {body}");
            Assert.Contains(named, ProblemDetail(body), StringComparison.Ordinal);
            Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith(BrowserSessions.CookieName + "=", StringComparison.Ordinal)));
        }

        // Without the form's anti-forgery token (a page elsewhere signing the browser in), and as JSON.
        using var noAntiforgery = await browser.Client.PostAsync("/signin", Form(("token", server.ReadToken)));
        Assert.Equal(HttpStatusCode.BadRequest, noAntiforgery.StatusCode);
        Assert.Contains(BrowserSessions.AntiforgeryFieldName, ProblemDetail(await noAntiforgery.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        using var json = await browser.Client.PostAsync("/signin", new StringContent($$"""{"token":"{{server.ReadToken}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        Assert.Contains("Content-Type", ProblemDetail(await json.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        using var crossSite = new HttpRequestMessage(HttpMethod.Post, "/signin") { Content = Form(("token", server.ReadToken)) };
        crossSite.Headers.Add("Origin", "https://attacker.example");
        using var crossSiteRefused = await browser.Client.SendAsync(crossSite);
        Assert.Equal(HttpStatusCode.Forbidden, crossSiteRefused.StatusCode);
        using var stillOut = await browser.Client.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.Unauthorized, stillOut.StatusCode);
    }

    [Fact]
    public async Task SignIn_SetsAnHttpOnlySameSiteStrictCookie_NotSecureOverHttpEvenIfAnUntrustedHeaderSaysHttps_ThatOpensTheDashboardButNotTheApi()
    {
        using var browser = new Browser(server.BaseAddress);
        var antiforgery = await browser.SignInFormTokenAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
        {
            Content = Form((BrowserSessions.AntiforgeryFieldName, antiforgery), ("token", server.OperateToken)),
        };
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await browser.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/hangfire", response.Headers.Location?.OriginalString);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(BrowserSessions.CookieName + "=", StringComparison.Ordinal));
        var attributes = cookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/", attributes);
        Assert.DoesNotContain("secure", attributes);
        Assert.DoesNotContain(server.OperateToken, cookie, StringComparison.Ordinal);

        Assert.Contains("Schedules", await GetTextAsync(browser.Client, "/hangfire"), StringComparison.Ordinal);

        // The cookie is no credential for the API, to read or to write.
        using var read = await browser.Client.GetAsync("/api/v1/policies");
        Assert.Equal(HttpStatusCode.Unauthorized, read.StatusCode);
        using var pause = await browser.Client.PostAsync($"/api/v1/policies/{ServerFixture.PolicyName}:pause", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, pause.StatusCode);
        using var admin = server.Client(server.AdminToken);
        Assert.Contains("\"paused\":false", await GetTextAsync(admin, $"/api/v1/policies/{ServerFixture.PolicyName}"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignOut_NeedsTheFormsAntiforgeryToken_AndEndsTheSession()
    {
        using var reader = await SignedInAsync(server.ReadToken);
        var page = await GetTextAsync(reader.Client, "/signin");
        Assert.Contains(">viewer<", page, StringComparison.Ordinal);
        using var forged = await reader.Client.PostAsync("/signout", Form(("x", "1")));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains(BrowserSessions.AntiforgeryFieldName, ProblemDetail(await forged.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        using var stillIn = await reader.Client.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.OK, stillIn.StatusCode);

        using var signOut = await reader.Client.PostAsync("/signout", Form((BrowserSessions.AntiforgeryFieldName, HiddenAntiforgery(page))));
        Assert.Equal(HttpStatusCode.SeeOther, signOut.StatusCode);
        using var signedOut = await reader.Client.GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.Unauthorized, signedOut.StatusCode);
    }

    [Fact]
    public async Task ASession_EndsWhenItsTokenIsRevoked()
    {
        var token = TokenStore.NewToken();
        var original = await File.ReadAllTextAsync(server.TokensFile);
        try
        {
            await File.WriteAllTextAsync(server.TokensFile, original + TokenStore.TokensFileLine("short-lived", AccessScope.Read, token) + "\n");
            using var browser = await SignedInWhenTheStoreHasReloadedAsync(token);
            using var open = await browser.Client.GetAsync("/hangfire");
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);

            await File.WriteAllTextAsync(server.TokensFile, original);
            await WaitUntilAsync(async () =>
            {
                using var response = await browser.Client.GetAsync("/hangfire");
                return response.StatusCode == HttpStatusCode.Unauthorized;
            }, "the revoked token's session to be refused");
        }
        finally
        {
            await File.WriteAllTextAsync(server.TokensFile, original);
        }
    }

    // ---- the Schedules page -----------------------------------------------------------------------------

    [Fact]
    public async Task SchedulesPage_ListsThePolicysScheduleWithItsExpressionNextFireAndPause()
    {
        using var reader = server.Client(server.ReadToken);
        using var operate = server.Client(server.OperateToken);
        using var admin = server.Client(server.AdminToken);
        await AccessTests.EnsureAppliedAndRunningAsync(admin);

        var row = Row(await GetTextAsync(reader, "/hangfire/schedules"), "guarded/daily");
        Assert.Equal(ServerFixture.PolicyName, Cell(row, "policy"));
        Assert.Equal("daily", Cell(row, "schedule"));
        Assert.Equal("cron 0 3 * * * UTC", Cell(row, "expression"));
        Assert.Equal(SchedulesPage.Time(NextThreeOClockUtc(TimeProvider.System.GetUtcNow())), Cell(row, "next-fire"));
        Assert.Equal("no", Cell(row, "paused"));
        Assert.Equal("Normal", Cell(row, "trigger-state"));

        try
        {
            using var paused = await operate.PostAsync($"/api/v1/policies/{ServerFixture.PolicyName}:pause", null);
            Assert.True(paused.IsSuccessStatusCode, await paused.Content.ReadAsStringAsync());
            var pausedRow = Row(await GetTextAsync(reader, "/hangfire/schedules"), "guarded/daily");
            Assert.StartsWith("paused ", Cell(pausedRow, "paused"), StringComparison.Ordinal);
            Assert.EndsWith(" by ops", Cell(pausedRow, "paused"), StringComparison.Ordinal);
            Assert.Equal("Paused", Cell(pausedRow, "trigger-state"));
        }
        finally
        {
            await AccessTests.EnsureAppliedAndRunningAsync(admin);
        }
    }

    [Fact]
    public async Task SchedulesPage_EncodesWhatItShows()
    {
        // A schedule trigger whose names and description carry markup (policy names cannot; the page must not rely on it).
        var scheduler = await server.App.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var jobKey = new JobKey("<b>bold</b>", "dashboard-tests");
        var triggerKey = new TriggerKey("<b>bold</b>/<i>x</i>", Lifecycle.Scheduling.Jobs.JobKeys.ScheduleTriggerGroup);
        await scheduler.AddJob(JobBuilder.Create<IJob>().WithIdentity(jobKey).StoreDurably().Build(), AddJobOptions.Replacing);
        try
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().WithIdentity(triggerKey).ForJob(jobKey)
                .WithDescription("every <script>alert(1)</script>").StartAt(DateTimeOffset.UtcNow.AddDays(30))
                .WithSimpleSchedule(x => x.WithInterval(TimeSpan.FromDays(1)).RepeatForever()).Build());
            using var reader = server.Client(server.ReadToken);
            var page = await GetTextAsync(reader, "/hangfire/schedules");
            Assert.DoesNotContain("<script>alert", page, StringComparison.Ordinal);
            Assert.DoesNotContain("<b>bold", page, StringComparison.Ordinal);
            var row = Row(page, "&lt;b&gt;bold&lt;/b&gt;/&lt;i&gt;x&lt;/i&gt;");
            Assert.Equal("<b>bold</b>", Cell(row, "policy"));
            Assert.Equal("<i>x</i>", Cell(row, "schedule"));
            Assert.Equal("every <script>alert(1)</script>", Cell(row, "expression"));
        }
        finally
        {
            await scheduler.DeleteJob(jobKey);
        }
    }

    [Fact]
    public async Task SchedulesPage_Is401WithoutAToken_AndInTheMenu()
    {
        using var anonymous = server.Client(null);
        using var refused = await anonymous.GetAsync("/hangfire/schedules");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var reader = server.Client(server.ReadToken);
        Assert.Contains("href=\"/hangfire/schedules\"", await GetTextAsync(reader, "/hangfire"), StringComparison.Ordinal);
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    private const string FailureMessage = "volume vol-<b>0042</b> not found in region sec-a";

    /// <summary>A job the dashboard lists as failed; created scheduled a day ahead, so no Hangfire server runs it.</summary>
    private string FailAJob() => FailAJob(() => DashboardTestJobs.NeverRuns(), expectFailed: true);

    private string FailAJob(System.Linq.Expressions.Expression<Action> job, bool expectFailed)
    {
        var client = new BackgroundJobClient(JobStorage());
        var id = client.Create(job, new ScheduledState(TimeSpan.FromDays(1)));
        Exception thrown;
        try
        {
            StackFrameThatMustNotShow();
            throw new UnreachableException();
        }
        catch (InvalidOperationException e)
        {
            thrown = e;
        }

        Assert.Equal(expectFailed, client.ChangeState(id, new FailedState(thrown), ScheduledState.StateName));
        return id;
    }

    private static void StackFrameThatMustNotShow() =>
        throw new InvalidOperationException(FailureMessage, new IOException("inner cause"));

    private JobStorage JobStorage() => server.App.Services.GetRequiredService<JobStorage>();

    private List<string> History(string jobId) =>
        [.. JobStorage().GetMonitoringApi().JobDetails(jobId).History.Select(h => h.StateName)];

    private static DashboardContext DashboardContextFor(ClaimsPrincipal user, IPAddress remote)
    {
        var http = new DefaultHttpContext { User = user, RequestServices = new ServiceCollection().BuildServiceProvider() };
        http.Connection.RemoteIpAddress = remote;
        http.Connection.LocalIpAddress = IPAddress.Loopback;
        return new AspNetCoreDashboardContext(new InMemoryStorage(), new DashboardOptions(), http);
    }

    private static ClaimsPrincipal Caller(string? scope) =>
        scope is null
            ? new ClaimsPrincipal(new ClaimsIdentity())
            : BrowserSessions.Principal(new TokenIdentity("t", AccessScopes.TryParse(scope, out var s) ? s : throw new ArgumentException(scope)), BrowserSessions.Scheme);

    private static DateTimeOffset NextThreeOClockUtc(DateTimeOffset now)
    {
        var today = new DateTimeOffset(now.UtcDateTime.Date.AddHours(3), TimeSpan.Zero);
        return today > now ? today : today.AddDays(1);
    }

    private static async Task<string> GetTextAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return text;
    }

    private static FormUrlEncodedContent Form(params IEnumerable<(string Name, string Value)> fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)));

    private static string ProblemDetail(string body)
    {
        using var document = System.Text.Json.JsonDocument.Parse(body);
        return document.RootElement.GetProperty("detail").GetString() ?? "";
    }

    private static string HiddenAntiforgery(string page) =>
        HiddenField().Match(page) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new InvalidOperationException($"no anti-forgery field in {page}");

    private static (string Header, string Token) DashboardAntiforgery(string page)
    {
        var header = MetaTag(page, "csrf-header");
        var token = MetaTag(page, "csrf-token");
        return (header, token);
    }

    private static string MetaTag(string page, string name) =>
        Regex.Match(page, $"<meta name=\"{name}\" content=\"([^\"]+)\">") is { Success: true } m
            ? WebUtility.HtmlDecode(m.Groups[1].Value)
            : throw new InvalidOperationException($"no {name} meta tag on the page");

    private static string Row(string page, string schedule) =>
        Regex.Match(page, $"<tr data-schedule=\"{Regex.Escape(schedule)}\">(.*?)</tr>", RegexOptions.Singleline) is { Success: true } m
            ? m.Groups[1].Value
            : throw new InvalidOperationException($"no row for {schedule} in {page}");

    private static string Cell(string row, string name) =>
        Regex.Match(row, $"<td class=\"{name}\">(?:<code>)?(.*?)(?:</code>)?</td>", RegexOptions.Singleline) is { Success: true } m
            ? WebUtility.HtmlDecode(m.Groups[1].Value)
            : throw new InvalidOperationException($"no {name} cell in {row}");

    private async Task<Browser> SignedInAsync(string token)
    {
        var browser = new Browser(server.BaseAddress);
        var antiforgery = await browser.SignInFormTokenAsync();
        using var response = await browser.Client.PostAsync("/signin", Form((BrowserSessions.AntiforgeryFieldName, antiforgery), ("token", token)));
        Assert.True(response.StatusCode == HttpStatusCode.SeeOther, $"sign-in: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return browser;
    }

    /// <summary>The tokens file is re-read at most once a second: sign in as soon as the new token is known.</summary>
    private async Task<Browser> SignedInWhenTheStoreHasReloadedAsync(string token)
    {
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(20);
        while (true)
        {
            var browser = new Browser(server.BaseAddress);
            var antiforgery = await browser.SignInFormTokenAsync();
            using var response = await browser.Client.PostAsync("/signin", Form((BrowserSessions.AntiforgeryFieldName, antiforgery), ("token", token)));
            if (response.StatusCode == HttpStatusCode.SeeOther)
            {
                return browser;
            }

            browser.Dispose();
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"the new token was not accepted: {(int)response.StatusCode}");
            await Task.Delay(100);
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"waited 20 s for {what}");
            await Task.Delay(100);
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex HiddenField();

    /// <summary>A client that keeps cookies and does not follow redirects, as a browser's requests look to the server.</summary>
    private sealed class Browser : IDisposable
    {
        private readonly HttpClientHandler handler = new() { CookieContainer = new CookieContainer(), AllowAutoRedirect = false };

        public Browser(Uri baseAddress) => Client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };

        public HttpClient Client { get; }

        public async Task<string> SignInFormTokenAsync() => HiddenAntiforgery(await GetTextAsync(Client, "/signin"));

        public void Dispose()
        {
            Client.Dispose();
            handler.Dispose();
        }
    }
}

/// <summary>The method of the test's jobs (Hangfire stores a public method); it is never run.</summary>
public static class DashboardTestJobs
{
    /// <summary>No automatic retry: a failure stays Failed instead of being rescheduled.</summary>
    [AutomaticRetry(Attempts = 0)]
    public static void NeverRuns()
    {
    }

    /// <summary>One automatic retry (a day later): its failure is elected Scheduled.</summary>
    [AutomaticRetry(Attempts = 1, DelaysInSeconds = [86_400])]
    public static void RetriedOnce()
    {
    }
}
