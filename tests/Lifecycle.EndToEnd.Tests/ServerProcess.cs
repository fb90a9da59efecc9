using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// A real `lifecycle serve` process (the CLI's lifecycle.dll built next to these tests) on a free loopback port.
/// Kill() is SIGKILL; StopAsync() is SIGTERM and waits for a clean exit.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }

    /// <summary>The server's admin token (DATA/admin-token); <see cref="Http"/> sends it on every request.</summary>
    public string AdminToken { get; private set; } = "";

    /// <summary>The data directory the server was started with (--data, or ./.lifecycle).</summary>
    public string DataDirectory { get; private set; } = "";

    public HttpClient Http { get; }

    public int ProcessId => process.Id;

    public bool HasExited => process.HasExited;

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

    public static string LifecycleDll => Path.Combine(AppContext.BaseDirectory, "lifecycle.dll");

    /// <param name="requireHealthy">Wait for /healthz 200 (default); false: wait only until it answers (a server
    /// started on a broken policy source is up but unhealthy).</param>
    public static async Task<ServerProcess> StartAsync(
        IEnumerable<string> arguments, TimeSpan? startTimeout = null, IReadOnlyDictionary<string, string>? environment = null, bool requireHealthy = true)
    {
        if (!File.Exists(LifecycleDll))
        {
            throw new FileNotFoundException($"the CLI is not built next to the tests: {LifecycleDll}");
        }

        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(LifecycleDll);
        start.ArgumentList.Add("serve");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        var process = new Process { StartInfo = start };
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}"));
        var args = arguments.ToList();
        var data = args.IndexOf("--data") is >= 0 and var i && i + 1 < args.Count ? args[i + 1] : "./.lifecycle";
        server.DataDirectory = Path.GetFullPath(data);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await server.WaitHealthyAsync(startTimeout ?? TimeSpan.FromSeconds(90), requireHealthy).ConfigureAwait(false);
        server.UseAdminToken(args.IndexOf("--admin-token-file") is >= 0 and var t && t + 1 < args.Count ? args[t + 1] : null);
        return server;
    }

    /// <summary>Reads the admin token the server wrote (or was given) and sends it from now on.</summary>
    public void UseAdminToken(string? adminTokenFile = null)
    {
        AdminToken = File.ReadAllText(adminTokenFile ?? Path.Combine(DataDirectory, "admin-token")).Trim();
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
    }

    public Task WaitHealthyAsync(TimeSpan timeout, bool requireHealthy = true) =>
        WaitUntilAsync(async () =>
        {
            try
            {
                using var response = await Http.GetAsync("/healthz").ConfigureAwait(false);
                return response.StatusCode == HttpStatusCode.OK || (!requireHealthy && response.StatusCode == HttpStatusCode.ServiceUnavailable);
            }
            catch (HttpRequestException)
            {
                return false; // not listening yet
            }
        }, timeout, requireHealthy ? "/healthz to answer 200" : "/healthz to answer");

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {text}");
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>POSTs <paramref name="body"/> (an empty object when null) as application/json, as every state-changing route expects.</summary>
    public Task<HttpResponseMessage> PostJsonAsync(string path, object? body = null) =>
        Http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body ?? new { }), Encoding.UTF8, "application/json"));

    /// <summary>/healthz: its status code and body (200 and 503 both carry the checks).</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> GetHealthAsync()
    {
        using var response = await Http.GetAsync("/healthz").ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>
    /// Polls <paramref name="condition"/> until it holds (<see cref="Eventually"/>); fails at once if the server exits,
    /// and at the deadline with what was awaited and the server's log.
    /// </summary>
    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the server exited with {process.ExitCode} while waiting for {what}:\n{Log}");
                }

                return await condition().ConfigureAwait(false);
            }, what, timeout, TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        }
        catch (EventuallyTimeoutException e)
        {
            throw new EventuallyTimeoutException($"{e.Message}\n{Log}");
        }
    }

    /// <inheritdoc cref="WaitUntilAsync(Func{Task{bool}}, TimeSpan, string)"/>
    public Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        WaitUntilAsync(() => Task.FromResult(condition()), timeout, what);

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: false);
            process.WaitForExit(30_000);
        }
    }

    /// <summary>SIGTERM and wait for the clean shutdown.</summary>
    public async Task StopAsync()
    {
        if (process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"the server did not stop within 60 s of SIGTERM:\n{Log}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started
        }

        Http.Dispose();
        process.Dispose();
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.AppendLine(line);
        }
    }
}
