using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// An HTTP hook whose endpoint answers with 300 MB: the real server reads the response only up to the output cap and
/// drops the rest, so its resident memory stays bounded (it once read each body whole: 2.2 GB RSS for two).
/// </summary>
public sealed class HookResponseTests
{
    private const string Region = "hr-a";
    private const long ResponseBytes = 300L * 1024 * 1024;

    /// <summary>The server's peak resident set may not grow by more than this over the two hooks.</summary>
    private const long AllowedGrowthBytes = 128L * 1024 * 1024;

    [Fact]
    public async Task TwoHooksAnswering300Megabytes_LeaveTheServersPeakMemoryBounded_AndTheirOutputCapped()
    {
        using var environment = new TestEnvironment("hookresponse");
        using (var engine = environment.OpenEngine())
        {
            await TestEnvironment.SeedVolumesAsync(engine, Region, "hr-a-1", 1, new Dictionary<string, string> { ["suite"] = "hook-response" });
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var served = ServeHugeResponsesAsync(listener, go.Task, stop.Token);

        environment.WritePolicy("hooks.yaml", $$"""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: e2e-hook-response }
            spec:
              engine: local
              regions: [hr-a]
              targets: { tags: { suite: hook-response } }
              schedules:
                - name: daily
                  cron: "0 3 * * *"
                  retain: { count: 5 }
              hooks:
                pre:  [{ http: "http://127.0.0.1:{{port}}/freeze", timeout: 60s }]
                post: [{ http: "http://127.0.0.1:{{port}}/thaw", timeout: 60s }]
                onFailure: fail
            """);
        await using var server = await ServerProcess.StartAsync(["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory]);
        // The endpoint holds its answers until the server's peak before the hooks is read.
        var before = PeakResidentBytes(server.ProcessId);
        go.SetResult();

        // The directory's apply catches up the latest fire: one create, its pre and post hooks each get 300 MB.
        var hooks = new List<System.Text.Json.JsonElement>();
        await server.WaitUntilAsync(async () =>
        {
            var creates = (await server.GetJsonAsync("/api/v1/actions?policy=e2e-hook-response&kind=create")).EnumerateArray().ToList();
            if (creates.Count == 1 && creates[0].GetProperty("state").GetString() is "succeeded" or "failed")
            {
                var detail = await server.GetJsonAsync("/api/v1/actions/" + creates[0].GetProperty("id").GetString());
                hooks = [.. detail.GetProperty("hooks").EnumerateArray()];
            }

            return hooks.Count == 2;
        }, TimeSpan.FromSeconds(120), "the create and both of its hooks to finish");

        var after = PeakResidentBytes(server.ProcessId);
        Assert.All(hooks, h =>
        {
            Assert.Equal("succeeded", h.GetProperty("outcome").GetString());
            Assert.True(h.GetProperty("output").GetString()!.Length <= 64 * 1024 + 64, "the hook output is capped");
        });
        Assert.True(after - before < AllowedGrowthBytes,
            string.Create(CultureInfo.InvariantCulture, $"peak RSS grew {(after - before) / 1048576.0:0.0} MiB (from {before / 1048576.0:0.0} to {after / 1048576.0:0.0} MiB)"));
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "lifecycle-hook-response-rss.txt"),
            string.Create(CultureInfo.InvariantCulture, $"peak RSS before {before / 1048576.0:0.0} MiB, after two 300 MB hook responses {after / 1048576.0:0.0} MiB\n"));
        await stop.CancelAsync();
        listener.Stop();
        await served;
    }

    /// <summary>VmHWM of /proc/PID/status: the peak resident set size.</summary>
    private static long PeakResidentBytes(int pid)
    {
        var line = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Answers every request with 200 and a 300 MB body (Content-Length), until the client hangs up.</summary>
    private static async Task ServeHugeResponsesAsync(TcpListener listener, Task go, CancellationToken cancellationToken)
    {
        var chunk = Encoding.ASCII.GetBytes(new string('x', 1024 * 1024));
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var stream = client.GetStream();
                        var buffer = new byte[64 * 1024];
                        var request = new StringBuilder();
                        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                        {
                            var read = await stream.ReadAsync(buffer, cancellationToken);
                            if (read == 0)
                            {
                                return;
                            }

                            request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        }

                        await go.WaitAsync(cancellationToken);
                        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {ResponseBytes}\r\nConnection: close\r\n\r\n"), cancellationToken);
                        for (long sent = 0; sent < ResponseBytes; sent += chunk.Length)
                        {
                            await stream.WriteAsync(chunk, cancellationToken);
                        }
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                    {
                        // the hook read its cap and hung up, as it should
                    }
                }
            }, cancellationToken);
        }
    }
}
