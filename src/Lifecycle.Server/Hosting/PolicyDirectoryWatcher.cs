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
/// `--policies DIR` (and `--demo`): applies the directory on start and whenever its files change, through the same
/// apply path as the API (validation, diff, destructive check). A set with errors or a destructive set is logged and
/// not applied; the previous revision keeps running.
/// </summary>
internal sealed class PolicyDirectoryWatcher(
    ServerOptions options, PolicyApplier applier, ISchedulerFactory schedulerFactory, TimeProvider timeProvider, ILogger<PolicyDirectoryWatcher> logger)
    : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);
    private string? appliedFingerprint;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await ApplyIfChangedAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.PoliciesDirectory is null)
        {
            return;
        }

        // Polling (not only FileSystemWatcher) also sees a git checkout swapped by a sidecar with a rename.
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

    private async Task ApplyIfChangedAsync(CancellationToken cancellationToken)
    {
        var sources = ReadSources();
        var fingerprint = Fingerprint(sources);
        if (fingerprint == appliedFingerprint)
        {
            return;
        }

        var scheduler = await schedulerFactory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var result = await applier.ApplyAsync(scheduler, new ApplyRequest
        {
            Sources = sources,
            Revision = "dir:" + fingerprint[..12],
            Author = options.PoliciesDirectory is null ? "demo" : "policies-dir " + options.PoliciesDirectory,
        }, cancellationToken).ConfigureAwait(false);
        switch (result.Status)
        {
            case ApplyResult.Applied:
                logger.LogInformation("applied {Count} policy file(s) as revision {Seq}: {Diff}", sources.Length, result.Seq, result.Diff);
                appliedFingerprint = fingerprint;
                break;
            case ApplyResult.Unchanged:
                logger.LogInformation("policies unchanged (revision {Seq})", result.Seq);
                appliedFingerprint = fingerprint;
                break;
            case ApplyResult.Conflict:
                logger.LogInformation("another node applied a revision at the same moment; trying again at the next poll");
                break;
            default:
                logger.LogError("policies not applied ({Status}): {Refusal}\n{Diagnostics}", result.Status, result.Refusal, string.Join('\n', result.Diagnostics));
                appliedFingerprint = fingerprint; // report once per content, not every poll
                break;
        }
    }

    private ImmutableArray<PolicySource> ReadSources()
    {
        var sources = ImmutableArray.CreateBuilder<PolicySource>();
        if (options.PoliciesDirectory is not null && (Directory.Exists(options.PoliciesDirectory) || File.Exists(options.PoliciesDirectory)))
        {
            sources.AddRange(YamlPolicySetParser.ReadDirectory(options.PoliciesDirectory));
        }

        if (options.Demo)
        {
            sources.AddRange(DemoPolicies.Sources);
        }

        return sources.ToImmutable();
    }

    private static string Fingerprint(ImmutableArray<PolicySource> sources)
    {
        var text = string.Join("\0", sources.OrderBy(s => s.Path, StringComparer.Ordinal).Select(s => s.Path + "\0" + s.Text));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
