using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>Serving beyond loopback: HTTPS from PEM files, and a loud warning for plain HTTP on a non-loopback address.</summary>
public sealed class ExposureTests
{
    [Fact]
    public async Task WithAPemCertificate_TheServerSpeaksHttps_AndStillWantsAToken()
    {
        using var environment = new TestEnvironment("tls");
        var (certPath, keyPath, certificate) = WriteSelfSignedPem(environment.Root);
        var port = ServerProcess.FreePort();
        using var server = Start(environment, $"https://127.0.0.1:{port}", "--tls-cert", certPath, "--tls-key", keyPath);
        using var handler = new HttpClientHandler
        {
            // Trust exactly the certificate this test made.
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented is not null && presented.Thumbprint == certificate.Thumbprint,
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitAsync(server, async () => (await TryGetAsync(client, "/healthz")) is HttpStatusCode.OK, "HTTPS /healthz");

        Assert.Equal(HttpStatusCode.Unauthorized, await TryGetAsync(client, "/api/v1/policies"));
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(environment.DataDirectory, "admin-token")).Trim());
        Assert.Equal(HttpStatusCode.OK, await TryGetAsync(client, "/api/v1/policies"));
        Assert.DoesNotContain("without TLS", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpOnEveryAddress_LogsAWarningAtStart_AndStillFiltersHostNames()
    {
        using var environment = new TestEnvironment("plain");
        var port = ServerProcess.FreePort();
        using var server = Start(environment, $"http://0.0.0.0:{port}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitAsync(server, () => Task.FromResult(server.Log.Contains("without TLS: bearer tokens cross the network in clear text", StringComparison.Ordinal)), "the TLS warning");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/policies");
        request.Headers.Host = "rebinding.attacker.example";
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await TryGetAsync(client, "/api/v1/policies"));
    }

    private static (string Cert, string Key, X509Certificate2 Certificate) WriteSelfSignedPem(string directory)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(directory, "cert.pem");
        var keyPath = Path.Combine(directory, "key.pem");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, certificate);
    }

    private static RunningServer Start(TestEnvironment environment, string urls, params string[] more)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { ServerProcess.LifecycleDll, "serve", "--data", environment.DataDirectory, "--urls", urls }.Concat(more))
        {
            start.ArgumentList.Add(argument);
        }

        var server = new RunningServer(new Process { StartInfo = start });
        server.Process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server.Process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server.Process.Start();
        server.Process.BeginOutputReadLine();
        server.Process.BeginErrorReadLine();
        return server;
    }

    private static async Task<HttpStatusCode?> TryGetAsync(HttpClient client, string path)
    {
        try
        {
            using var response = await client.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet
        }
    }

    private static async Task WaitAsync(RunningServer server, Func<Task<bool>> condition, string what)
    {
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                Assert.False(server.Process.HasExited, $"the server exited:\n{server.Log}");
                return await condition();
            }, what, TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(200));
        }
        catch (EventuallyTimeoutException e)
        {
            throw new EventuallyTimeoutException($"{e.Message}\n{server.Log}");
        }
    }

    private sealed class RunningServer(Process process) : IDisposable
    {
        private readonly StringBuilder log = new();

        public Process Process { get; } = process;

        public string Log
        {
            get
            {
                lock (log)
                {
                    return log.ToString();
                }
            }
        }

        public void Append(string? line)
        {
            lock (log)
            {
                log.AppendLine(line);
            }
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(30_000);
            }

            Process.Dispose();
        }
    }
}
