using Lifecycle.Core.Hooks;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Execution;
using Lifecycle.Scheduling.Hooks;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Lifecycle.Scheduling.Configuration;

public static class SchedulingServiceCollectionExtensions
{
    /// <summary>
    /// Registers the store (migrated on start), Quartz with the ADO job store (SQLite, or PostgreSQL with clustering),
    /// the executor and its jobs. The host supplies the engines' providers (a policy's <c>engine:</c> picks one; the
    /// default engine's registry is also registered as <see cref="IProviderRegistry"/>) and the policy parser.
    /// </summary>
    public static IServiceCollection AddLifecycleScheduling(
        this IServiceCollection services, SchedulingOptions options, IEngineRegistry engines, IPolicySetParser parser)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(options.Executor);
        services.AddSingleton(NodeIdentity.ForThisProcess(options.NodeName));
        services.AddSingleton(new LifecycleDatabase(options.Store));
        services.AddSingleton(engines);
        services.AddSingleton(engines.For(engines.Default));
        services.AddSingleton(parser);
        services.AddSingleton<RunStore>();
        services.AddSingleton<AppliedPolicies>();
        services.AddSingleton<InventoryReader>();
        services.AddSingleton(sp => new ActionQueue(sp.GetRequiredService<RunStore>(), sp.GetRequiredService<TimeProvider>(), options.ActionBatchSize));
        services.AddSingleton<ActionRunner>();
        services.AddSingleton<PolicyRunner>();
        services.AddSingleton<ActionExecutor>();
        services.AddSingleton<PolicyApplier>();
        services.AddSingleton<PolicyPauses>();
        services.AddSingleton<IHookRunner>(sp => new HookRunner(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<HookLeftoverReaper>();
        services.AddTransient<PolicyJob>();
        services.AddTransient<ActionJob>();
        services.AddTransient<ActionBatchJob>();
        services.AddTransient<ReconcileJob>();

        // Hosted services start in registration order: the schema exists before Quartz opens its store.
        services.AddHostedService<SchemaMigrationService>();

        // Before Quartz starts (and so before any job can run a hook again): kill what a crash left running.
        services.AddHostedService<HookLeftoverService>();
        services.AddQuartz(q =>
        {
            q.ConfigureScheduler(s =>
            {
                s.InstanceName = "lifecycle";
                s.GenerateInstanceId = true;
                s.IdleWaitTime = TimeSpan.FromSeconds(5);
                s.MaxBatchSize = Math.Clamp(options.MaxConcurrency, 1, 256);
            });
            q.UseDefaultThreadPool(Math.Clamp(options.MaxConcurrency, 1, 256));
            q.UsePersistentStore(store =>
            {
                if (options.Store.Dialect == StoreDialect.Postgres)
                {
                    store.UsePostgres(options.Store.ConnectionString);
                    store.UseClustering(c =>
                    {
                        c.CheckinInterval = TimeSpan.FromSeconds(5);
                        c.CheckinMisfireThreshold = TimeSpan.FromSeconds(15);
                    });
                }
                else
                {
                    // Quartz's connections get the same busy wait and sync setting as ours (see TunedSqliteConnection).
                    store.UseSqlite(TunedSqliteFactory.Instance, options.Store.ConnectionString);
                }

                store.UseSystemTextJsonSerializer(_ => { });
                store.ConfigureStore(o =>
                {
                    o.TablePrefix = SchemaMigrator.QuartzTablePrefix;
                    o.SchemaProvisioning = SchemaProvisioning.Validate;
                    o.MisfireThreshold = TimeSpan.FromSeconds(30);
                });
            });
        });
        services.AddQuartzHostedService(o => o.WaitForJobsToComplete = false);
        services.AddHostedService<SchedulerStartupService>();
        return services;
    }
}

/// <summary>Creates or migrates the schema before anything else touches the store.</summary>
internal sealed class SchemaMigrationService(LifecycleDatabase database, TimeProvider timeProvider) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => SchemaMigrator.MigrateAsync(database, timeProvider, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// Kills the exec hook process groups a crashed server of this machine left running and closes their records, once
/// the schema exists and before the scheduler can start a job (hosted services start in registration order).
/// </summary>
internal sealed class HookLeftoverService(HookLeftoverReaper reaper, ILogger<HookLeftoverService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var closed = await reaper.ReapAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            if (closed > 0)
            {
                logger.LogWarning("closed {Count} hook records a crashed server left running (see the warnings above)", closed);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The server still starts: the executor tries again for each action before it runs that action's hooks.
            logger.LogError(e, "could not clean up the hooks a crashed server left running");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// After start: make sure the applied policies have their triggers, reschedule actions a crash left unfinished, and
/// wake each policy once to catch up a fire missed while the server was down.
/// </summary>
internal sealed class SchedulerStartupService(
    ISchedulerFactory schedulerFactory, AppliedPolicies applied, RunStore store, SchedulingOptions options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        RaiseThreadPoolFloor(options.MaxConcurrency);
        var scheduler = await schedulerFactory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        var paused = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        await PolicyScheduler.SyncAsync(scheduler, set.Policies, paused.Keys.ToHashSet(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
        foreach (var state in new[] { ActionStates.Enqueued, ActionStates.Running })
        {
            foreach (var action in await store.ListActionsAsync(new ActionFilter { State = state, Limit = 100_000 }, cancellationToken).ConfigureAwait(false))
            {
                // A paused policy's queued actions stay deferred until it is resumed (running ones resume: hooks may have run).
                if (state == ActionStates.Enqueued && paused.ContainsKey(action.Policy))
                {
                    continue;
                }

                await ActionQueue.EnsureScheduledAsync(scheduler, store, action.Id, action.Job, cancellationToken).ConfigureAwait(false);
            }
        }

        if (options.CatchUpOnStart)
        {
            // The policy job itself skips a paused policy; the catch-up of the others happens whatever else starts
            // (the watched directory's apply leaves these one-off triggers alone).
            foreach (var policy in set.Policies.Policies.Where(p => p.Enabled && !paused.ContainsKey(p.Name)))
            {
                await scheduler.TriggerJob(JobKeys.Policy(policy.Name), new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Startup }, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// SQLite (Microsoft.Data.Sqlite) and the local engine are synchronous under their async APIs, so the hundreds of
    /// actions of one fire block pool threads for a millisecond at a time. The pool adds threads only about twice a
    /// second when starved, and meanwhile every continuation waits, among them the store's writer turns: measured in
    /// `bench scheduler`, batches waited 0.6–1.4 s for a turn of a few milliseconds. Start with a floor instead.
    /// </summary>
    private static void RaiseThreadPoolFloor(int maxConcurrency)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var floor = Math.Max(workers, maxConcurrency);
        if (floor > workers)
        {
            ThreadPool.SetMinThreads(floor, io);
        }
    }
}
