using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Demo;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The policy source. Directory mode (<c>--policies DIR</c>): applies the directory on start and whenever its files
/// change, through the same apply path as the API (validation, diff, destructive check). A directory that is missing,
/// unreadable, empty, has no valid policy, has errors or is destructive is never applied: the previous revision keeps
/// running and <see cref="PolicySourceStatus"/> reports the error (/healthz 503, GET /api/v1/policies). API mode (no
/// <c>--policies</c>): nothing is applied on start, the stored revision runs; <c>--demo</c> applies the demo policies
/// only while no revision was ever applied.
/// </summary>
internal sealed class PolicyDirectoryWatcher(
    ServerOptions options, PolicyApplier applier, AppliedPolicies applied, IPolicySetParser parser, PolicySourceStatus status,
    ISchedulerFactory schedulerFactory, TimeProvider timeProvider, ILogger<PolicyDirectoryWatcher> logger)
    : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    // The content last applied or refused: the same content is not applied (or reported) again at every poll.
    private string? handledFingerprint;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.PoliciesDirectory is not null)
        {
            await ApplyIfChangedAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (options.Demo)
        {
            await SeedDemoAsync(cancellationToken).ConfigureAwait(false);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.PoliciesDirectory is null)
        {
            return;
        }

        // Polling (not only FileSystemWatcher) also sees a git checkout swapped by a sidecar with a rename, and a
        // directory that vanished and came back.
        using var changed = new SemaphoreSlim(0);
        using var watcher = Directory.Exists(options.PoliciesDirectory)
            ? new FileSystemWatcher(options.PoliciesDirectory) { IncludeSubdirectories = true, EnableRaisingEvents = true }
            : null;
        if (watcher is not null)
        {
            FileSystemEventHandler onChange = (_, _) => changed.Release();
            watcher.Changed += onChange;
            watcher.Created += onChange;
            watcher.Deleted += onChange;
            watcher.Renamed += (_, _) => changed.Release();
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await changed.WaitAsync(PollInterval, stoppingToken).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(300), timeProvider, stoppingToken).ConfigureAwait(false); // let an editor finish writing
                while (changed.CurrentCount > 0)
                {
                    await changed.WaitAsync(stoppingToken).ConfigureAwait(false);
                }

                await ApplyIfChangedAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "applying {Directory} failed", options.PoliciesDirectory);
            }
        }
    }

    /// <summary>API mode with --demo: the demo policies are the first revision, never applied over a later one.</summary>
    private async Task SeedDemoAsync(CancellationToken cancellationToken)
    {
        if ((await applied.GetAsync(cancellationToken).ConfigureAwait(false)).Seq > 0)
        {
            logger.LogInformation("--demo: a revision is applied already; the demo policies are not applied over it");
            return;
        }

        var scheduler = await schedulerFactory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var result = await applier.ApplyAsync(scheduler, new ApplyRequest { Sources = DemoPolicies.Sources, Revision = "demo", Author = "demo" }, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("--demo: demo policies {Status} (revision {Seq})", result.Status, result.Seq);
    }

    private async Task ApplyIfChangedAsync(CancellationToken cancellationToken)
    {
        var directory = options.PoliciesDirectory!;
        var (sources, state, error) = ReadDirectory(directory);
        if (state != PolicySourceStates.Ok)
        {
            handledFingerprint = null; // the same content coming back is applied (or found unchanged) again
            Fail(state, error!);
            return;
        }

        if (options.Demo)
        {
            sources = sources.AddRange(DemoPolicies.Sources);
        }

        var fingerprint = Fingerprint(sources);
        if (fingerprint == handledFingerprint)
        {
            return;
        }

        var parsed = parser.Parse(sources);
        if (parsed.Policies.Policies.IsEmpty)
        {
            handledFingerprint = fingerprint;
            Fail(parsed.HasErrors ? PolicySourceStates.Invalid : PolicySourceStates.Empty, parsed.HasErrors
                ? $"{directory}: none of its {sources.Length} policy file(s) defines a valid policy: {string.Join("; ", parsed.Diagnostics.Take(5))}"
                : $"{directory}: its policy files define no policy");
            return;
        }

        var scheduler = await schedulerFactory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var result = await applier.ApplyAsync(scheduler, new ApplyRequest
        {
            Sources = sources,
            Revision = "dir:" + fingerprint[..12],
            Author = "policies-dir " + directory,
            AllowDestructive = options.AllowDestructive,
        }, cancellationToken).ConfigureAwait(false);
        switch (result.Status)
        {
            case ApplyResult.Applied:
                logger.LogInformation("applied {Count} policy file(s) as revision {Seq}: {Diff}", sources.Length, result.Seq, result.Diff);
                handledFingerprint = fingerprint;
                Succeed();
                break;
            case ApplyResult.Unchanged:
                logger.LogInformation("policies unchanged (revision {Seq})", result.Seq);
                handledFingerprint = fingerprint;
                Succeed();
                break;
            case ApplyResult.Conflict:
                logger.LogInformation("another node applied a revision at the same moment; trying again at the next poll");
                break;
            case ApplyResult.Invalid:
                handledFingerprint = fingerprint;
                Fail(PolicySourceStates.Invalid, $"{directory}: {result.Refusal}: {string.Join("; ", result.Diagnostics.Take(5))}");
                break;
            default:
                handledFingerprint = fingerprint;
                Fail(PolicySourceStates.Refused, $"{directory}: {result.Refusal}");
                break;
        }
    }

    private void Succeed()
    {
        if (status.Report(PolicySourceStates.Ok, null, timeProvider.GetUtcNow()))
        {
            logger.LogInformation("policy directory {Directory} is the applied revision", options.PoliciesDirectory);
        }
    }

    private void Fail(string state, string error)
    {
        // Logged once per new error, not at every poll; the previous revision keeps running meanwhile.
        if (status.Report(state, error, timeProvider.GetUtcNow()))
        {
            logger.LogError("policy directory {State}: {Error}; not applied, the applied revision keeps running", state, error);
        }
    }

    /// <summary>The directory's policy files, or why there are none to apply (never an empty set to apply).</summary>
    private static (ImmutableArray<PolicySource> Sources, string State, string? Error) ReadDirectory(string directory)
    {
        if (!Directory.Exists(directory) && !File.Exists(directory))
        {
            return ([], PolicySourceStates.Missing, $"{directory} does not exist");
        }

        ImmutableArray<PolicySource> sources;
        try
        {
            sources = YamlPolicySetParser.ReadDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A directory swapped away half-way through the read is "missing" at the next poll.
            return ([], PolicySourceStates.Unreadable, $"{directory} cannot be read: {e.Message}");
        }

        return sources.IsEmpty
            ? ([], PolicySourceStates.Empty, $"{directory} has no *.yaml or *.yml policy files")
            : (sources, PolicySourceStates.Ok, null);
    }

    private static string Fingerprint(ImmutableArray<PolicySource> sources)
    {
        var text = string.Join("\0", sources.OrderBy(s => s.Path, StringComparer.Ordinal).Select(s => s.Path + "\0" + s.Text));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
