namespace Lifecycle.Policies.Tests;

/// <summary>Warnings: the policy stays valid (and loaded), the diagnostic says what looks wrong.</summary>
public class PolicyWarningsTests
{
    private const string Head = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: warn }
        spec:
          regions: [eu-west-1]

        """;

    private static string Warnings(string body)
    {
        var result = PolicyLoader.LoadText(Head + body, "w.yaml");
        Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
        Assert.Single(result.Policies.Policies);
        return string.Join("\n", result.Diagnostics);
    }

    private const string Targets = "  targets: { tags: { backup: \"true\" } }\n";

    [Fact]
    public void KeepLatestZero_Warns()
    {
        Assert.Equal(
            "w.yaml:8:25: warning: spec.safety.keepLatest: keepLatest: 0 lets age and bucket rules delete the newest snapshot of a volume, even when no newer one was taken",
            Warnings(Targets + "  schedules: [{ name: d, every: 1d, retain: { age: 7d } }]\n  safety: { keepLatest: 0 }\n"));
    }

    [Fact]
    public void ArchiveRetentionByCountOnly_WarnsThatThe90DayFloorIsEnforced()
    {
        Assert.Equal(
            "w.yaml:7:86: warning: spec.schedules[0].archive.retain: without an age, count and buckets may release an archived snapshot early; it is kept at least 90 days in the archive regardless (the tier's minimum)",
            Warnings(Targets + "  schedules: [{ name: m, cron: \"0 0 1 * *\", retain: { count: 3 }, archive: { retain: { count: 12 } } }]\n"));
    }

    [Fact]
    public void ArchiveRetentionOf90DaysOrMore_DoesNotWarn()
    {
        Assert.Equal("", Warnings(Targets + "  schedules: [{ name: m, cron: \"0 0 1 * *\", retain: { count: 3 }, archive: { retain: { age: 90d, count: 12 } } }]\n"));
    }

    [Fact]
    public void MinimumNotBelowCount_Warns()
    {
        Assert.Equal(
            "w.yaml:7:66: warning: spec.schedules[0].retain.minimum: minimum (5) is not below count (5), so count never releases a snapshot the floor would not keep anyway",
            Warnings(Targets + "  schedules: [{ name: d, every: 1d, retain: { count: 5, minimum: 5 } }]\n"));
    }

    [Fact]
    public void BootVolumeExclusionOnVolumeTargets_Warns()
    {
        Assert.Equal(
            "w.yaml:6:53: warning: spec.targets.exclude.bootVolume: bootVolume applies to instance targets only; with resource: volume it has no effect",
            Warnings("  targets: { tags: { a: b }, exclude: { bootVolume: true } }\n  schedules: [{ name: d, every: 1d, retain: { count: 1 } }]\n"));
    }

    [Fact]
    public void FastRestoreZoneOutsideTheRegions_WarnsOnAws()
    {
        Assert.Equal(
            "w.yaml:7:82: warning: spec.schedules[0].fastRestore.zones[0]: zone 'us-east-1a' is not in any of the policy's regions (eu-west-1)",
            Warnings(Targets + "  schedules: [{ name: d, every: 1d, retain: { count: 1 }, fastRestore: { zones: [us-east-1a], count: 1 } }]\n"));
    }

    [Fact]
    public void PlainHttpHookToAnotherMachine_Warns_ButLoopbackDoesNot()
    {
        const string Schedules = "  schedules: [{ name: d, every: 1d, retain: { count: 1 } }]\n";
        Assert.Equal(
            "w.yaml:9:19: warning: spec.hooks.pre[0].http: the hook is sent over plain http to another machine; use https",
            Warnings(Targets + Schedules + "  hooks:\n    pre: [{ http: http://hooks.example.com/x }]\n"));
        Assert.Equal("", Warnings(Targets + Schedules + "  hooks:\n    pre: [{ http: http://127.0.0.1:8080/x }]\n"));
    }

    [Fact]
    public void BucketsAllZero_BesideACount_Warns()
    {
        Assert.Equal(
            "w.yaml:7:66: warning: spec.schedules[0].retain.buckets: every bucket count is 0, so buckets keep nothing",
            Warnings(Targets + "  schedules: [{ name: d, every: 1d, retain: { count: 3, buckets: { daily: 0 } } }]\n"));
    }

    [Fact]
    public void ArchivingAFrequentIntervalSchedule_Warns()
    {
        Assert.Equal(
            "w.yaml:7:68: warning: spec.schedules[0].archive: archiving a schedule that runs every 1d fills the archive tier with snapshots billed 90 days each; archive a monthly schedule instead (Amazon DLM requires 28 days or more)",
            Warnings(Targets + "  schedules: [{ name: d, every: 1d, retain: { count: 3 }, archive: { retain: { age: 1y } } }]\n"));
    }
}
