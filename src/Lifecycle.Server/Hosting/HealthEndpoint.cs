using Dapper;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quartz;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// /healthz: 200 when every check passes, 503 otherwise, with each check's state and reason. Checks: the store answers,
/// the scheduler runs, the policy source is readable and applied, the applied policies did not drop to zero, no
/// policy's creates have been failing for longer than twice its schedule interval, the data and engine directories
/// have free space, and the process has file descriptors left.
/// </summary>
internal static class HealthEndpoint
{
    /// <summary>Disk space is short below this fraction of the file system, or below <see cref="MinFreeBytes"/>.</summary>
    public const double MinFreeFraction = 0.05;

    public const long MinFreeBytes = 1L << 30;

    /// <summary>File descriptors are short above this fraction of the soft RLIMIT_NOFILE.</summary>
    public const double MaxDescriptorFraction = 0.90;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", async (LifecycleDatabase database, RunStore runs, ISchedulerFactory factory, AppliedPolicies applied, PolicySourceStatus source,
            ServerOptions options, TimeProvider time, CancellationToken ct) =>
        {
            var report = await EvaluateAsync(database, runs, factory, applied, source, options, time, ct).ConfigureAwait(false);
            return Results.Json(report.Body, statusCode: report.Healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).AllowAnonymous();
    }

    /// <summary>Every check, as /healthz answers them (also the health gauges of /metrics).</summary>
    public static async Task<HealthReport> EvaluateAsync(LifecycleDatabase database, RunStore runs, ISchedulerFactory factory, AppliedPolicies applied,
        PolicySourceStatus source, ServerOptions options, TimeProvider time, CancellationToken ct)
    {
        var checks = new List<HealthCheck>();
        string store;
        var storeUp = true;
        try
        {
            await using var connection = await database.OpenAsync(ct).ConfigureAwait(false);
            await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: ct)).ConfigureAwait(false);
            store = "ok";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            store = "error: " + e.Message;
            storeUp = false;
        }

        checks.Add(new HealthCheck("store", storeUp, storeUp ? null : $"the store {database.Options.Describe()} is unreachable: {store[7..]}"));

        var scheduler = await factory.GetScheduler(ct).ConfigureAwait(false);
        var metadata = await scheduler.GetMetadata(ct).ConfigureAwait(false);
        var running = metadata.Status == SchedulerStatus.Running;
        checks.Add(new HealthCheck("scheduler", running, running ? null : $"the scheduler is {metadata.Status.ToString().ToLowerInvariant()}"));

        var current = source.Current;
        checks.Add(new HealthCheck("policy-source", !current.IsBroken,
            current.IsBroken ? $"policy source {current.State}: {current.Error}; the applied revision keeps running" : null));

        var policies = AppliedPolicySet.None;
        if (storeUp)
        {
            try
            {
                policies = await applied.GetAsync(ct).ConfigureAwait(false);
                var dropped = policies.Seq > 0 && policies.Policies.Policies.IsEmpty && await runs.HadPoliciesBeforeAsync(policies.Seq, ct).ConfigureAwait(false);
                checks.Add(new HealthCheck("policies", !dropped,
                    dropped ? $"revision {policies.Seq} has no policies while an earlier revision had some: nothing is backed up" : null));
                checks.Add(await CreatesCheckAsync(runs, policies, time.GetUtcNow(), ct).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                checks.Add(new HealthCheck("policies", false, "cannot read the applied policies: " + e.Message));
            }
        }

        checks.Add(DiskCheck(options));
        checks.Add(DescriptorCheck());

        var healthy = checks.All(c => c.Ok);
        var body = new
        {
            status = healthy ? "healthy" : "unhealthy",
            reasons = checks.Where(c => !c.Ok).Select(c => c.Reason).ToList(),
            checks = checks.Select(c => new { name = c.Name, state = c.Ok ? "ok" : "failing", reason = c.Reason }),
            store = new { database = database.Options.Describe(), state = store },
            scheduler = new
            {
                instanceId = metadata.SchedulerInstanceId,
                status = metadata.Status.ToString().ToLowerInvariant(),
                clustered = metadata.JobStoreClustered,
                threads = metadata.ThreadPoolSize,
            },
            policies = new { revision = policies.Seq, count = policies.Policies.Policies.Length, diagnostics = policies.Diagnostics },
            source = current,
        };
        return new HealthReport(healthy, [.. checks.Select(c => (c.Name, c.Ok))], body);
    }

    private static async Task<HealthCheck> CreatesCheckAsync(RunStore runs, AppliedPolicySet policies, DateTimeOffset now, CancellationToken ct)
    {
        var paused = (await runs.ListPausesAsync(ct).ConfigureAwait(false)).Keys.ToHashSet(StringComparer.Ordinal);
        var problems = FailingCreates.Evaluate(policies.Policies, await runs.ListCreateFailuresAsync(ct).ConfigureAwait(false), paused, now);
        return new HealthCheck("creates", problems.Count == 0, problems.Count == 0 ? null : string.Join("; ", problems));
    }

    private static HealthCheck DiskCheck(ServerOptions options)
    {
        var problems = new List<string>();
        foreach (var directory in new[] { options.DataDirectory, options.EngineDirectoryOrDefault }.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal))
        {
            try
            {
                var existing = directory;
                while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
                {
                    existing = parent;
                }

                var drive = new DriveInfo(existing);
                var free = drive.AvailableFreeSpace;
                if (drive.TotalSize > 0 && (free < MinFreeBytes || free < drive.TotalSize * MinFreeFraction))
                {
                    problems.Add($"{directory}: {free / (1024 * 1024)} MiB free of {drive.TotalSize / (1024 * 1024)} MiB (needs {MinFreeBytes / (1024 * 1024)} MiB and {MinFreeFraction:P0})");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                problems.Add($"{directory}: free space unknown: {e.Message}");
            }
        }

        return new HealthCheck("disk", problems.Count == 0, problems.Count == 0 ? null : "disk nearly full: " + string.Join("; ", problems));
    }

    /// <summary>Open descriptors (/proc/self/fd) against the soft limit (/proc/self/limits); passes where /proc is absent.</summary>
    private static HealthCheck DescriptorCheck()
    {
        try
        {
            if (!Directory.Exists("/proc/self/fd") || !File.Exists("/proc/self/limits"))
            {
                return new HealthCheck("file-descriptors", true, null);
            }

            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is not { Length: > 0 } || !long.TryParse(fields[0], out var limit) || limit <= 0)
            {
                return new HealthCheck("file-descriptors", true, null); // "unlimited"
            }

            var open = Directory.EnumerateFileSystemEntries("/proc/self/fd").LongCount();
            return open > limit * MaxDescriptorFraction
                ? new HealthCheck("file-descriptors", false, $"file descriptors nearly exhausted: {open} open of a soft limit of {limit}")
                : new HealthCheck("file-descriptors", true, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new HealthCheck("file-descriptors", true, null);
        }
    }

    private sealed record HealthCheck(string Name, bool Ok, string? Reason);

    /// <summary>The answer of /healthz: overall health, each check's state, and the JSON body.</summary>
    public sealed record HealthReport(bool Healthy, IReadOnlyList<(string Name, bool Ok)> Checks, object Body);
}
