using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;

namespace Lifecycle.Scheduling.Hooks;

/// <summary>
/// Runs exec hooks and http hooks. Never throws for a hook failure; a failed attempt is retried
/// <see cref="HookSpec.Retries"/> times.
/// <para>
/// exec: argv, never a shell; started through <c>/usr/bin/setsid</c>, so the hook leads a process group and session of
/// its own (pid = group id) and a timeout or cancellation kills the whole group, children that double-forked included.
/// The environment is minimal: PATH, LANG, HOME, TZ, the hook's <c>env:</c> and LIFECYCLE_*, never the server's own.
/// stdout and stderr are captured together and capped.
/// </para>
/// <para>
/// http: POST of a JSON body with a Content-Length, optionally signed (HMAC-SHA256, <see cref="SignatureHeader"/>);
/// any 2xx is success; redirects only when the hook says so; the response body is read up to the cap and the rest is
/// never read.
/// </para>
/// </summary>
public sealed class HookRunner : IHookRunner, IDisposable
{
    /// <summary>Bytes of output kept per hook run; the rest is counted and dropped.</summary>
    public const int OutputCap = 64 * 1024;

    /// <summary>Appended to output cut at <see cref="OutputCap"/>.</summary>
    public const string TruncatedMarker = "\n[output truncated]";

    /// <summary>Most redirects one http hook attempt follows (with followRedirects: true).</summary>
    public const int MaxRedirects = 5;

    /// <summary><c>sha256=&lt;hex&gt;</c>: HMAC-SHA256 with the hook's secret over <c>&lt;timestamp&gt;.&lt;body&gt;</c>.</summary>
    public const string SignatureHeader = "X-Lifecycle-Signature";

    /// <summary>Unix seconds when the request was signed; part of the signed material, so a receiver can refuse replays.</summary>
    public const string TimestampHeader = "X-Lifecycle-Timestamp";

    /// <summary>
    /// util-linux setsid: as the child of this process it is never a group leader, so it calls setsid() and execs the
    /// hook in place (no fork): the pid we see is the hook's own, and the number of its new group and session. Chosen
    /// over P/Invoke because .NET offers no hook between fork and exec, and re-implementing Process (pipes, reaping) on
    /// posix_spawn would be far more code to trust.
    /// </summary>
    private const string SetsidPath = "/usr/bin/setsid";

    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>Server variables passed on: where programs are, how text is encoded, the home directory and time zone. None is a secret.</summary>
    private static readonly string[] PassedThrough = ["PATH", "LANG", "HOME", "TZ"];

    private static readonly JsonSerializerOptions BodyOptions = new(JsonSerializerDefaults.Web);

    private readonly HttpClient httpClient;
    private readonly TimeProvider timeProvider;
    private readonly TimeSpan retryDelay;

