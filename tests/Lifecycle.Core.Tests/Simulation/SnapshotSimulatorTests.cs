using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Simulation;
using static Lifecycle.Core.Tests.Planning.Build;

namespace Lifecycle.Core.Tests.Simulation;

public class SnapshotSimulatorTests
{
    [Fact]
    public void Simulate_DailyCountThree_MatchesTheHandComputation()
    {
        // One 100 GiB volume, "0 2 * * *" UTC, count 3, keepLatest 1, change 1%/day, from 2026-01-01T00:00Z for 5 days.
        // Stops: 01-01 00:00 (start: catch-up create S0 for the 12-31 02:00 fire), fires 01-01..01-05 02:00 (S1..S5),
        // daily ticks 01-02..01-06 00:00 (nothing due). From 01-03 02:00 each create releases the oldest: S0, S1, S2.
        // Chain storage (oldest full, then 1%·100·days since the previous):
        //   [01-01 00:00, 02:00)  S0=100                              100       × 2 h  =   200
        //   [01-01 02:00, +24h)   S0=100, S1=1·(2/24)=0.08333         100.08333 × 24 h = 2,402
        //   [01-02 02:00, +24h)   S0, S1, S2=1                        101.08333 × 24 h = 2,426
        //   [01-03 02:00, +24h)   S1=100 (now oldest), S2=1, S3=1     102       × 24 h = 2,448
        //   [01-04 02:00, +24h)   S2=100, S3=1, S4=1                  102       × 24 h = 2,448
        //   [01-05 02:00, 01-06)  S3=100, S4=1, S5=1                  102       × 22 h = 2,244
        //   total 12,168 GiB-hours / 730 = 16.668493 GiB-months; × $0.05 = $0.83. At the end 102 GiB × $0.05 = $5.10/month.
        var policy = Policy("daily3", Daily("daily", new RetentionRule { Count = 3 }));
        var report = new SnapshotSimulator().Run(Set(policy), InventoryOf([Volume()], []),
            new SimulationOptions { From = At("2026-01-01T00:00:00Z"), Days = 5, ChangeRatePercentPerDay = 1 });

        var row = Assert.Single(report.Totals);
        Assert.Equal(("daily3", "eu-west-1"), (row.Policy, row.Region));
        Assert.Equal(6, row.Created);
        Assert.Equal(3, row.Deleted);
        Assert.Equal(3, row.FinalStandard);
        Assert.Equal(3, row.PeakStandard);
        Assert.Equal(102.0, row.FinalStandardGiB, 6);
        Assert.Equal(12168.0 / 730, row.StandardGiBMonths, 6);
        Assert.Equal(0.83m, row.PeriodCost);
        Assert.Equal(5.10m, row.MonthlyCostAtEnd);
        Assert.Equal(11, report.Steps); // start + 5 fires + 5 ticks
    }

    [Fact]
    public void Simulate_AnAdoptingPolicy_RetainsAndCountsTheDlmSnapshots_AsItsOwn()
    {
        // Five daily DLM snapshots (02:05, 2025-12-27 … 31) of the volume, count 3: at the start the two oldest go and
        // the 12-31 02:00 fire is covered by DLM's snapshot; then one create a day releases the oldest.
        var dlm = Enumerable.Range(27, 5).Select(day => new Lifecycle.Core.Inventory.SnapshotInfo
        {
            Id = $"snap-dlm-{day}", VolumeId = "vol-1", Region = "eu-west-1", StartTime = At($"2025-12-{day}T02:05:00Z"), VolumeSizeGiB = 100,
            Tags = Tags(Lifecycle.Core.Planning.DlmTags.PolicyId, "policy-0123456789abcdef0", Lifecycle.Core.Planning.DlmTags.ScheduleName, "daily"),
        });
        var policy = Policy("daily3", Daily("daily", new RetentionRule { Count = 3 })) with { Adopt = new DlmAdoption("policy-0123456789abcdef0") };
        var report = new SnapshotSimulator().Run(Set(policy), InventoryOf([Volume()], dlm),
            new SimulationOptions { From = At("2026-01-01T00:00:00Z"), Days = 5, ChangeRatePercentPerDay = 1 });

        var row = Assert.Single(report.Totals);
        Assert.Equal(5, row.Created);
        Assert.Equal(2 + 5, row.Deleted);
        Assert.Equal(3, row.FinalStandard);
    }

