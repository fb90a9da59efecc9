using System.Collections.Immutable;
using Lifecycle.Core.Planning;
using Lifecycle.Scheduling.Jobs;
using Quartz;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Scheduling.Tests;

/// <summary>Test data shared by the executor and pause tests.</summary>
internal static class SchedulingTestData
{
    /// <summary>A create of policy p1, schedule s1 in region r1 for one volume, with its ownership tags and token.</summary>
    public static PlannedAction Create(string volume, DateTimeOffset fire)
    {
        var token = CreationToken.ForCreate("p1", "s1", fire, volume);
        return new PlannedAction
        {
            Kind = ActionKind.Create,
            Policy = "p1",
            Schedule = "s1",
            Region = "r1",
            VolumeIds = [volume],
            FireTime = fire,
            Token = token,
            Tags = ImmutableSortedDictionary<string, string>.Empty
                .Add(OwnershipTags.Policy, "p1").Add(OwnershipTags.Schedule, "s1").Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire)).Add(OwnershipTags.Token, token),
            Reason = "due",
        };
    }

}

/// <summary>
/// A real Quartz scheduler with an in-memory store, never started: jobs and triggers are only stored, so a test sees
/// what the code under test scheduled (a follow-up's trigger) without anything running. The policy jobs it is made
/// with exist, as the scheduler sync makes them.
/// </summary>
internal sealed class TestQuartz : IAsyncDisposable
{
    private readonly ServiceProvider services;

    private TestQuartz(ServiceProvider services, ISchedulerFactory factory, IScheduler scheduler)
    {
        this.services = services;
        Factory = factory;
        Scheduler = scheduler;
    }

    public ISchedulerFactory Factory { get; }

    public IScheduler Scheduler { get; }

    public static async Task<TestQuartz> CreateAsync(params string[] policies)
    {
        var collection = new ServiceCollection();
        collection.AddQuartz(q =>
        {
            q.ConfigureScheduler(s => s.InstanceName = "test-" + Guid.NewGuid().ToString("N")[..10]);
            q.UseInMemoryStore(_ => { });
        });
        var services = collection.BuildServiceProvider();
        var factory = services.GetRequiredService<ISchedulerFactory>();
        var scheduler = await factory.GetScheduler();
        foreach (var policy in policies)
        {
            await scheduler.AddJob(JobBuilder.Create<PolicyJob>().WithIdentity(JobKeys.Policy(policy)).StoreDurably().Build(), AddJobOptions.Replacing);
        }

        return new TestQuartz(services, factory, scheduler);
    }

    public async ValueTask DisposeAsync()
    {
        await Scheduler.Shutdown(false);
        await services.DisposeAsync();
    }
}
