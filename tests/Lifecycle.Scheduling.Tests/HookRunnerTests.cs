using System.Collections.Immutable;
using System.Net;
using System.Text;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.Scheduling.Tests;

public sealed class HookRunnerTests : IDisposable
{
    private static readonly HookContext Context = new("db", "every-2h", HookStage.Pre, ["vol-1", "vol-2"], "i-1", new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero));
    private readonly HookRunner runner = new(TimeProvider.System, TimeSpan.FromMilliseconds(1));

    public void Dispose() => runner.Dispose();

    [Fact]
    public async Task Exec_PassesTheLifecycleEnvironment_AndCapturesStdoutAndStderr()
    {
        var hook = new ExecHook(["/bin/sh", "-c", "echo $LIFECYCLE_POLICY $LIFECYCLE_SCHEDULE $LIFECYCLE_STAGE $LIFECYCLE_VOLUME_IDS $LIFECYCLE_INSTANCE_ID; echo oops >&2"]);

        var result = await runner.RunAsync(hook, Context);

        Assert.Equal(HookOutcome.Succeeded, result.Outcome);
        Assert.Contains("db every-2h pre vol-1,vol-2 i-1", result.Output);
        Assert.Contains("oops", result.Output);
    }

    [Fact]
    public async Task Exec_NeverUsesAShell_ArgumentsArePassedVerbatim()
    {
        var result = await runner.RunAsync(new ExecHook(["/bin/echo", "$HOME; rm -rf /", "`x`"]), Context);

        Assert.Equal("$HOME; rm -rf / `x`", result.Output.Trim());
    }

    [Fact]
    public async Task Exec_CapsTheCapturedOutput()
    {
        var result = await runner.RunAsync(new ExecHook(["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x"]), Context);

        Assert.Equal(HookOutcome.Succeeded, result.Outcome);
        Assert.True(result.Output.Length <= HookRunner.OutputCap + 100, $"{result.Output.Length} characters kept");
        Assert.EndsWith("[output truncated]", result.Output);
    }

    [Fact]
    public async Task Exec_Timeout_KillsTheWholeProcessTree()
    {
        var pidFile = Path.GetTempFileName();
        var hook = new ExecHook(["/bin/sh", "-c", $"sleep 3001 & echo $! > {pidFile}; wait"]) { Timeout = TimeSpan.FromMilliseconds(700) };

        var result = await runner.RunAsync(hook, Context);

        Assert.Equal(HookOutcome.TimedOut, result.Outcome);
        Assert.True(result.Duration < TimeSpan.FromSeconds(5), $"took {result.Duration}");
        var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await PollAsync(() => IsAlive(child) ? null : "gone", TimeSpan.FromSeconds(10)) == "gone", $"the child {child} survived");
        File.Delete(pidFile);
    }

    [Fact]
    public async Task Exec_FailedAttempt_IsRetriedUpToRetries()
    {
        var counter = Path.GetTempFileName();
        var hook = new ExecHook(["/bin/sh", "-c", $"echo x >> {counter}; test $(wc -l < {counter}) -ge 3"]) { Retries = 4 };

        var result = await runner.RunAsync(hook, Context);

        Assert.Equal(HookOutcome.Succeeded, result.Outcome);
        Assert.Equal(3, result.Attempts);
        File.Delete(counter);
    }

    [Fact]
    public async Task Exec_MissingProgram_FailsWithAClearError()
    {
        var result = await runner.RunAsync(new ExecHook(["/nonexistent/freeze"]), Context);

        Assert.Equal(HookOutcome.Failed, result.Outcome);
        Assert.Contains("/nonexistent/freeze", result.Error);
    }

    [Theory]
    [InlineData(204, HookOutcome.Succeeded)]
    [InlineData(500, HookOutcome.Failed)]
    public async Task Http_PostsTheContextAsJson_And2xxIsSuccess(int status, HookOutcome expected)
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var received = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            context.Response.StatusCode = status;
            context.Response.Close();
            return (context.Request.HttpMethod, body);
        });

        var result = await runner.RunAsync(new HttpHook(new Uri($"http://127.0.0.1:{port}/freeze")), Context);

        var (method, json) = await received;
        Assert.Equal("POST", method);
        Assert.Contains("\"policy\":\"db\"", json);
        Assert.Contains("\"volumeIds\":[\"vol-1\",\"vol-2\"]", json);
        Assert.Equal(expected, result.Outcome);
        Assert.Equal(status, result.ExitCode);
    }

    [Fact]
    public async Task Exec_Timeout_KillsADoubleForkedGrandchild_ThatLeftTheProcessTree()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), "lifecycle-hook-" + Guid.NewGuid().ToString("N")[..10] + ".pids");
        try
        {
            // The subshell starts sleep in the background and exits: the grandchild is reparented away from the hook,
            // out of reach of a tree kill, but still in the hook's process group.
            // The pids appear at once (written aside, then renamed); the timeout leaves room to look at them on a busy machine.
            var hook = new ExecHook(["/bin/sh", "-c", $"echo $$ > {pidFile}.tmp; (sleep 300 & echo $! >> {pidFile}.tmp); mv {pidFile}.tmp {pidFile}; sleep 300"])
            {
                Timeout = TimeSpan.FromSeconds(3),
            };

            var run = runner.RunAsync(hook, Context);
            var pids = await PollAsync(() => File.Exists(pidFile) ? File.ReadAllLines(pidFile).Select(int.Parse).ToArray() : null, TimeSpan.FromSeconds(10));
            var grandchild = pids[1];
            Assert.True(IsAlive(grandchild), "the grandchild should run until the timeout");
            Assert.NotEqual(pids[0], ParentOf(grandchild)); // it did leave the tree

            var result = await run;

            Assert.Equal(HookOutcome.TimedOut, result.Outcome);
            Assert.True(await PollAsync(() => IsAlive(grandchild) ? null : "gone", TimeSpan.FromSeconds(10)) == "gone", $"the grandchild {grandchild} survived the timeout");
            Assert.False(IsAlive(pids[0]));
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [Fact]
    public async Task Exec_RunsInAProcessGroupOfItsOwn_AndTellsTheObserverItsGroupAndStartTime()
    {
        var observer = new RecordingObserver();

        var result = await runner.RunAsync(new ExecHook(["/bin/sh", "-c", "echo $$; ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 /proc/$$/stat"]), Context, observer);

        Assert.Equal(HookOutcome.Succeeded, result.Outcome);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var process = Assert.Single(observer.Started);
        Assert.Equal(lines[0], process.ProcessGroupId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(lines[0], lines[1]); // its pid is its process group id
        Assert.NotEqual(Environment.ProcessId, process.ProcessGroupId);
        Assert.NotNull(process.BootId);
    }

    [Fact]
    public async Task Exec_SeesNoServerVariable_OnlyPathLangHomeTzLifecycleAndItsEnv()
    {
        var secretName = "LIFECYCLE_TEST_DB_PASSWORD_" + Guid.NewGuid().ToString("N")[..8];
        var otherName = "DB_PASSWORD_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(secretName, "hunter2");
        Environment.SetEnvironmentVariable(otherName, "hunter2");
        try
        {
            var hook = new ExecHook(["/usr/bin/env"])
            {
                Environment = ImmutableSortedDictionary<string, string>.Empty.Add("APP_MODE", "freeze all").Add("LIFECYCLE_POLICY", "forged"),
            };

            var result = await runner.RunAsync(hook, Context);

            Assert.Equal(HookOutcome.Succeeded, result.Outcome);
            var variables = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            Assert.DoesNotContain("hunter2", result.Output);
            Assert.Equal("freeze all", variables["APP_MODE"]);
            Assert.Equal("db", variables["LIFECYCLE_POLICY"]); // env: cannot override LIFECYCLE_*
            Assert.Equal("vol-1,vol-2", variables["LIFECYCLE_VOLUME_IDS"]);
            Assert.Contains("PATH", variables.Keys);
            Assert.Contains("LANG", variables.Keys);
            Assert.All(variables.Keys, key => Assert.True(
                key.StartsWith("LIFECYCLE_", StringComparison.Ordinal) && key != secretName || key is "PATH" or "LANG" or "HOME" or "TZ" or "APP_MODE",
                $"the hook sees {key}"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(secretName, null);
            Environment.SetEnvironmentVariable(otherName, null);
        }
    }

    [Fact]
    public async Task Http_DoesNotFollowARedirect_UnlessTheHookSaysSo()
    {
        using var server = new LocalHttpServer(async context =>
        {
            if (context.Request.Url!.AbsolutePath == "/start")
            {
                context.Response.StatusCode = 307;
                context.Response.RedirectLocation = "/final";
            }
            else
            {
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes("final got " + context.Request.HttpMethod + " " + await reader.ReadToEndAsync()));
            }
        });

        var notFollowed = await runner.RunAsync(new HttpHook(new Uri(server.Url, "/start")), Context);
        var requestsBefore = server.Paths.ToArray();
        var followed = await runner.RunAsync(new HttpHook(new Uri(server.Url, "/start")) { FollowRedirects = true }, Context);

        Assert.Equal(HookOutcome.Failed, notFollowed.Outcome);
        Assert.Equal(307, notFollowed.ExitCode);
        Assert.Contains("not followed", notFollowed.Error);
        Assert.Equal(["/start"], requestsBefore);
        Assert.Equal(HookOutcome.Succeeded, followed.Outcome);
        Assert.Contains("final got POST {\"policy\":\"db\"", followed.Output);
    }

    [Fact]
    public async Task Http_SendsAContentLength_AndASignatureTheReceiverCanVerify()
    {
        var secretFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(secretFile, "s3cret-shared-key\n");
        try
        {
            string? problem = "no request";
            using var server = new LocalHttpServer(async context =>
            {
                var request = context.Request;
                using var buffer = new MemoryStream();
                await request.InputStream.CopyToAsync(buffer);
                var body = buffer.ToArray();
                var timestamp = request.Headers[HookRunner.TimestampHeader];
                var signature = request.Headers[HookRunner.SignatureHeader];
                var expected = "sha256=" + Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
                    Encoding.UTF8.GetBytes("s3cret-shared-key"), Encoding.ASCII.GetBytes(timestamp + ".").Concat(body).ToArray()));
                var age = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - long.Parse(timestamp!, System.Globalization.CultureInfo.InvariantCulture);
                problem = request.Headers["Transfer-Encoding"] is not null ? "chunked"
                    : request.ContentLength64 != body.Length ? $"Content-Length {request.ContentLength64} for {body.Length} bytes"
                    : signature != expected ? $"signature {signature}, expected {expected}"
                    : Math.Abs(age) > 300 ? $"timestamp {timestamp} is {age}s old"
                    : null;
                context.Response.StatusCode = problem is null ? 204 : 401;
            });

            var result = await runner.RunAsync(new HttpHook(new Uri(server.Url, "/freeze")) { SecretFile = secretFile }, Context);

            Assert.Null(problem);
            Assert.Equal(HookOutcome.Succeeded, result.Outcome);
            Assert.DoesNotContain("s3cret", result.Output + result.Error);
        }
        finally
        {
            File.Delete(secretFile);
        }
    }

    [Fact]
    public async Task Http_WithAMissingSecretFile_FailsWithoutSending()
    {
        using var server = new LocalHttpServer(_ => Task.CompletedTask);

        var result = await runner.RunAsync(new HttpHook(new Uri(server.Url, "/freeze")) { SecretFile = "/nonexistent/secret" }, Context);

        Assert.Equal(HookOutcome.Failed, result.Outcome);
        Assert.Contains("/nonexistent/secret", result.Error);
        Assert.Empty(server.Paths);
    }

    private static async Task<T> PollAsync<T>(Func<T?> probe, TimeSpan limit)
        where T : class
    {
        var found = await Eventually.UntilAsync(() =>
        {
            try
            {
                return Task.FromResult(probe());
            }
            catch (Exception e) when (e is IOException or FormatException)
            {
                return Task.FromResult<T?>(null); // not written completely yet
            }
        }, value => value is not null, "the probed state", limit, TimeSpan.FromMilliseconds(20));
        return found!;
    }

    /// <summary>Alive and not a zombie (a reparented child may wait a moment for its new parent to reap it).</summary>
    internal static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed class RecordingObserver : IHookProcessObserver
    {
        public List<HookProcess> Started { get; } = [];

        public Task ProcessStartedAsync(HookProcess process, CancellationToken cancellationToken = default)
        {
            Started.Add(process);
            return Task.CompletedTask;
        }
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

}
