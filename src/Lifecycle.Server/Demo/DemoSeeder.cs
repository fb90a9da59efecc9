using System.Collections.Immutable;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lifecycle.Server.Demo;

/// <summary>
/// `serve --demo`: seeds tagged demo volumes on the local engine (once; they carry <c>demo=true</c>) and keeps writing
/// to them in the background, so every snapshot holds new blocks.
/// </summary>
internal sealed class DemoSeeder(LocalEngine.LocalEngine engine, TimeProvider timeProvider, ILogger<DemoSeeder> logger) : BackgroundService
{
    private const long VolumeSize = 64L * 1024 * 1024;

    /// <summary>Demo volumes: their names and tags. Some also match the example policies of policies/.</summary>
    public static ImmutableArray<(string Name, ImmutableSortedDictionary<string, string> Tags, string? Instance, bool Boot)> Volumes { get; } =
    [
        ("demo-web-1", Tags(("backup", "critical"), ("env", "prod")), null, false),
        ("demo-web-2", Tags(("env", "dev")), null, false),
        ("demo-db-root", Tags(("role", "database"), ("env", "prod")), "i-demo-db", true),
        ("demo-db-data", Tags(("role", "database"), ("env", "prod")), "i-demo-db", false),
        ("demo-records", Tags(("retention", "long-term")), null, false),
    ];

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var region = engine.Region(DemoPolicies.Region);
        var existing = await region.DescribeVolumesAsync(TagFilter.Key("demo", "true"), cancellationToken).ConfigureAwait(false);
        foreach (var (name, tags, instance, boot) in Volumes)
        {
            if (existing.Any(v => v.Tags.GetValueOrDefault("Name") == name))
            {
                continue;
            }

            var volume = await region.CreateVolumeAsync(DemoPolicies.Zone, VolumeSize, tags.Add("Name", name).Add("demo", "true"), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (instance is not null)
            {
                await region.AttachVolumeAsync(volume.Id, instance, boot ? "/dev/xvda" : "/dev/xvdb", boot, cancellationToken).ConfigureAwait(false);
            }

            await WriteRandomBlockAsync(region, volume.Id, Random.Shared, cancellationToken).ConfigureAwait(false);
            logger.LogInformation("demo: created volume {Volume} ({Name}) in {Region}", volume.Id, name, DemoPolicies.Region);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var region = engine.Region(DemoPolicies.Region);
        var random = new Random();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), timeProvider, stoppingToken).ConfigureAwait(false);
                var volumes = await region.DescribeVolumesAsync(TagFilter.Key("demo", "true"), stoppingToken).ConfigureAwait(false);
                if (volumes.Length > 0)
                {
                    await WriteRandomBlockAsync(region, volumes[random.Next(volumes.Length)].Id, random, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (ProviderException e)
            {
                logger.LogWarning("demo writer: {Error}", e.Message);
            }
        }
    }

    private static async Task WriteRandomBlockAsync(LocalRegion region, string volumeId, Random random, CancellationToken cancellationToken)
    {
        var block = new byte[LocalRegion.BlockSize];
        random.NextBytes(block.AsSpan(0, block.Length / 2)); // half random, half zero: some compression to show
        var blocks = VolumeSize / LocalRegion.BlockSize;
        await region.WriteAsync(volumeId, random.NextInt64(blocks) * LocalRegion.BlockSize, block, cancellationToken).ConfigureAwait(false);
    }

    private static ImmutableSortedDictionary<string, string> Tags(params (string Key, string Value)[] pairs) =>
        pairs.ToImmutableSortedDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
}