    public HookRunner(TimeProvider timeProvider, TimeSpan? retryDelay = null)
    {
        this.timeProvider = timeProvider;
        this.retryDelay = retryDelay ?? TimeSpan.FromSeconds(1);

        // Redirects are followed by hand, per hook (followRedirects), so the handler itself never follows one.
        // Pooled connections are renewed so a hook endpoint that moves (DNS) is found again.
        httpClient = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public void Dispose() => httpClient.Dispose();

    public async Task<HookResult> RunAsync(HookSpec hook, HookContext context, IHookProcessObserver? observer = null, CancellationToken cancellationToken = default)
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
                ExecHook exec => await RunExecAsync(exec, context, observer, output, cancellationToken).ConfigureAwait(false),
                HttpHook http => await RunHttpAsync(http, context, output, cancellationToken).ConfigureAwait(false),
                _ => new HookAttempt(HookOutcome.Failed, null, $"unsupported hook type {hook.GetType().Name}"),
            };
            if (last.Outcome == HookOutcome.Succeeded)
            {
                break;
            }
        }

        return Telemetry.LifecycleMetrics.HookFinished(hook, context, new HookResult(last.Outcome, attempts, last.ExitCode, output.ToString(), timeProvider.GetElapsedTime(started), last.Error));
    }

    /// <summary>A short description of a hook for records and logs (never a secret: the secret file's path at most).</summary>
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

    /// <summary>
    /// The whole environment an exec hook gets: PATH (default when the server has none), LANG (default C.UTF-8),
    /// HOME and TZ when the server has them, then the hook's <c>env:</c> (which may override those four), then
    /// LIFECYCLE_*, which nothing overrides.
    /// </summary>
    public static ImmutableSortedDictionary<string, string> ExecEnvironment(ExecHook hook, HookContext context)
    {
        var environment = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var name in PassedThrough)
        {
            if (System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }

        environment.TryAdd("PATH", DefaultPath);
        environment.TryAdd("LANG", "C.UTF-8");
        foreach (var (key, value) in hook.Environment.Where(e => !e.Key.StartsWith("LIFECYCLE_", StringComparison.Ordinal)))
        {
            environment[key] = value;
        }

        foreach (var (key, value) in Environment(context))
        {
            environment[key] = value;
        }

        return environment.ToImmutable();
    }

    private async Task<HookAttempt> RunExecAsync(
        ExecHook hook, HookContext context, IHookProcessObserver? observer, StringBuilder output, CancellationToken cancellationToken)
    {
        if (hook.Argv.IsDefaultOrEmpty)
        {
            return new HookAttempt(HookOutcome.Failed, null, "exec hook has an empty argv");
        }

        var environment = ExecEnvironment(hook, context);
        var program = ResolveProgram(hook.Argv[0], environment["PATH"]);
        if (program is null)
        {
            var error = $"cannot start {hook.Argv[0]}: no such executable file (PATH {environment["PATH"]})";
            AppendCapped(output, error + "\n");
            return new HookAttempt(HookOutcome.Failed, null, error);
        }

        if (!File.Exists(SetsidPath))
        {
            return new HookAttempt(HookOutcome.Failed, null, $"exec hooks need {SetsidPath} (util-linux) to run in a process group of their own");
        }

        var start = new ProcessStartInfo(SetsidPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
        };
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(program);
        foreach (var argument in hook.Argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        // The server's environment (database passwords, cloud keys) must not reach the hook.
        start.Environment.Clear();
        foreach (var (key, value) in environment)
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

        var group = process.Id; // setsid exec'd in place: the pid is the group id
        process.StandardInput.Close();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var timeout = new CancellationTokenSource(hook.Timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            if (observer is not null)
            {
                await observer.ProcessStartedAsync(ProcessGroups.Describe(group), linked.Token).ConfigureAwait(false);
            }

            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A hook that hangs (or a server shutting down) must not leave children behind: kill its whole group.
            ProcessGroups.Kill(group);
            await DrainAsync(stdout, stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            AppendCapped(output, $"\n[killed after timeout {hook.Timeout.TotalSeconds:0.###}s]\n");
            return new HookAttempt(HookOutcome.TimedOut, null, $"timed out after {hook.Timeout.TotalSeconds:0.###}s; process group {group} killed");
        }
        catch (Exception e)
        {
            // The observer could not record the process: an unrecorded hook could not be cleaned up after a crash.
            ProcessGroups.Kill(group);
            await DrainAsync(stdout, stderr).ConfigureAwait(false);
            return new HookAttempt(HookOutcome.Failed, null, $"could not record the hook process, killed it: {e.GetType().Name}: {e.Message}");
        }

        await DrainAsync(stdout, stderr).ConfigureAwait(false);
        return process.ExitCode == 0
            ? new HookAttempt(HookOutcome.Succeeded, 0, null)
            : new HookAttempt(HookOutcome.Failed, process.ExitCode, $"exited with code {process.ExitCode}");
    }

    /// <summary>The program as execvp would find it on the hook's PATH; null when there is none to execute.</summary>
    private static string? ResolveProgram(string program, string path)
    {
        if (program.Length == 0)
        {
            return null;
        }

        if (program.Contains('/', StringComparison.Ordinal))
        {
            return IsExecutableFile(program) ? program : null;
        }

        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(IsExecutableFile);
    }

    private static bool IsExecutableFile(string path) =>
        File.Exists(path) && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private async Task<HookAttempt> RunHttpAsync(HttpHook hook, HookContext context, StringBuilder output, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(hook.Timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);

        // Serialized once: the exact bytes sent are the bytes signed, and a byte array gives a Content-Length.
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            policy = context.Policy,
            schedule = context.Schedule,
            stage = context.Stage == HookStage.Pre ? "pre" : "post",
            volumeIds = context.VolumeIds,
            instanceId = context.InstanceId,
            fireTime = context.FireTime,
        }, BodyOptions);
        string? signature = null;
        var timestamp = timeProvider.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        if (hook.SecretFile is { } secretFile)
        {
            byte[] secret;
            try
            {
                secret = await ReadSecretAsync(secretFile, linked.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The message names the file and the reason, never its content.
                return new HookAttempt(HookOutcome.Failed, null, $"cannot read the hook's secretFile {secretFile}: {e.GetType().Name}");
            }

            if (secret.Length == 0)
            {
                return new HookAttempt(HookOutcome.Failed, null, $"the hook's secretFile {secretFile} is empty");
            }

            signature = Sign(secret, timestamp, body);
            CryptographicOperations.ZeroMemory(secret);
        }

        var url = hook.Url;
        var method = HttpMethod.Post;
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                using var request = new HttpRequestMessage(method, url);
                if (method == HttpMethod.Post)
                {
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                    if (signature is not null)
                    {
                        request.Headers.Add(TimestampHeader, timestamp);
                        request.Headers.Add(SignatureHeader, signature);
                    }
                }

                // Headers only: the body is read below up to the cap, and the rest never is.
                using var response = await httpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
                var code = (int)response.StatusCode;
                if (code is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(url, location);
                    if (!hook.FollowRedirects)
                    {
                        AppendCapped(output, $"HTTP {code} redirect to {next} not followed\n");
                        return new HookAttempt(HookOutcome.Failed, code, $"HTTP {code} redirect to {next} not followed (the hook does not set followRedirects: true)");
                    }

                    var refused = redirects >= MaxRedirects ? $"more than {MaxRedirects} redirects"
                        : next.Scheme is not ("http" or "https") ? $"a redirect to {next.Scheme}: is not followed"
                        : url.Scheme == "https" && next.Scheme == "http" ? $"a redirect from https to http ({next}) is not followed"
                        : null;
                    if (refused is not null)
                    {
                        AppendCapped(output, refused + "\n");
                        return new HookAttempt(HookOutcome.Failed, code, refused);
                    }

                    AppendCapped(output, $"HTTP {code} redirect to {next}\n");

                    // 303 means "see other": fetch it. 301/302/307/308 repeat the POST (a webhook is not a form).
                    method = code == (int)HttpStatusCode.SeeOther ? HttpMethod.Get : method;
                    url = next;
                    continue;
                }

                await ReadCappedAsync(response.Content, output, linked.Token).ConfigureAwait(false);
                return response.IsSuccessStatusCode
                    ? new HookAttempt(HookOutcome.Succeeded, code, null)
                    : new HookAttempt(HookOutcome.Failed, code, $"HTTP {code} {response.ReasonPhrase}");
            }
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

    /// <summary>The secret file's bytes without a trailing newline (editors and echo add one).</summary>
    private static async Task<byte[]> ReadSecretAsync(string path, CancellationToken cancellationToken)
    {
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        var length = bytes.Length;
        while (length > 0 && bytes[length - 1] is (byte)'\n' or (byte)'\r')
        {
            length--;
        }

        if (length == bytes.Length)
        {
            return bytes;
        }

        var trimmed = bytes[..length];
        CryptographicOperations.ZeroMemory(bytes);
        return trimmed;
    }

    /// <summary><c>sha256=</c> and the lowercase hex HMAC-SHA256 of <c>timestamp + "." + body</c>.</summary>
    public static string Sign(ReadOnlySpan<byte> secret, string timestamp, ReadOnlySpan<byte> body)
    {
        var material = new byte[timestamp.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(timestamp, material);
        material[timestamp.Length] = (byte)'.';
        body.CopyTo(material.AsSpan(timestamp.Length + 1));
        return "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, material));
    }

    /// <summary>Reads the body up to the cap and drops the connection with the rest unread.</summary>
    private static async Task ReadCappedAsync(HttpContent content, StringBuilder output, CancellationToken cancellationToken)
    {
        int room;
        lock (output)
        {
            room = Math.Max(0, OutputCap - output.Length);
        }

        var buffer = new byte[room + 1]; // one byte more tells a body that fills the room from one that overflows it
        var filled = 0;
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        var truncated = filled > room;
        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(filled, room));
        AppendCapped(output, text, truncated);
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

    private static void AppendCapped(StringBuilder output, string text, bool truncated = false)
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
                if (truncated)
                {
                    // Multi-byte text cut at the byte cap decodes to fewer characters than the cap: mark it all the same.
                    output.Append(TruncatedMarker);
                }
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
