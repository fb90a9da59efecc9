using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;

namespace Lifecycle.Scheduling.Hooks;

/// <summary>
/// Runs exec hooks (argv, never a shell; LIFECYCLE_* environment; stdout and stderr captured together and capped) and
/// http hooks (POST JSON; any 2xx is success). A timeout kills the whole process tree. A failed attempt is retried
/// <see cref="HookSpec.Retries"/> times. Never throws for a hook failure.
/// </summary>
public sealed class HookRunner : IHookRunner
{
    /// <summary>Bytes of output kept per hook run; the rest is counted and dropped.</summary>
    public const int OutputCap = 64 * 1024;

    private const string TruncatedMarker = "\n[output truncated]";

    private readonly HttpClient httpClient;
    private readonly TimeProvider timeProvider;
    private readonly TimeSpan retryDelay;

    public HookRunner(HttpClient httpClient, TimeProvider timeProvider, TimeSpan? retryDelay = null)
    {
        this.httpClient = httpClient;
        this.timeProvider = timeProvider;
        this.retryDelay = retryDelay ?? TimeSpan.FromSeconds(1);
    }

    public async Task<HookResult> RunAsync(HookSpec hook, HookContext context, CancellationToken cancellationToken = default)
    {
        var started = timeProvider.GetTimestamp();
        var output = new StringBuilder();
        HookAttempt last = new(HookOutcome.Failed, null, "not run");
        var attempts = 0;
        for (var attempt = 0; attempt <= Math.Max(0, hook.Retries); attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attempt > 0)
            {
                await Task.Delay(retryDelay * attempt, timeProvider, cancellationToken).ConfigureAwait(false);
                AppendCapped(output, $"\n--- attempt {attempt + 1} ---\n");
            }

            attempts++;
            last = hook switch
            {
                ExecHook exec => await RunExecAsync(exec, context, output, cancellationToken).ConfigureAwait(false),
                HttpHook http => await RunHttpAsync(http, context, output, cancellationToken).ConfigureAwait(false),
                _ => new HookAttempt(HookOutcome.Failed, null, $"unsupported hook type {hook.GetType().Name}"),
            };
            if (last.Outcome == HookOutcome.Succeeded)
            {
                break;
            }
        }

        return new HookResult(last.Outcome, attempts, last.ExitCode, output.ToString(), timeProvider.GetElapsedTime(started), last.Error);
    }

    /// <summary>A short description of a hook for records and logs.</summary>
    public static string Describe(HookSpec hook) => hook switch
    {
        ExecHook exec => "exec " + string.Join(' ', exec.Argv),
        HttpHook http => "http " + http.Url,
        _ => hook.GetType().Name,
    };

    /// <summary>The LIFECYCLE_* environment of an exec hook.</summary>
    public static ImmutableSortedDictionary<string, string> Environment(HookContext context) =>
        ImmutableSortedDictionary<string, string>.Empty
            .Add("LIFECYCLE_POLICY", context.Policy)
            .Add("LIFECYCLE_SCHEDULE", context.Schedule)
            .Add("LIFECYCLE_STAGE", context.Stage == HookStage.Pre ? "pre" : "post")
            .Add("LIFECYCLE_VOLUME_IDS", string.Join(',', context.VolumeIds))
            .Add("LIFECYCLE_INSTANCE_ID", context.InstanceId ?? "")
            .Add("LIFECYCLE_FIRE_TIME", context.FireTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));

    private async Task<HookAttempt> RunExecAsync(ExecHook hook, HookContext context, StringBuilder output, CancellationToken cancellationToken)
    {
        if (hook.Argv.IsDefaultOrEmpty)
        {
            return new HookAttempt(HookOutcome.Failed, null, "exec hook has an empty argv");
        }

        var start = new ProcessStartInfo(hook.Argv[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
        };
        foreach (var argument in hook.Argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in Environment(context))
        {
            start.Environment[key] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            AppendCapped(output, $"cannot start {hook.Argv[0]}: {e.Message}\n");
            return new HookAttempt(HookOutcome.Failed, null, $"cannot start {hook.Argv[0]}: {e.Message}");
        }

        process.StandardInput.Close();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var timeout = new CancellationTokenSource(hook.Timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A hook that hangs (or a server shutting down) must not leave children behind: kill the whole tree.
            KillTree(process);
            await DrainAsync(stdout, stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            AppendCapped(output, $"\n[killed after timeout {hook.Timeout.TotalSeconds:0.###}s]\n");
            return new HookAttempt(HookOutcome.TimedOut, null, $"timed out after {hook.Timeout.TotalSeconds:0.###}s; process tree killed");
        }

        await DrainAsync(stdout, stderr).ConfigureAwait(false);
        return process.ExitCode == 0
            ? new HookAttempt(HookOutcome.Succeeded, 0, null)
            : new HookAttempt(HookOutcome.Failed, process.ExitCode, $"exited with code {process.ExitCode}");
    }

    private async Task<HookAttempt> RunHttpAsync(HttpHook hook, HookContext context, StringBuilder output, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(hook.Timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var body = new
        {
            policy = context.Policy,
            schedule = context.Schedule,
            stage = context.Stage == HookStage.Pre ? "pre" : "post",
            volumeIds = context.VolumeIds,
            instanceId = context.InstanceId,
            fireTime = context.FireTime,
        };
        try
        {
            using var response = await httpClient.PostAsJsonAsync(hook.Url, body, linked.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
            AppendCapped(output, text);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode
                ? new HookAttempt(HookOutcome.Succeeded, code, null)
                : new HookAttempt(HookOutcome.Failed, code, $"HTTP {code} {response.ReasonPhrase}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HookAttempt(HookOutcome.TimedOut, null, $"timed out after {hook.Timeout.TotalSeconds:0.###}s");
        }
        catch (HttpRequestException e)
        {
            AppendCapped(output, e.Message);
            return new HookAttempt(HookOutcome.Failed, null, e.Message);
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }

    private static async Task DrainAsync(Task stdout, Task stderr)
    {
        // Output pipes close once every process holding them is gone; do not wait forever on a stray grandchild.
        await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (output)
            {
                AppendCapped(output, new string(buffer, 0, read));
            }
        }
    }

    private static void AppendCapped(StringBuilder output, string text)
    {
        lock (output)
        {
            if (output.Length >= OutputCap)
            {
                return; // already full and marked
            }

            var room = OutputCap - output.Length;
            if (text.Length < room)
            {
                output.Append(text);
            }
            else
            {
                // Reaching the cap exactly also marks it: more output may follow that is dropped.
                output.Append(text, 0, room).Append(TruncatedMarker);
            }
        }
    }

    private sealed record HookAttempt(HookOutcome Outcome, int? ExitCode, string? Error);
}
