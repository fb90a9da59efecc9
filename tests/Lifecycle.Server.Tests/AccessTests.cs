using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Lifecycle.Server.Tests;

/// <summary>Who may call what: every route of the routing table, without, with a wrong and with an under-scoped token.</summary>
[Collection(ServerCollection.Name)]
public sealed class AccessTests(ServerFixture server)
{
    /// <summary>
    /// The scope of every route. A route added to the server without a line here fails
    /// <see cref="EveryRoute_IsInTheScopeTable_AndNeedsExactlyItsScope"/>: adding a route is a decision about who may call it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, AccessScope?> Scopes = new Dictionary<string, AccessScope?>
    {
        ["GET /healthz"] = null,
        ["GET /metrics"] = AccessScope.Read,
        ["GET /api/v1/policies"] = AccessScope.Read,
        ["GET /api/v1/policies/{name}"] = AccessScope.Read,
        ["POST /api/v1/policies:plan"] = AccessScope.Read,
        ["POST /api/v1/policies:apply"] = AccessScope.Admin,
        ["POST /api/v1/policies/{name}:trigger"] = AccessScope.Operate,
        ["POST /api/v1/policies/{name}:pause"] = AccessScope.Operate,
        ["POST /api/v1/policies/{name}:resume"] = AccessScope.Operate,
        ["GET /api/v1/runs"] = AccessScope.Read,
        ["GET /api/v1/runs/{id}"] = AccessScope.Read,
        ["GET /api/v1/actions"] = AccessScope.Read,
        ["GET /api/v1/actions/{id}"] = AccessScope.Read,
        ["POST /api/v1/actions/{id}:retry"] = AccessScope.Operate,
        ["GET /api/v1/revisions"] = AccessScope.Read,
        ["GET /api/v1/audit"] = AccessScope.Read,
        ["GET /api/v1/snapshots"] = AccessScope.Read,
        ["GET /api/v1/inventory"] = AccessScope.Read,
        ["GET /ec2"] = null,
        ["POST /ec2"] = null,
        ["GET /signin"] = null,
        ["POST /signin"] = null,
        ["POST /signout"] = AccessScope.Read,
        ["GET /hangfire/{**path}"] = AccessScope.Read,
        ["GET /views"] = AccessScope.Read,
        ["GET /views/policies"] = AccessScope.Read,
        ["GET /views/volumes"] = AccessScope.Read,
        ["GET /views/snapshots"] = AccessScope.Read,
        ["GET /views/storage"] = AccessScope.Read,
        ["GET /views/revisions"] = AccessScope.Read,
        ["POST /views/policies/{name}/trigger"] = AccessScope.Operate,
        ["POST /views/policies/{name}/pause"] = AccessScope.Operate,
        ["POST /views/policies/{name}/resume"] = AccessScope.Operate,
        ["POST /views/actions/{id}/retry"] = AccessScope.Operate,
    };

    /// <summary>Anonymous routes that are not health probes: the sign-in form and its post (which checks its token itself).</summary>
    public static readonly IReadOnlySet<string> SignInRoutes = new HashSet<string> { "GET /signin", "POST /signin" };

    /// <summary>
    /// Routes without a bearer scope that authenticate each request themselves (SigV4): an unsigned request gets EC2's
    /// <c>MissingAuthenticationToken</c>, whatever bearer token it carries.
    /// </summary>
    public static readonly IReadOnlySet<string> SigV4Routes = new HashSet<string> { "GET /ec2", "POST /ec2" };

