using System.Collections.Immutable;
using Hangfire;
using Hangfire.Storage;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Tests;

/// <summary>Our recurring work is Hangfire recurring jobs (the dashboard's Recurring Jobs page), and each job does its work.</summary>
[Collection(ServerCollection.Name)]
public sealed class RecurringWorkTests(ServerFixture server)
{
    [Fact]
    public void Reconcile_EngineGc_AndEngineVerify_AreRecurringJobs()
    {
        using var connection = server.App.Services.GetRequiredService<JobStorage>().GetConnection();
        var recurring = connection.GetRecurringJobs().ToDictionary(j => j.Id);

        // Half a minute off the minute, when schedules fire.
        Assert.Equal("30 */5 * * * *", recurring[ReconcileJob.RecurringId].Cron);
        Assert.Equal("30 * * * * *", recurring[ReconcileJob.RecoverId].Cron);
        Assert.Equal("30 3 * * *", recurring[EngineMaintenance.GcJobId].Cron);
        Assert.Equal("45 4 * * 0", recurring[EngineMaintenance.VerifyJobId].Cron);
        Assert.All(recurring.Values, j => Assert.Null(j.LoadException));
    }

    [Fact]
    public async Task EngineGc_ReclaimsTheBlocksOfADeletedSnapshot_AndVerifyFindsNoDamage()
    {
        var region = server.Engine.Region("gc-a");
        var volume = await region.CreateVolumeAsync("gc-a-1", 4L * 1024 * 1024, ImmutableSortedDictionary<string, string>.Empty);
        var data = new byte[1024 * 1024];
        Random.Shared.NextBytes(data);
        await region.WriteAsync(volume.Id, 0, data);
        var snapshot = await region.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty.Add("by", "gc-test")));
        await region.WaitForSnapshotAsync(snapshot.Id);
        await region.DeleteVolumeAsync(volume.Id);
        await region.DeleteSnapshotAsync(snapshot.Id);
        var maintenance = server.App.Services.GetRequiredService<EngineMaintenance>();

        var gc = await maintenance.CollectGarbageAsync(CancellationToken.None);
        var verify = await maintenance.VerifyAsync(CancellationToken.None);

        var line = Assert.Single(gc.Split('\n'), l => l.StartsWith("gc-a:", StringComparison.Ordinal));
        Assert.DoesNotContain("gc-a: 0 blocks", line);
        Assert.Contains($"{ServerFixture.Region}: ", verify);
        Assert.Contains(" 0 errors", verify);
    }
}
