using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Configuration;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Quartz;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// Many policies wake at one instant (every hourly and daily schedule of a platform). Each run plans and enqueues; on
/// PostgreSQL that is a few hundred milliseconds of round trips, so a run that waits for another's thread starts late
/// and its creates with it (bench scheduler, 20 policies on PostgreSQL: the last runs started late
/// with 16 runs at a time: 1.5-3.0 s in six runs).
/// </summary>
public sealed class PolicyRunConcurrencyTests
{
    [Fact]
    public async Task PoliciesWokenAtOneInstant_AllStartTheirRunsTogether_NoneWaitsForAnothersRunToEnd()
    {
        const int Policies = 40;
        var dir = Directory.CreateTempSubdirectory("lifecycle-concurrency-").FullName;
        try
        {
            var provider = new FakeProvider("r1");
            var set = new PolicySet([.. Enumerable.Range(0, Policies).Select(i => Policy($"p{i}"))]);
            var services = new ServiceCollection();
            services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
            services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
            var lifetime = new Lifetime();
            services.AddSingleton<IHostApplicationLifetime>(lifetime);
            services.AddLifecycleScheduling(
                new Configuration.SchedulingOptions { Store = StoreOptions.From(dir, null), CatchUpOnStart = false, RunWorkers = false, NodeName = "concurrency" },
                provider, new FixedPolicies(set));
            await using var container = services.BuildServiceProvider();
            var hosted = container.GetServices<IHostedService>().ToList();
            foreach (var service in hosted)
            {
                await service.StartAsync(CancellationToken.None); // in registration order, as the host does
            }

            lifetime.Started();

            try
            {
                var scheduler = await container.GetRequiredService<ISchedulerFactory>().GetScheduler();
                var applied = await container.GetRequiredService<PolicyApplier>()
                    .ApplyAsync(scheduler, new ApplyRequest { Sources = [new PolicySource("all.yaml", "(parsed by the test)")], Author = "test", CatchUp = false });
                Assert.Equal(ApplyResult.Applied, applied.Status);

                // From now on every run holds its inventory read until all of them are reading at once.
                var reading = 0;
                var allReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                provider.BeforeDescribeVolumes = async ct =>
                {
                    if (Interlocked.Increment(ref reading) >= Policies)
                    {
                        allReading.TrySetResult();
                    }

                    await allReading.Task.WaitAsync(ct).ConfigureAwait(false);
                };
                foreach (var policy in set.Policies)
                {
                    await PolicyScheduler.TriggerAsync(scheduler, policy.Name, new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Manual }, set, paused: null);
                }

                // Runs that had to wait for a free thread would never reach the read while the others hold theirs.
                var finished = await Task.WhenAny(allReading.Task, Task.Delay(TimeSpan.FromSeconds(30)));
                Assert.True(finished == allReading.Task, $"{Volatile.Read(ref reading)} of {Policies} runs reached their inventory read together");
            }
            finally
            {
                foreach (var service in Enumerable.Reverse(hosted))
                {
                    await service.StopAsync(CancellationToken.None);
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static SnapshotPolicy Policy(string name) => new()
    {
        Name = name,
        Regions = ["r1"],
        Targets = new TargetSelector { Tags = ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("app", [name]) },
        Schedules = [new Schedule { Name = "hourly", Trigger = new CronTrigger("0 * * * *", "UTC"), Retain = new RetentionRule { Count = 1 } }],
    };

    /// <summary>The host's lifetime, for hosted services started by hand (Quartz's starts its scheduler once the host has started).</summary>
    private sealed class Lifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource started = new();
        private readonly CancellationTokenSource stopping = new();

        public CancellationToken ApplicationStarted => started.Token;

        public CancellationToken ApplicationStopping => stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void Started() => started.Cancel();

        public void StopApplication() => stopping.Cancel();
    }

    private sealed class FixedPolicies(PolicySet set) : IPolicySetParser
    {
        public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources) => new(set, []);
    }
}
