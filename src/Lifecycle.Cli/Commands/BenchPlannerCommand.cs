using System.Collections.Immutable;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle bench planner [--volumes 10000] [--policies 50] [--snapshots 1000000] [--runs 5]</c>: builds a synthetic
/// inventory in memory (not timed), then times <see cref="SnapshotPlanner.Plan"/>: one warm-up run, then N runs,
/// reporting the median, the actions planned, the bytes allocated per run and the process's peak working set.
/// </summary>
public static class BenchPlannerCommand
{
    public static Command Create()
    {
        var volumes = new Option<int>("--volumes") { Description = "Volumes in the inventory", DefaultValueFactory = _ => 10_000 };
        var policies = new Option<int>("--policies") { Description = "Policies (each targets volumes/policies volumes)", DefaultValueFactory = _ => 50 };
        var snapshots = new Option<int>("--snapshots") { Description = "Existing owned snapshots, spread over the volumes", DefaultValueFactory = _ => 1_000_000 };
        var runs = new Option<int>("--runs") { Description = "Timed runs after the warm-up", DefaultValueFactory = _ => 5 };
        var command = new Command("planner", "Time the planner on a synthetic inventory (target: 10,000 volumes, 50 policies, 1,000,000 snapshots in < 2 s, < 2 GiB)");
        command.Options.Add(volumes);
        command.Options.Add(policies);
        command.Options.Add(snapshots);
        command.Options.Add(runs);
        command.SetAction(parseResult => Run(parseResult.GetValue(volumes), parseResult.GetValue(policies), parseResult.GetValue(snapshots),
            parseResult.GetValue(runs), parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error));
        return command;
    }

