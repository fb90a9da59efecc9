using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// A node's start rehearsal (<see cref="FireRehearsal"/>) walks the read side of each enabled policy's next fire and
/// changes nothing: no snapshot created or deleted, no run or action recorded, whatever the region holds.
/// </summary>
public sealed class FireRehearsalTests : IAsyncLifetime
{
    private const string Region = "r1";
    private static readonly Schedule Hourly = new() { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 24 } };

    private readonly string directory = Path.Combine(Path.GetTempPath(), "lifecycle-rehearsal-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly FakeProvider provider = new(Region);
    private LifecycleDatabase database = null!;
    private RunStore store = null!;
    private ImmutableArray<SnapshotPolicy> policies = [Policy("p1", enabled: true), Policy("p2", enabled: false)];

    public async Task InitializeAsync()
    {
        database = new LifecycleDatabase(StoreOptions.From(directory, null));
        await SchemaMigrator.MigrateAsync(database);
        store = new RunStore(database, TimeProvider.System);
        await store.AppendRevisionAsync(0, "rev-1", "tester", "node", [new PolicySource("p.yaml", "p1, p2")], ["p1", "p2"], "added p1 and p2");
    }

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    private static SnapshotPolicy Policy(string name, bool enabled) => new()
    {
        Name = name,
        Enabled = enabled,
        Engine = EngineKind.Local,
        Regions = [Region],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("backup", ["yes"]) },
        Schedules = [Hourly],
    };

    private FireRehearsal Rehearsal() => new(
        new InventoryReader(provider, new ExecutorOptions { Retry = new ProviderRetryOptions { MaxRetries = 1, BaseDelay = TimeSpan.FromMilliseconds(1) } }),
        new AppliedPolicies(store, new Parser(() => policies)), provider, TimeProvider.System, NullLogger<FireRehearsal>.Instance);

    private static SnapshotInfo Owned(string id, string volume, DateTimeOffset fire, SnapshotState state = SnapshotState.Completed) => new()
    {
        Id = id, VolumeId = volume, Region = Region, StartTime = fire, State = state,
        Tags = ImmutableSortedDictionary<string, string>.Empty
            .Add(OwnershipTags.Policy, "p1").Add(OwnershipTags.Schedule, "hourly").Add(OwnershipTags.Schedules, "hourly")
            .Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire))
            .Add(OwnershipTags.Token, CreationToken.ForCreate("p1", "hourly", fire, volume)),
    };

    [Fact]
    public async Task Rehearsal_PlansTheNextFiresCreates_FromItsReads_AndChangesNothing()
    {
        foreach (var id in new[] { "vol-1", "vol-2", "vol-3", "vol-4", "vol-5" })
        {
            provider.AddVolume(new VolumeInfo { Id = id, Region = Region, Zone = Region + "a", SizeGiB = 1, Tags = ImmutableSortedDictionary<string, string>.Empty.Add("backup", "yes") });
        }

        provider.AddVolume(new VolumeInfo { Id = "vol-other", Region = Region, Zone = Region + "a", SizeGiB = 1, Tags = ImmutableSortedDictionary<string, string>.Empty });
        var now = DateTimeOffset.UtcNow;
        var next = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero).AddHours(1); // hourly, at :00
        var last = next.AddHours(-1);
        // The next fire is already covered for vol-2 and vol-4 (a manual run took it); vol-3 has only the last fire's snapshot,
        // which does not cover the next one. vol-1 holds a failed snapshot with the next fire's token: a create's token
        // lookup deletes such a leftover, a rehearsal must not.
        provider.Add(Owned("snap-next-vol-2", "vol-2", next));
        provider.Add(Owned("snap-next-vol-4", "vol-4", next));
        provider.Add(Owned("snap-last-vol-3", "vol-3", last));
        provider.Add(Owned("snap-failed-vol-1", "vol-1", next, SnapshotState.Error));
        var before = provider.Snapshots.OrderBy(s => s.Id).ToList();

        var result = await Rehearsal().RunAsync();

        Assert.Equal(1, result.Policies); // p2 is disabled
        // vol-1 (its failed snapshot does not count), vol-3 and vol-5; not vol-2 or vol-4, not the untagged volume.
        Assert.Equal(3, result.PlannedCreates);
        Assert.Equal(FireRehearsal.Passes * 3, result.TokenLookups);
        Assert.Equal(0, result.FailedReads);

        Assert.Equal(0, provider.CreateCalls);
        Assert.Equal(before, provider.Snapshots.OrderBy(s => s.Id).ToList());
        Assert.Empty(await store.ListRunsAsync(new RunFilter { Limit = 100 }));
        Assert.Empty(await store.ListActionsAsync(new ActionFilter { Limit = 100 }));
    }

    [Fact]
    public async Task Rehearsal_OfAPolicyWhoseReadIsRefused_CountsTheFailure_AndRehearsesTheOthers()
    {
        provider.AddVolume(new VolumeInfo { Id = "vol-1", Region = Region, Zone = Region + "a", SizeGiB = 1, Tags = ImmutableSortedDictionary<string, string>.Empty.Add("backup", "yes").Add("team", "a") });
        policies = [Policy("p1", enabled: true), Policy("p2", enabled: true) with { Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("team", ["a"]) } }];
        var calls = 0;
        provider.BeforeDescribeVolumes = _ => Interlocked.Increment(ref calls) % 2 == 1
            ? Task.FromException(new ProviderException(ProviderErrorKind.Unauthorized, "UnauthorizedOperation", "not allowed to describe volumes"))
            : Task.CompletedTask;

        var result = await Rehearsal().RunAsync();

        Assert.Equal(2, result.Policies);
        Assert.True(result.FailedReads >= 1, $"{result}");
        Assert.True(result.PlannedCreates >= 1, $"{result}"); // the other policy's read went through
        Assert.Equal(0, provider.CreateCalls);
    }

    [Fact]
    public async Task Service_RehearsesOnlyOnceTheHostHasStarted()
    {
        provider.AddVolume(new VolumeInfo { Id = "vol-1", Region = Region, Zone = Region + "a", SizeGiB = 1, Tags = ImmutableSortedDictionary<string, string>.Empty.Add("backup", "yes") });
        var reads = 0;
        provider.BeforeDescribeVolumes = _ =>
        {
            Interlocked.Increment(ref reads);
            return Task.CompletedTask;
        };
        var lifetime = new Lifetime();
        using var service = new FireRehearsalService(Rehearsal(), lifetime, NullLogger<FireRehearsalService>.Instance);

        await service.StartAsync(CancellationToken.None);
        // Nothing has signalled the start: the policy directory may still be applying (the service must not run yet).
        Assert.False(service.ExecuteTask!.IsCompleted);
        Assert.Equal(0, Volatile.Read(ref reads));

        lifetime.Start();
        await service.ExecuteTask.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FireRehearsal.Passes, Volatile.Read(ref reads));
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void TheRehearsal_IsAHostedService_OnlyWhenAsked_AndAfterTheSchedulerStarts()
    {
        static List<string> Hosted(bool rehearse)
        {
            var services = new ServiceCollection();
            services.AddLifecycleScheduling(
                new SchedulingOptions { Store = StoreOptions.From(Path.GetTempPath(), null), RehearseOnStart = rehearse }, new FakeProvider(Region), new Parser(() => []));
            return services.Where(d => d.ServiceType == typeof(IHostedService)).Select(d => d.ImplementationType?.Name ?? "?").ToList();
        }

        Assert.DoesNotContain(nameof(FireRehearsalService), Hosted(rehearse: false));
        var hosted = Hosted(rehearse: true);
        Assert.True(hosted.IndexOf(nameof(FireRehearsalService)) > hosted.IndexOf("SchedulerStartupService"), string.Join(", ", hosted));
    }

    private sealed class Parser(Func<ImmutableArray<SnapshotPolicy>> policies) : IPolicySetParser
    {
        public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources) => new(new PolicySet([.. policies()]), []);
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource started = new();

        public CancellationToken ApplicationStarted => started.Token;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void Start() => started.Cancel();

        public void StopApplication()
        {
        }
    }
}
