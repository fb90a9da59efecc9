using Hangfire;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
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
    /// Registers the store (migrated on start), Quartz with the ADO job store (SQLite, or PostgreSQL with clustering)
    /// for the policies' schedules, Hangfire (in memory, or Hangfire.PostgreSql in schema <c>hangfire</c> of the same
    /// database) delivering the actions, and the executor. The host supplies the engines' providers (a policy's <c>engine:</c> picks one; the
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
        services.AddSingleton<ActionDispatcher>();
        services.AddSingleton<ActionRunner>();
        services.AddSingleton<PolicyRunner>();
        services.AddSingleton<FireRehearsal>();
        services.AddSingleton<ActionExecutor>();
        services.AddSingleton<PolicyApplier>();
        services.AddSingleton<PolicyPauses>();
        services.AddSingleton<IHookRunner>(sp => new HookRunner(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<HookLeftoverReaper>();
        services.AddTransient<PolicyJob>();
        services.AddTransient<ActionJob>();
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
                s.MaxBatchSize = QuartzThreads;
            });
            // Quartz only wakes policies (planning and enqueuing); the actions run on Hangfire's workers.
            q.UseDefaultThreadPool(QuartzThreads);
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
        AddHangfire(services, options);
        services.AddHostedService<SchedulerStartupService>();
        if (options.RehearseOnStart)
        {
            services.AddHostedService<FireRehearsalService>();
        }

        return services;
    }

    /// <summary>
    /// Policy runs at once per node (each plans one policy and enqueues its actions). Quartz's pool only bounds
    /// concurrency (runs are asynchronous and hold no thread while they wait), so it is sized for the policies that wake
    /// together, not for the cores: a run waiting on a slow or throttled region must not hold back every other policy's
    /// fire. bench scheduler, 20 policies on PostgreSQL: with 16, the last runs started 1.5-3.0 s after the fire; with 64,
    /// every run within 0.10-0.46 s (PolicyRunConcurrencyTests holds 40 runs in their inventory reads at once).
    /// </summary>
    private const int QuartzThreads = 64;

    /// <summary>
    /// Hangfire delivers the actions. Embedded: Hangfire.InMemory (the run store is durable; every unfinished action is
    /// delivered again at start). PostgreSQL: Hangfire.PostgreSql in its own schema, sliding invisibility with a short
    /// timeout (a killed node's jobs are delivered again after about a minute, a long job never twice), polled every
    /// second (a job starts at once on the node that enqueued it, and within a second on an idle other node). Two
    /// servers: creates have workers of their own, so a backlog of copies or deletions never delays a fire.
    /// </summary>
    private static void AddHangfire(IServiceCollection services, SchedulingOptions options)
    {
        services.AddHangfire((sp, config) =>
        {
            config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
            // Our jobs carry an action id only: they need neither the enqueuing thread's culture (everything we format
            // is invariant) nor continuations. Hangfire adds both filters by default, and on PostgreSQL they cost two
            // parameter writes per job and three reads as it runs (PostgreSQL's statement log of a fire of 100 creates:
            // 306 jobparameter SELECTs for 102 jobs, CurrentCulture, CurrentUICulture and Continuations).
            GlobalJobFilters.Filters.Remove(typeof(CaptureCultureAttribute));
            GlobalJobFilters.Filters.Remove(typeof(ContinuationsSupportAttribute));
            if (options.Store.Dialect == StoreDialect.Postgres)
            {
                // Npgsql's reset of a pooled connection (DISCARD ALL, a fifth of the statements of a fire's jobs) stays:
                // the pool is shared, and session state one user leaves behind (Hangfire's schema scripts set
                // search_path and reset it only when they finish) must not reach another.
                config.UsePostgreSqlStorage(o => o.UseNpgsqlConnection(options.Store.ConnectionString), new PostgreSqlStorageOptions
                {
                    SchemaName = HangfireSchema,
                    PrepareSchemaIfNecessary = true,
                    InvisibilityTimeout = options.InvisibilityTimeout,
                    UseSlidingInvisibilityTimeout = true,
                    // No long polling. Hangfire.PostgreSql 1.21.1 starts a listener (LISTEN new_job on a connection of
                    // its own) in every dequeue and, once the dequeue has fetched a job, waits for that listener to end
                    // before the worker may start the job. A listener that misses its cancellation ends only at the
                    // next NOTIFY: in bench scheduler (1,000 creates on PostgreSQL, 7 of 16 runs over two days) one
                    // worker held a fetched create for 44-52 s, until the recovery pass's minute enqueued a job
                    // (dotnet-stack: the worker in PostgreSqlJobQueue.Dequeue -> Task.Wait). Without it nothing waits
                    // on a listener: a job this node enqueues wakes one of its workers at once (Hangfire.PostgreSql
                    // signals them in process when the enqueue commits), and another node's idle workers find it at
                    // their next poll, within QueuePollInterval (the polling is the same with or without).
                    EnableLongPolling = false,
                    QueuePollInterval = TimeSpan.FromSeconds(1),
                    // A lock's lifetime: a node killed while changing a job's state leaves that job's state lock behind,
                    // and no worker can start the job until it expires (10 min by default: seen as a create that stayed
                    // 'enqueued', its job fetched again and again, after a node was killed). Our locks are held for
                    // moments (state changes, the recurring jobs' one-at-a-time guards), so a minute is ample.
                    DistributedLockTimeout = DistributedLockLifetime,
                });
            }
            else
            {
                config.UseInMemoryStorage(new InMemoryStorageOptions { MaxExpirationTime = TimeSpan.FromHours(6) });
            }

            ActionJobNameAttribute.Store = sp.GetRequiredService<RunStore>();
        });
        if (!options.RunWorkers)
        {
            return;
        }

        var node = NodeIdentity.ForThisProcess(options.NodeName).Name;
        var creates = Math.Clamp(options.MaxConcurrency, 1, 256);
        services.AddHangfireServer((sp, o) =>
        {
            o.ServerName = node + ":creates";
            o.Queues = [ActionQueues.Creates];
            o.WorkerCount = creates;
            o.SchedulePollingInterval = TimeSpan.FromSeconds(1);
        });
        services.AddHangfireServer((sp, o) =>
        {
            o.ServerName = node + ":others";
            o.Queues = ActionQueues.Others;
            o.WorkerCount = Math.Max(4, creates / 4);
            o.SchedulePollingInterval = TimeSpan.FromSeconds(1);
        });
    }

    /// <summary>Hangfire's tables live in this schema of the PostgreSQL database.</summary>
    public const string HangfireSchema = "hangfire";

    /// <summary>How long a Hangfire.PostgreSql distributed lock lives if its holder died (Hangfire's default is 10 minutes).</summary>
    public static readonly TimeSpan DistributedLockLifetime = TimeSpan.FromMinutes(1);
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
/// After start: make sure the applied policies have their triggers and the reconcile and recovery passes their recurring jobs, deliver
/// again every action the run store still owes (Hangfire.InMemory lost its jobs with the process; a PostgreSQL job a
/// crash left without state never runs), and wake each policy once to catch up a fire missed while the server was
/// down.
/// </summary>
internal sealed class SchedulerStartupService(
    ISchedulerFactory schedulerFactory, AppliedPolicies applied, RunStore store, SchedulingOptions options, IRecurringJobManager recurring,
    IServiceProvider services) : IHostedService
{
    private readonly DateTimeOffset startedAt = services.GetRequiredService<TimeProvider>().GetUtcNow();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        RaiseThreadPoolFloor(options.MaxConcurrency);
        var scheduler = await schedulerFactory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var set = await applied.GetAsync(cancellationToken).ConfigureAwait(false);
        var paused = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        // Adds and updates only: another node may be storing a newer revision right now (see removeOthers).
        await PolicyScheduler.SyncAsync(scheduler, set.Policies, paused.Keys.ToHashSet(StringComparer.Ordinal), removeOthers: false, cancellationToken).ConfigureAwait(false);
        recurring.AddOrUpdate<ReconcileJob>(ReconcileJob.RecurringId, j => j.RunAsync(CancellationToken.None), ReconcileJob.Cron(options.ReconcileCron));
        recurring.AddOrUpdate<ReconcileJob>(ReconcileJob.RecoverId, j => j.RecoverStrandedAsync(CancellationToken.None), ReconcileJob.Cron(ReconcileJob.RecoverCron));

        // A run this node's previous process left running (killed while planning) ends as failed: nothing else would;
        // the leases it held end now, so its actions resume at once rather than when the leases run out.
        // The embedded store has one server at a time, and a default node name carries the process id (the previous
        // life had another name): there, every run and lease a stopped process left is this server's to end.
        var node = options.Store.Dialect == StoreDialect.Sqlite ? null : services.GetRequiredService<NodeIdentity>().Name;
        await store.CloseInterruptedRunsAsync(node, startedAt, cancellationToken).ConfigureAwait(false);
        await store.ReleaseLeftoverLeasesAsync(node, cancellationToken).ConfigureAwait(false);

        // A paused policy's queued actions stay deferred until it is resumed (running ones resume: hooks may have run).
        await ActivatorUtilities.CreateInstance<ReconcileJob>(services).RedeliverOwedAsync(null, cancellationToken).ConfigureAwait(false);

        if (options.CatchUpOnStart)
        {
            // The policy job itself skips a paused policy; the catch-up of the others happens whatever else starts
            // (the watched directory's apply leaves these one-off triggers alone).
            foreach (var policy in set.Policies.Policies.Where(p => p.Enabled && !paused.ContainsKey(p.Name)))
            {
                await PolicyScheduler.TriggerAsync(scheduler, policy.Name, new JobDataMap { [JobKeys.Mode] = PolicyRunMode.Startup }, set.Policies,
                    paused.Keys.ToHashSet(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// SQLite (Microsoft.Data.Sqlite) and the local engine are synchronous under their async APIs, so the hundreds of
    /// actions of one fire block pool threads for a millisecond at a time (and Hangfire's workers block a thread each). The pool adds threads only about twice a
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
