using System.Collections.Immutable;
using System.Net;
using System.Text;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Hooks;

namespace Lifecycle.Scheduling.Tests;

public sealed class HookRunnerTests
{
    private static readonly HookContext Context = new("db", "every-2h", HookStage.Pre, ["vol-1", "vol-2"], "i-1", new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero));
    private readonly HookRunner runner = new(new HttpClient(), TimeProvider.System, TimeSpan.FromMilliseconds(1));

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
        await Task.Delay(200);
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z ", StringComparison.Ordinal), $"the grandchild {child} survived");
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

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

}
