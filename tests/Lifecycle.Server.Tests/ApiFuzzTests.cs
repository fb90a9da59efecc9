using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifecycle.Server.Security;
using Microsoft.Extensions.Hosting;

namespace Lifecycle.Server.Tests;

/// <summary>
/// Seeded random and mutated requests across every route of the routing table, as a hostile client sends them: odd
/// methods, path parameters and query values, broken and mutated JSON, wrong content types, foreign origins, with no,
/// wrong and under-scoped tokens and then with operate and admin tokens. No request may get a 5xx, the server must
/// stay up, and the requests without a token of the right scope must change nothing.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ApiFuzzTests(ServerFixture server)
{
    /// <summary>Fixed, so a failure reproduces; LIFECYCLE_FUZZ_SEED explores others.</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("LIFECYCLE_FUZZ_SEED"), out var seed) ? seed : 20_261_206;
    private const int RequestsWithoutTheScope = 14_000;
    private const int RequestsWithTheScope = 6_000;

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

    private static readonly string[] QueryKeys = ["limit", "policy", "state", "kind", "from", "to", "region", "volume", "schedule"];

    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json", "application/json", "application/json; charset=utf-8", "application/problem+json",
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "application/xml", "json", ";;",
    ];

    [Fact]
    public async Task TwentyThousandRandomAndMutatedRequests_GetNo5xx_LeaveTheServerUp_AndChangeNothingWithoutTheRightScope()
    {
        using var admin = server.Client(server.AdminToken);
        await AccessTests.EnsureAppliedAndRunningAsync(admin);
        await ServerFixture.WaitIdleAsync(admin);
        var random = new Random(Seed);
        var corpus = await CorpusAsync(admin);
        var routes = AccessTests.Routes(server).Select(r => (r.Method, Pattern: r.Endpoint.RoutePattern.RawText!)).ToList();
        var failures = new List<string>();
        using var client = server.Client(null);

        var before = await StateAsync(admin);
        var unauthorizedTokens = new[] { null, "Bearer " + TokenStore.NewToken(), "Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer " + server.ReadToken, "Bearer " + server.ReadToken + "x" };
        for (var i = 0; i < RequestsWithoutTheScope; i++)
        {
            var authorization = unauthorizedTokens[random.Next(unauthorizedTokens.Length)];
            var (request, label) = NextRequest(random, routes, corpus, authorization);
            if (authorization == "Bearer " + server.ReadToken && !IsRead(request))
            {
                // A read token may read and plan; here it only tries what needs more.
                authorization = null;
                request.Headers.Remove("Authorization");
            }

            await SendAsync(client, request, label, failures);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} request(s) got a 5xx:\n{string.Join('\n', failures.Take(10))}");
        Assert.Equal(before, await StateAsync(admin));

        var authorizedTokens = new[] { "Bearer " + server.OperateToken, "Bearer " + server.AdminToken };
        for (var i = 0; i < RequestsWithTheScope; i++)
        {
            var (request, label) = NextRequest(random, routes, corpus, authorizedTokens[random.Next(authorizedTokens.Length)]);
            await SendAsync(client, request, label, failures);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} request(s) got a 5xx:\n{string.Join('\n', failures.Take(10))}");
        Assert.False(server.App.Services.GetService(typeof(IHostApplicationLifetime)) is IHostApplicationLifetime lifetime && lifetime.ApplicationStopping.IsCancellationRequested);
        using var health = await client.GetAsync("/healthz");
        Assert.True(health.StatusCode is System.Net.HttpStatusCode.OK or System.Net.HttpStatusCode.ServiceUnavailable);
        await AccessTests.EnsureAppliedAndRunningAsync(admin);
        await ServerFixture.WaitIdleAsync(admin);
    }

    private static bool IsRead(HttpRequestMessage request) =>
        request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.RequestUri!.OriginalString.Contains("policies:plan", StringComparison.Ordinal);

    private static async Task SendAsync(HttpClient client, HttpRequestMessage request, string label, List<string> failures)
    {
        using (request)
        {
            try
            {
                using var response = await client.SendAsync(request);
                var status = (int)response.StatusCode;
                if (status >= 500)
                {
                    failures.Add($"{label} -> {status} {Truncate(await response.Content.ReadAsStringAsync(), 400)}");
                }
            }
            catch (HttpRequestException e)
            {
                failures.Add($"{label} -> connection failed: {e.Message}");
            }
        }
    }

    private (HttpRequestMessage Request, string Label) NextRequest(Random random, List<(string Method, string Pattern)> routes, Corpus corpus, string? authorization)
    {
        string method;
        string path;
        if (random.NextDouble() < 0.9)
        {
            var route = routes[random.Next(routes.Count)];
            method = random.NextDouble() < 0.85 ? route.Method : Methods[random.Next(Methods.Length)];
            path = route.Pattern
                .Replace("{region}", Segment(random, corpus.Regions), StringComparison.Ordinal)
                .Replace("{name}", Segment(random, corpus.Policies), StringComparison.Ordinal)
                .Replace("{id}", Segment(random, corpus.Ids), StringComparison.Ordinal);
        }
        else
        {
            method = Methods[random.Next(Methods.Length)];
            path = "/" + string.Join('/', Enumerable.Range(0, random.Next(1, 5)).Select(_ => Uri.EscapeDataString(RandomText(random))));
        }

        if (random.NextDouble() < 0.5)
        {
            path += "?" + string.Join('&', Enumerable.Range(0, random.Next(1, 4)).Select(_ =>
                QueryKeys[random.Next(QueryKeys.Length)] + "=" + Uri.EscapeDataString(QueryValue(random, corpus))));
        }

        // Absolute, so a path that starts with "//" stays a path and is not read as a host name.
        var request = new HttpRequestMessage(new HttpMethod(method), new Uri(server.BaseAddress.GetLeftPart(UriPartial.Authority) + path, UriKind.Absolute));
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (random.NextDouble() < 0.1)
        {
            request.Headers.TryAddWithoutValidation("Origin", random.NextDouble() < 0.5 ? "https://attacker.example" : "null");
        }

        string? body = null;
        if (method is not ("GET" or "HEAD") && random.NextDouble() < 0.85)
        {
            body = Body(random, path, corpus);
            var contentType = ContentTypes[random.Next(ContentTypes.Length)];
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        return (request, $"{method} {Truncate(path, 200)} [{(authorization is null ? "no token" : authorization.Split(' ')[0])}] {Truncate(body ?? "", 200)}");
    }

    private static string Body(Random random, string path, Corpus corpus)
    {
        var template = ApiTemplate(random);
        return random.Next(10) switch
        {
            0 => RandomText(random),
            1 => template.Length > 1 ? template[..random.Next(1, template.Length)] : template,
            2 => "[" + template + "]",
            _ => Mutate(random, JsonNode.Parse(template)!, corpus, depth: 0)?.ToJsonString() ?? "null",
        };
    }

    private static string ApiTemplate(Random random) => random.Next(3) switch
    {
        0 => JsonSerializer.Serialize(new { files = new[] { new { path = "guarded.yaml", text = ServerFixture.Policy } }, revision = "abc", author = "fuzz", allowDestructive = false }),
        1 => JsonSerializer.Serialize(new { files = new[] { new { path = "p.yaml", text = MutateText(random, ServerFixture.Policy) } } }),
        _ => "{}",
    };

    private static JsonNode? Mutate(Random random, JsonNode node, Corpus corpus, int depth)
    {
        if (random.NextDouble() < 0.15 || depth > 6)
        {
            return RandomValue(random, corpus);
        }

        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).ToList())
                {
                    var roll = random.NextDouble();
                    if (roll < 0.1)
                    {
                        obj.Remove(key);
                    }
                    else if (obj[key] is { } child && roll < 0.6)
                    {
                        var mutated = Mutate(random, child.DeepClone(), corpus, depth + 1);
                        obj[key] = mutated;
                    }
                }

                if (random.NextDouble() < 0.1)
                {
                    obj[RandomText(random)] = RandomValue(random, corpus);
                }

                return obj;
            case JsonArray array:
                if (random.NextDouble() < 0.2)
                {
                    array.Add(RandomValue(random, corpus));
                }

                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is { } item && random.NextDouble() < 0.5)
                    {
                        array[i] = Mutate(random, item.DeepClone(), corpus, depth + 1);
                    }
                }

                return array;
            default:
                return node.GetValueKind() == JsonValueKind.String && random.NextDouble() < 0.5
                    ? JsonValue.Create(MutateText(random, node.GetValue<string>()))
                    : RandomValue(random, corpus);
        }
    }

    private static JsonNode? RandomValue(Random random, Corpus corpus) => random.Next(12) switch
    {
        0 => null,
        1 => JsonValue.Create(random.Next(2) == 0),
        2 => JsonValue.Create(random.NextInt64(long.MinValue, long.MaxValue)),
        3 => JsonValue.Create(-1),
        4 => JsonValue.Create(1e308),
        5 => JsonValue.Create(RandomText(random)),
        6 => new JsonArray(JsonValue.Create(RandomText(random)), null),
        7 => new JsonObject { [RandomText(random)] = RandomText(random) },
        8 => JsonValue.Create(corpus.Snapshots.Length > 0 ? corpus.Snapshots[random.Next(corpus.Snapshots.Length)] : "snap-1"),
        9 => JsonValue.Create(new string('a', random.Next(1, 70_000))),
        10 => JsonValue.Create("2026-13-45T99:99:99Z"),
        _ => new JsonArray(),
    };

    private static string MutateText(Random random, string text)
    {
        if (text.Length == 0)
        {
            return RandomText(random);
        }

        var position = random.Next(text.Length);
        return random.Next(4) switch
        {
            0 => text[..position],
            1 => text.Insert(position, RandomText(random)),
            2 => text.Remove(position, Math.Min(random.Next(1, 20), text.Length - position)),
            _ => text.Replace(text[position], (char)random.Next(1, 0x3000)),
        };
    }

    private static string RandomText(Random random)
    {
        var choices = new[] { "", " ", "..", "../..", "%00", "\u0000", "é", "名前", "😀", "a;b", "{x}", "\"", "'--", "-1", "0", "9999999999999999999999", "null", "true", "[]", "{}" };
        if (random.NextDouble() < 0.5)
        {
            return choices[random.Next(choices.Length)];
        }

        var length = random.NextDouble() < 0.05 ? random.Next(500, 5000) : random.Next(1, 24);
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = random.NextDouble() < 0.8 ? (char)random.Next('a', 'z' + 1) : (char)random.Next(0x20, 0x7f);
        }

        return new string(chars);
    }

    private static string Segment(Random random, string[] valid) =>
        random.NextDouble() < 0.6 && valid.Length > 0 ? valid[random.Next(valid.Length)] : Uri.EscapeDataString(RandomText(random));

    private static string QueryValue(Random random, Corpus corpus) => random.Next(8) switch
    {
        0 => random.Next(-5, 200_000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        1 => "2026-12-01T00:00:00Z",
        2 => ServerFixture.PolicyName,
        3 => corpus.Regions[random.Next(corpus.Regions.Length)],
        4 => corpus.Volume,
        5 => "succeeded",
        _ => RandomText(random),
    };

    /// <summary>Real names and ids, so many requests reach real objects rather than 404s.</summary>
    private async Task<Corpus> CorpusAsync(HttpClient admin)
    {
        var snapshots = (await server.Engine.Region(ServerFixture.Region).DescribeSnapshotsAsync()).Select(s => s.Id).ToArray();
        var volume = (await server.Engine.Region(ServerFixture.Region).DescribeVolumesAsync()).First().Id;
        var runs = (await admin.GetFromJsonAsync<JsonElement>("/api/v1/runs")).EnumerateArray().Select(r => r.GetProperty("id").GetString()!);
        var actions = (await admin.GetFromJsonAsync<JsonElement>("/api/v1/actions")).EnumerateArray().Select(a => a.GetProperty("id").GetString()!);
        return new Corpus(
            [ServerFixture.Region, ServerFixture.Region, "eu-west-1"],
            [ServerFixture.PolicyName, "nope"],
            [.. runs, .. actions, .. snapshots],
            snapshots,
            volume);
    }

    /// <summary>What no request without the right scope may change.</summary>
    private async Task<string> StateAsync(HttpClient admin)
    {
        var state = new StringBuilder();
        state.AppendLine((await admin.GetFromJsonAsync<JsonElement>("/api/v1/revisions?limit=1000")).GetArrayLength().ToString(System.Globalization.CultureInfo.InvariantCulture));
        state.AppendLine((await admin.GetFromJsonAsync<JsonElement>("/api/v1/audit?limit=10000")).GetArrayLength().ToString(System.Globalization.CultureInfo.InvariantCulture));
        var policies = await admin.GetFromJsonAsync<JsonElement>("/api/v1/policies");
        foreach (var policy in policies.GetProperty("policies").EnumerateArray())
        {
            state.AppendLine($"{policy.GetProperty("name")} paused={policy.GetProperty("paused")}");
        }

        foreach (var region in server.Engine.Regions)
        {
            state.AppendLine($"region {region}");
            foreach (var snapshot in (await server.Engine.Region(region).DescribeSnapshotsAsync()).OrderBy(s => s.Id, StringComparer.Ordinal))
            {
                state.AppendLine($"  {snapshot.Id} {snapshot.Tier} {string.Join(',', snapshot.Tags.Select(t => t.Key + "=" + t.Value))}");
            }

            foreach (var volume in (await server.Engine.Region(region).DescribeVolumesAsync()).OrderBy(v => v.Id, StringComparer.Ordinal))
            {
                state.AppendLine($"  {volume.Id} {string.Join(',', volume.Tags.Select(t => t.Key + "=" + t.Value))}");
            }

            state.AppendLine($"  recycle bin {(await server.Engine.Region(region).ListSnapshotsInRecycleBinAsync()).Length}");
        }

        return state.ToString();
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length] + "…";

    private sealed record Corpus(string[] Regions, string[] Policies, string[] Ids, string[] Snapshots, string Volume);
}