    /// <summary>Every (method, route) of the server's routing table.</summary>
    public static IEnumerable<(string Method, RouteEndpoint Endpoint)> Routes(ServerFixture server) =>
        ((IEndpointRouteBuilder)server.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (m, e)));

    /// <summary>A concrete path for a route: parameters filled with values that reach no existing object.</summary>
    public static string Concrete(string pattern) => pattern
        .Replace("{region}", ServerFixture.Region, StringComparison.Ordinal)
        .Replace("{operation}", "describe-volumes", StringComparison.Ordinal)
        .Replace("{name}", "no-such-policy", StringComparison.Ordinal)
        .Replace("{id}", "no-such-id", StringComparison.Ordinal);

    [Fact]
    public void EveryRoute_IsInTheScopeTable_AndNeedsExactlyItsScope()
    {
        var routes = Routes(server).ToList();
        Assert.True(routes.Count >= Scopes.Count, $"the routing table has {routes.Count} routes");
        foreach (var (method, endpoint) in routes)
        {
            var key = $"{method} {endpoint.RoutePattern.RawText}";
            Assert.True(Scopes.TryGetValue(key, out var expected), $"{key} is not in the scope table: decide who may call it");
            var anonymous = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is not null;
            Assert.Equal(expected is null, anonymous);
            if (expected is { } scope)
            {
                Assert.Equal(scope, BearerAuthentication.RequiredScope(endpoint));
            }
        }
    }

    [Fact]
    public async Task EveryRouteButHealthz_Is401WithoutOrWithAWrongToken_403BelowItsScope_AndReachedWithIt()
    {
        var tokens = new Dictionary<AccessScope, string>
        {
            [AccessScope.Read] = server.ReadToken,
            [AccessScope.Operate] = server.OperateToken,
            [AccessScope.Admin] = server.AdminToken,
        };
        var wrong = TokenStore.NewToken();
        foreach (var (method, endpoint) in Routes(server))
        {
            var key = $"{method} {endpoint.RoutePattern.RawText}";
            var path = Concrete(endpoint.RoutePattern.RawText!);
            var required = Scopes[key];
            if (SigV4Routes.Contains(key))
            {
                foreach (var token in new[] { null, wrong, server.AdminToken })
                {
                    using var unsigned = await SendAsync(method, path, token);
                    var text = await unsigned.Content.ReadAsStringAsync();
                    Assert.True(unsigned.StatusCode == HttpStatusCode.Unauthorized, $"{key}: {(int)unsigned.StatusCode} {text}");
                    Assert.Contains("<Code>", text, StringComparison.Ordinal);
                }

                continue;
            }

            if (SignInRoutes.Contains(key))
            {
                foreach (var token in new[] { null, wrong, server.AdminToken })
                {
                    using var signIn = await SendAsync(method, path, token);
                    Assert.True(signIn.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) && (int)signIn.StatusCode < 500,
                        $"{key}: {(int)signIn.StatusCode} {await signIn.Content.ReadAsStringAsync()}");
                }

                continue;
            }

            if (required is null)
            {
                using var health = await SendAsync(method, path, token: null);
                Assert.True(health.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{key}: {health.StatusCode}");
                continue;
            }

            foreach (var (label, token) in new[] { ("no token", (string?)null), ("a wrong token", wrong), ("a malformed header", "x y z") })
            {
                using var response = await SendAsync(method, path, token);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{key} with {label}: {(int)response.StatusCode}");
                Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
                await AssertProblemAsync(response, "Authorization");
            }

            foreach (var (scope, token) in tokens)
            {
                using var response = await SendAsync(method, path, token);
                if (scope < required)
                {
                    Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{key} with a {scope} token: {(int)response.StatusCode}");
                    await AssertProblemAsync(response, required.Value.Name());
                }
                else
                {
                    Assert.True(response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden),
                        $"{key} with a {scope} token: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
            }
        }
    }

    [Fact]
    public async Task CrossSiteTextPlainAndFormPosts_ChangeNothing_WithOrWithoutAToken()
    {
        using var admin = server.Client(server.AdminToken);
        await EnsureAppliedAndRunningAsync(admin);
        await ServerFixture.WaitIdleAsync(admin);
        var snapshots = (await server.SnapshotIdsAsync()).ToList();
        var revisions = await CountAsync(admin, "/api/v1/revisions?limit=1000");
        var audit = await CountAsync(admin, "/api/v1/audit?limit=10000");
        var attacks = new (string Path, string Body)[]
        {
            ($"/api/v1/policies/{ServerFixture.PolicyName}:pause", ""),
            ($"/api/v1/policies/{ServerFixture.PolicyName}:trigger", ""),
            ("/api/v1/policies:apply", """{"files":[],"allowDestructive":true}"""),
        };
        foreach (var (path, body) in attacks)
        {
            foreach (var contentType in new[] { "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x" })
            {
                // A page on another site: its Origin, a "simple" content type, and (with a stolen or a guessed one) a token.
                foreach (var token in new[] { null, server.ReadToken, server.AdminToken })
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8) };
                    request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
                    request.Headers.TryAddWithoutValidation("Origin", "https://attacker.example");
                    using var client = server.Client(token);
                    using var response = await client.SendAsync(request);
                    Assert.True((int)response.StatusCode is >= 400 and < 500, $"POST {path} ({contentType}, token {token is not null}): {(int)response.StatusCode}");
                    await AssertProblemAsync(response, null);
                }
            }

            // Same-site JSON from a browser on another origin is refused too.
            using var json = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.Length == 0 ? "{}" : body, Encoding.UTF8, "application/json") };
            json.Headers.TryAddWithoutValidation("Origin", "http://localhost.attacker.example");
            using var jsonResponse = await admin.SendAsync(json);
            Assert.Equal(HttpStatusCode.Forbidden, jsonResponse.StatusCode);
            await AssertProblemAsync(jsonResponse, "Origin");
        }

        // The EC2 endpoint takes only SigV4, which no page can compute: a cross-site form post, with or without a bearer
        // token, deletes nothing.
        foreach (var snapshotId in new[] { server.OwnedSnapshotId, server.UnownedSnapshotId })
        {
            foreach (var token in new[] { null, server.AdminToken })
            {
                using var form = new HttpRequestMessage(HttpMethod.Post, "/ec2")
                {
                    Content = new StringContent($"Action=DeleteSnapshot&Version=2016-11-15&SnapshotId={snapshotId}", Encoding.UTF8, "application/x-www-form-urlencoded"),
                };
                form.Headers.TryAddWithoutValidation("Origin", "https://attacker.example");
                using var client = server.Client(token);
                using var refused = await client.SendAsync(form);
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }
        }

        Assert.Equal(snapshots, (await server.SnapshotIdsAsync()).ToList());
        Assert.Equal(revisions, await CountAsync(admin, "/api/v1/revisions?limit=1000"));
        Assert.Equal(audit, await CountAsync(admin, "/api/v1/audit?limit=10000"));
        var policy = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/policies/{ServerFixture.PolicyName}");
        Assert.False(policy.GetProperty("paused").GetBoolean());
    }

    [Fact]
    public async Task ReadsOfUnknownRegions_Are404_AndCreateNoRegion()
    {
        using var reader = server.Client(server.ReadToken);
        using var admin = server.Client(server.AdminToken);
        var regionsDirectory = Path.Combine(server.DataDirectory, "engine", "regions");
        var before = Directory.GetDirectories(regionsDirectory).Length;
        var descriptors = Directory.GetFiles("/proc/self/fd").Length;
        for (var i = 0; i < 200; i++)
        {
            using var response = await reader.GetAsync($"/api/v1/snapshots?region=probe-{i}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            await AssertProblemAsync(response, "region");
        }

        Assert.Equal(before, Directory.GetDirectories(regionsDirectory).Length);
        Assert.DoesNotContain(server.Engine.Regions, r => r.StartsWith("probe-", StringComparison.Ordinal));
        // Nothing was opened and kept: 200 regions used to hold ~6 descriptors each.
        Assert.True(Directory.GetFiles("/proc/self/fd").Length < descriptors + 100, "file descriptors grew");
    }

    [Fact]
    public async Task AForeignHostHeader_IsRefused_SoADnsRebindingPageCannotReachTheApi_WhileHealthProbesByAddressWork()
    {
        using var admin = server.Client(server.AdminToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/policies");
        request.Headers.Host = "rebind.attacker.example";
        using var response = await admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await AssertProblemAsync(response, "rebind.attacker.example");
        using var health = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        health.Headers.Host = "rebind.attacker.example";
        using var healthResponse = await admin.SendAsync(health);
        Assert.True(healthResponse.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, healthResponse.StatusCode.ToString());
    }

    public static TheoryData<string, string, string?, string?, int, string> BadInputs => new()
    {
        { "POST", "/api/v1/policies:apply", "application/json", """{"files":[null]}""", 400, "files[0]" },
        { "POST", "/api/v1/policies:apply", "application/json", """{"files":[{"path":"a.yaml","text":null}]}""", 400, "files[0].text" },
        { "POST", "/api/v1/policies:apply", "application/json", """{"files":[{"text":"x"}]}""", 400, "files[0].path" },
        { "POST", "/api/v1/policies:plan", "application/json", """{"files":7}""", 400, "$.files" },
        { "POST", "/api/v1/policies:plan", "application/json", """{"files":[{"path":"a""", 400, "body" },
        { "POST", "/api/v1/policies:plan", "application/json", "null", 400, "body" },
        { "POST", "/api/v1/policies:plan", "application/json", """{"files":[{"path":"bad.yaml","text":"apiVersion: lifecycle/v1\nkind: Nope\n"}]}""", 422, "bad.yaml:" },
        { "POST", "/api/v1/policies:apply", null, null, 400, "body" },
        { "GET", "/api/v1/runs?limit=many", null, null, 400, "limit" },
        { "GET", "/api/v1/actions?from=yesterday", null, null, 400, "from" },
        { "GET", "/api/v1/snapshots?region=NOT_A_REGION", null, null, 404, "region" },
        { "GET", "/api/v1/inventory?region=NOT_A_REGION", null, null, 404, "region" },
        { "GET", "/api/v1/inventory?limit=0", null, null, 400, "limit" },
        { "GET", "/api/v1/inventory?limit=1", null, null, 422, "limit" },
        { "GET", "/api/v1/policies/nope", null, null, 404, "nope" },
        { "GET", "/api/v1/nowhere", null, null, 404, "/api/v1/nowhere" },
        { "DELETE", "/api/v1/runs", null, null, 405, "DELETE" },
        { "POST", "/api/v1/policies/guarded:pause", "text/plain", "x", 415, "Content-Type" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task BadInput_IsA4xx_WhoseDetailNamesWhatIsWrong(string method, string path, string? contentType, string? body, int status, string named)
    {
        using var admin = server.Client(server.AdminToken);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType ?? "application/json");
        }
        else if (contentType is not null)
        {
            request.Content = new ByteArrayContent([]);
            request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await admin.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{method} {path}: {(int)response.StatusCode} {text}");
        using var document = JsonDocument.Parse(text);
        var detail = document.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : document.RootElement.GetProperty("message").GetString();
        Assert.False(string.IsNullOrWhiteSpace(detail), text);
        Assert.Contains(named, detail!, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<HttpResponseMessage> SendAsync(string method, string path, string? token)
    {
        using var client = server.Client(null);
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", token.Contains(' ', StringComparison.Ordinal) ? token : "Bearer " + token);
        }

        if (method == "POST")
        {
            // Reaches no handler's side effect: an invalid body where a route reads one.
            request.Content = new StringContent("""{"files":[null]}""", Encoding.UTF8, "application/json");
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, string? detailMentions)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        Assert.True(document.RootElement.TryGetProperty("detail", out var detail) && detail.GetString() is { Length: > 0 }, $"no detail: {text}");
        if (detailMentions is not null)
        {
            Assert.Contains(detailMentions, detail.GetString()!, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static async Task<int> CountAsync(HttpClient client, string path) =>
        (await client.GetFromJsonAsync<JsonElement>(path)).GetArrayLength();

    /// <summary>The fuzz test may have changed the applied set or paused the policy; put them back as this test needs.</summary>
    internal static async Task EnsureAppliedAndRunningAsync(HttpClient admin)
    {
        using var applied = await admin.PostAsJsonAsync("/api/v1/policies:apply",
            new { files = new[] { new { path = "guarded.yaml", text = ServerFixture.Policy } }, allowDestructive = true });
        Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
        using var resumed = await admin.PostAsync($"/api/v1/policies/{ServerFixture.PolicyName}:resume", null);
        Assert.True(resumed.IsSuccessStatusCode, await resumed.Content.ReadAsStringAsync());
    }
}