    public static int Run(int volumeCount, int policyCount, int snapshotCount, int runs, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (volumeCount < 1 || policyCount < 1 || snapshotCount < 0 || runs < 1)
        {
            stderr.WriteLine("error: --volumes, --policies and --runs must be at least 1, --snapshots at least 0");
            return 2;
        }

        var inv = CultureInfo.InvariantCulture;
        var now = new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
        var build = Stopwatch.StartNew();
        var (policySet, inventory) = Synthesize(volumeCount, policyCount, snapshotCount, now);
        stdout.WriteLine(string.Create(inv, $"bench planner: {inventory.Volumes.Length:N0} volumes, {policySet.Policies.Length} policies, {inventory.Snapshots.Length:N0} snapshots (built in {build.Elapsed.TotalSeconds:0.0} s, not timed)"));

        var planner = new SnapshotPlanner();
        var warmUp = Stopwatch.StartNew();
        var plan = planner.Plan(policySet, inventory, now);
        warmUp.Stop();
        var times = new List<double>();
        var cpuTimes = new List<double>();
        var gcs = 0;
        var gen2 = 0;
        var process = Process.GetCurrentProcess();
        long allocated = 0;
        for (var i = 0; i < runs; i++)
        {
            GC.Collect();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var collections = GC.CollectionCount(0);
            var collections2 = GC.CollectionCount(2);
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var stopwatch = Stopwatch.StartNew();
            plan = planner.Plan(policySet, inventory, now);
            stopwatch.Stop();
            process.Refresh();
            cpuTimes.Add((process.TotalProcessorTime - cpuBefore).TotalSeconds);
            gcs = GC.CollectionCount(0) - collections;
            gen2 = GC.CollectionCount(2) - collections2;
            allocated = Math.Max(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
            times.Add(stopwatch.Elapsed.TotalSeconds);
        }

        times.Sort();
        cpuTimes.Sort();
        var median = times[times.Count / 2];
        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        var kinds = string.Join(", ", Enum.GetValues<ActionKind>().Select(k => $"{plan.Actions.Count(a => a.Kind == k)} {PlanJsonWriter.KindName(k)}"));
        stdout.WriteLine(string.Create(inv, $"warm-up: {warmUp.Elapsed.TotalSeconds:0.000} s; runs: {string.Join(" ", times.Select(t => t.ToString("0.000", inv)))} s"));
        stdout.WriteLine(string.Create(inv, $"median plan time: {median:0.000} s wall ({(median < 2 ? "under" : "OVER")} the 2 s target), {cpuTimes[cpuTimes.Count / 2]:0.000} s CPU (all threads, GC included); {gcs} gen0, {gen2} gen2 GCs per run; {Environment.ProcessorCount} cores"));
        stdout.WriteLine(string.Create(inv, $"actions: {plan.Actions.Length:N0} ({kinds}); decisions: {plan.Decisions.Length:N0}"));
        stdout.WriteLine(string.Create(inv, $"allocated per run: {allocated / (1024.0 * 1024):N0} MiB; peak working set: {peak / (1024.0 * 1024):N0} MiB ({(peak < 2L << 30 ? "under" : "OVER")} the 2 GiB target)"));
        return 0;
    }

    /// <summary>
    /// A deterministic synthetic estate: policy i targets the volumes tagged team=t{i}; a third of the policies run
    /// every 4 h (age 7d + daily/weekly buckets), a third daily (count 30, copies to a DR region), a third hourly by
    /// cron (hourly/daily buckets, fast restore). Each volume carries its policy's snapshots at its schedule's
    /// interval back from now, a few pending or failed, and a few manual snapshots nobody owns.
    /// </summary>
    internal static (PolicySet Policies, Inventory Inventory) Synthesize(int volumeCount, int policyCount, int snapshotCount, DateTimeOffset now)
    {
        string[] regions = ["eu-west-1", "us-east-1"];
        var policies = new List<SnapshotPolicy>();
        var intervals = new List<TimeSpan>();
        for (var p = 0; p < policyCount; p++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"policy-{p:D3}");
            var (schedule, interval) = (p % 3) switch
            {
                0 => (new Schedule
                {
                    Name = "every-4h",
                    Trigger = new IntervalTrigger(PolicyDuration.Hours(4), new TimeOnly(0, 0)),
                    Retain = new RetentionRule { Age = PolicyDuration.Days(7), Buckets = new RetentionBuckets { Daily = 28, Weekly = 12 } },
                }, TimeSpan.FromHours(4)),
                1 => (new Schedule
                {
                    Name = "daily",
                    Trigger = new CronTrigger("0 2 * * *", "UTC"),
                    Retain = new RetentionRule { Count = 30 },
                    Copies = [new CopyRule { Region = "ap-south-1", Retain = new RetentionRule { Count = 7 } }],
                }, TimeSpan.FromDays(1)),
                _ => (new Schedule
                {
                    Name = "hourly",
                    Trigger = new CronTrigger("0 * * * *", "Europe/Berlin"),
                    Retain = new RetentionRule { Buckets = new RetentionBuckets { Hourly = 24, Daily = 14, TimeZone = "Europe/Berlin" }, Minimum = 5 },
                    FastRestore = new FastRestoreRule { Zones = ["eu-west-1a"], Count = 1 },
                }, TimeSpan.FromHours(1)),
            };
            policies.Add(new SnapshotPolicy
            {
                Name = name,
                Regions = [.. regions],
                Targets = new TargetSelector
                {
                    Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                        [KeyValuePair.Create("team", ImmutableArray.Create(string.Create(CultureInfo.InvariantCulture, $"t{p}"))),
                         KeyValuePair.Create("env", ImmutableArray.Create("prod*", "staging"))]),
                },
                Schedules = [schedule],
                Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("created-by", "lifecycle")]),
                Safety = new SafetyRules { KeepLatest = 1, MaxDeletesPerRun = new DeleteLimit(10, true) },
            });
            intervals.Add(interval);
        }

        var volumes = new VolumeInfo[volumeCount];
        for (var v = 0; v < volumeCount; v++)
        {
            var region = regions[v % regions.Length];
            volumes[v] = new VolumeInfo
            {
                Id = string.Create(CultureInfo.InvariantCulture, $"vol-{v:D8}"),
                Region = region,
                Zone = region + "a",
                SizeGiB = 8 << (v % 6),
                Tags = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                    [KeyValuePair.Create("team", string.Create(CultureInfo.InvariantCulture, $"t{v % policyCount}")),
                     KeyValuePair.Create("env", v % 10 == 0 ? "dev" : "production"),
                     KeyValuePair.Create("Name", string.Create(CultureInfo.InvariantCulture, $"server-{v}"))]),
            };
        }

        var snapshots = new SnapshotInfo[snapshotCount];
        var perVolume = Math.Max(1, snapshotCount / volumeCount);
        for (var s = 0; s < snapshotCount; s++)
        {
            var volume = volumes[(s / perVolume) % volumeCount];
            var p = (s / perVolume) % volumeCount % policyCount;
            var policy = policies[p];
            var schedule = policy.Schedules[0];
            var age = s % perVolume;
            var fire = now - ((age + 1) * intervals[p]);
            fire = new DateTimeOffset(fire.Ticks - (fire.Ticks % TimeSpan.TicksPerHour), TimeSpan.Zero);
            var id = string.Create(CultureInfo.InvariantCulture, $"snap-{s:D8}");
            var manual = s % 97 == 0;
            var fireText = OwnershipTags.FormatFireTime(fire);
            snapshots[s] = new SnapshotInfo
            {
                Id = id,
                VolumeId = volume.Id,
                Region = volume.Region,
                StartTime = fire.AddMinutes(2),
                State = s % 211 == 0 ? SnapshotState.Error : age == 0 && s % 7 == 0 ? SnapshotState.Pending : SnapshotState.Completed,
                VolumeSizeGiB = volume.SizeGiB,
                Tags = manual
                    ? ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("Name", "manual")])
                    : ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                    [
                        KeyValuePair.Create(OwnershipTags.Policy, policy.Name),
                        KeyValuePair.Create(OwnershipTags.Schedule, schedule.Name),
                        KeyValuePair.Create(OwnershipTags.Schedules, schedule.Name),
                        KeyValuePair.Create(OwnershipTags.FireTime, fireText),
                        KeyValuePair.Create(OwnershipTags.Token, CreationToken.ForCreate(policy.Name, schedule.Name, fire, volume.Id)),
                        KeyValuePair.Create("created-by", "lifecycle"),
                    ]),
            };
        }

        return (new PolicySet([.. policies]), new Inventory { Volumes = [.. volumes], Snapshots = [.. snapshots] });
    }
}
