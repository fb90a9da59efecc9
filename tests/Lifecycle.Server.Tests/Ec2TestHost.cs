using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Lifecycle.LocalEngine;
using Lifecycle.Server.Ec2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Tests;

/// <summary>An EC2 answer: status, the parsed XML, and its error code (null on success).</summary>
public sealed record Ec2Answer(HttpStatusCode Status, XElement Root, string Text)
{
    public static readonly XNamespace Ns = "http://ec2.amazonaws.com/doc/2016-11-15/";

    public string? Code => Root.Name.LocalName == "Response" ? Root.Element("Errors")?.Element("Error")?.Element("Code")?.Value : null;

    public string? Message => Root.Element("Errors")?.Element("Error")?.Element("Message")?.Value;

    /// <summary>Values of every element with this local name, anywhere under the root.</summary>
    public IReadOnlyList<string> All(string name) => [.. Root.Descendants(Ns + name).Select(e => e.Value)];

    public string? One(string name) => Root.Descendants(Ns + name).FirstOrDefault()?.Value;

    /// <summary>Fails with the body when the call did not succeed.</summary>
    public Ec2Answer Ok()
    {
        Assert.True(Status == HttpStatusCode.OK, $"{(int)Status}: {Text}");
        return this;
    }
}

/// <summary>
/// The EC2 endpoint hosted in-process the way other projects host it (<see cref="Ec2Endpoint.MapEc2Endpoint"/> over
/// a <see cref="LocalEngine.LocalEngine"/> they opened), on a loopback port, with a SigV4 signer of its own.
/// </summary>
public sealed class Ec2TestHost : IAsyncDisposable
{
    public const string Region = "eu-west-1";
    public const string KeyId = "AKIATESTKEY000000001";
    public const string Secret = "test-secret-0000000000000000000000000000";
    public const string SecondKeyId = "AKIATESTKEY000000002";
    public const string SecondSecret = "second-secret-000000000000000000000000000";

    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-ec2-tests-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication app = null!;

    public LocalEngine.LocalEngine Engine { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string CredentialsPath => Path.Combine(root, "credentials");

    public static async Task<Ec2TestHost> StartAsync(Action<LocalEngineOptions>? configure = null, Ec2EndpointOptions? endpoint = null)
    {
        var host = new Ec2TestHost();
        Directory.CreateDirectory(host.root);
        await File.WriteAllTextAsync(host.CredentialsPath,
            $"[default]\naws_access_key_id = {KeyId}\naws_secret_access_key = {Secret}\n\n# a second profile\n[ci]\naws_access_key_id={SecondKeyId}\naws_secret_access_key={SecondSecret}\nregion = eu-west-1\n");
        var options = new LocalEngineOptions { DataDirectory = Path.Combine(host.root, "engine") };
        configure?.Invoke(options);
        host.Engine = LocalEngine.LocalEngine.Open(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        host.app = builder.Build();
        host.app.MapEc2Endpoint(host.Engine, Ec2Credentials.Load(host.CredentialsPath), endpoint ?? new Ec2EndpointOptions { Regions = [Region, "eu-central-1"] });
        await host.app.StartAsync();
        var address = host.app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        host.Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        return host;
    }

    /// <summary>A signed POST of <paramref name="parameters"/> (Action first), as the aws CLI sends it.</summary>
    public Task<Ec2Answer> CallAsync(string action, params (string Name, string Value)[] parameters) =>
        SendAsync(Signed(HttpMethod.Post, action, parameters));

    public async Task<Ec2Answer> SendAsync(HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            // Kestrel's own refusals (a request line or headers over its limits: 414, 431) have no body.
            return new Ec2Answer(response.StatusCode, text.Length == 0 ? new XElement("Empty") : XDocument.Parse(text).Root!, text);
        }
    }

    /// <summary>A request signed with SigV4 (this test's own signer); every part can be varied to test refusals.</summary>
    public HttpRequestMessage Signed(HttpMethod method, string action, (string Name, string Value)[] parameters, string keyId = KeyId, string secret = Secret,
        string region = Region, DateTimeOffset? at = null, string path = "/ec2", string service = "ec2")
    {
        var form = Form([("Action", action), ("Version", "2016-11-15"), .. parameters]);
        var request = method == HttpMethod.Get
            ? new HttpRequestMessage(method, path + "?" + form)
            : new HttpRequestMessage(method, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(form)) };
        request.Content?.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
        Sign(request, method == HttpMethod.Get ? "" : form, keyId, secret, region, at ?? DateTimeOffset.UtcNow, service);
        return request;
    }

    /// <summary>Form encoding as the SDKs send it (space as %20, RFC 3986 unreserved left alone).</summary>
    public static string Form(IEnumerable<(string Name, string Value)> parameters) =>
        string.Join('&', parameters.Select(p => Uri.EscapeDataString(p.Name) + "=" + Uri.EscapeDataString(p.Value)));

    /// <summary>
    /// Signs: canonical request (method, path, sorted query, host/x-amz-date/content-type headers, body hash), string to
    /// sign, HMAC chain. Written from the SigV4 specification, separately from the server's verifier.
    /// </summary>
    public void Sign(HttpRequestMessage request, string body, string keyId, string secret, string region, DateTimeOffset at, string service = "ec2")
    {
        var amzDate = at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var host = Http.BaseAddress!.Authority;
        var bodyHash = Hex(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        var uri = new Uri(Http.BaseAddress, request.RequestUri!);
        var query = uri.Query.TrimStart('?');
        var canonicalQuery = query.Length == 0 ? "" : string.Join('&', query.Split('&')
            .Select(p => p.Split('=', 2))
            .Select(p => (Name: Encode(Uri.UnescapeDataString(p[0])), Value: Encode(Uri.UnescapeDataString(p.Length > 1 ? p[1] : ""))))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value));
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["host"] = host, ["x-amz-date"] = amzDate };
        if (request.Content is not null)
        {
            headers["content-type"] = "application/x-www-form-urlencoded; charset=utf-8";
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = $"{request.Method.Method}\n{uri.AbsolutePath}\n{canonicalQuery}\n{string.Concat(headers.Select(h => h.Key + ":" + h.Value + "\n"))}\n{signedHeaders}\n{bodyHash}";
        var scope = $"{date}/{region}/{service}/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secret), date);
        key = Hmac(key, region);
        key = Hmac(key, service);
        key = Hmac(key, "aws4_request");
        var signature = Hex(Hmac(key, toSign));
        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential={keyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        Engine.Dispose();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    private static string Encode(string text) =>
        string.Concat(Encoding.UTF8.GetBytes(text).Select(b => char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~'
            ? ((char)b).ToString()
            : "%" + b.ToString("X2", CultureInfo.InvariantCulture)));
}