    [Fact]
    public void Simulate_CopiesArchiveAndFastRestore_MatchTheHandComputation()
    {
        // One 50 GiB volume in eu-west-1, daily at 00:00 UTC (fires coincide with the daily ticks), from 2026-03-01 for
        // 4 days: S1..S5 at 03-01..03-05 00:00. Rules: count 2; archive after count 1 (archive keeps count 1, 90-day
        // floor); copy to eu-central-1 keeping count 1; fast restore in eu-west-1a for the newest 1; change 1%/day.
        // Each day: the new snapshot is created, copied (C1..C5) and fast-restore-enabled; the previous one moves to
        // the archive (its fast restore goes off); the copy before the previous copy is deleted (C1, C2, C3).
        //   eu-west-1 standard: one snapshot, full 50 GiB, all 96 h              → 4,800 GiB-h = 6.575342 GiB-months
        //   eu-west-1 archive: 0, 50, 100, 150 GiB for 24 h each                 → 7,200 GiB-h = 9.863014 GiB-months
        //   fast restore: 1 zone for 96 h                                          → 96 zone-hours
        //   eu-central-1: C1 = 50 for 24 h, then two copies 50 + 0.5 for 72 h     → 4,836 GiB-h = 6.624658 GiB-months
        // Period cost eu-west-1: 6.575342·0.05 + 9.863014·0.0125 + 96·0.75 = 0.328767 + 0.123288 + 72 = $72.45;
        // eu-central-1: 6.624658·0.05 = $0.33. Monthly at the end: eu-west-1 50·0.05 + 200·0.0125 + 730·0.75 = $552.50;
        // eu-central-1 50.5·0.05 = $2.53 (2.525 rounded half away from zero).
        var schedule = Daily("daily", new RetentionRule { Count = 2 }, "0 0 * * *") with
        {
            Archive = new ArchiveRule { After = new ArchiveAfter(1, null), Retain = new RetentionRule { Count = 1 } },
            Copies = [new CopyRule { Region = "eu-central-1", Retain = new RetentionRule { Count = 1 } }],
            FastRestore = new FastRestoreRule { Zones = ["eu-west-1a"], Count = 1 },
        };
        var report = new SnapshotSimulator().Run(Set(Policy("tiered", schedule)), InventoryOf([Volume() with { SizeGiB = 50 }], []),
            new SimulationOptions { From = At("2026-03-01T00:00:00Z"), Days = 4, ChangeRatePercentPerDay = 1 });

        var source = report.Totals.Single(t => t.Region == "eu-west-1");
        Assert.Equal((5, 4, 0), (source.Created, source.Archived, source.Deleted));
        Assert.Equal((1, 4), (source.FinalStandard, source.FinalArchive));
        Assert.Equal(4800.0 / 730, source.StandardGiBMonths, 6);
        Assert.Equal(7200.0 / 730, source.ArchiveGiBMonths, 6);
        Assert.Equal(96.0, source.FastRestoreZoneHours, 6);
        Assert.Equal(72.45m, source.PeriodCost);
        Assert.Equal(552.50m, source.MonthlyCostAtEnd);

        var copies = report.Totals.Single(t => t.Region == "eu-central-1");
        Assert.Equal((5, 3, 2), (copies.Copied, copies.Deleted, copies.FinalStandard));
        Assert.Equal(4836.0 / 730, copies.StandardGiBMonths, 6);
        Assert.Equal(0.33m, copies.PeriodCost);
        Assert.Equal(2.53m, copies.MonthlyCostAtEnd);
    }

    [Fact]
    public void Simulate_SamplesCountsWeekly_AndWritesTextAndJson()
    {
        var report = new SnapshotSimulator().Run(Set(Policy()), InventoryOf([Volume()], []),
            new SimulationOptions { From = At("2026-01-01T00:00:00Z"), Days = 14 });
        Assert.Equal([At("2026-01-01T00:00:00Z"), At("2026-01-08T00:00:00Z"), At("2026-01-15T00:00:00Z")], report.Timeline.Select(s => s.At).ToArray());
        Assert.Equal([1, 3, 3], report.Timeline.Select(s => s.Standard).ToArray());
        Assert.Contains("Snapshots over time", SimulationTextWriter.Write(report), StringComparison.Ordinal);
        Assert.Contains("\"format\": \"lifecycle-simulation/v1\"", SimulationJsonWriter.Write(report), StringComparison.Ordinal);
    }

    [Fact]
    public void Prices_ReadFromJson_KeepDefaultsForMissingKeys_AndRejectUnknownOnes()
    {
        var prices = StoragePrices.Read("{\"standardPerGbMonth\": 0.06}", "prices.json");
        Assert.Equal(0.06m, prices.StandardPerGbMonth);
        Assert.Equal(0.0125m, prices.ArchivePerGbMonth);
        var error = Assert.Throws<FormatException>(() => StoragePrices.Read("{\n \"standard\": 1}", "prices.json"));
        Assert.StartsWith("prices.json:2:", error.Message, StringComparison.Ordinal);
    }
}
