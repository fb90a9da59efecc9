using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifecycle.Core.Simulation;

/// <summary>
/// Prices used for the cost estimate, in dollars. Defaults are AWS list prices for EBS snapshots: standard
/// $0.05/GB-month, archive $0.0125/GB-month, archive restore $0.03/GB, fast snapshot restore $0.75 per
/// snapshot-zone-hour (a DSU hour). GB and GiB are treated alike, as the bill does.
/// </summary>
public sealed record StoragePrices
{
    public static StoragePrices Default { get; } = new();

    public decimal StandardPerGbMonth { get; init; } = 0.05m;

    public decimal ArchivePerGbMonth { get; init; } = 0.0125m;

    public decimal ArchiveRestorePerGb { get; init; } = 0.03m;

    public decimal FastRestorePerSnapshotZoneHour { get; init; } = 0.75m;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads a prices file (camelCase keys as the properties; missing keys keep the defaults).</summary>
    public static StoragePrices Read(string json, string fileName)
    {
        try
        {
            return JsonSerializer.Deserialize<StoragePrices>(json, Json) ?? Default;
        }
        catch (JsonException e)
        {
            throw new FormatException($"{fileName}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: error: {e.Path ?? "$"}: {e.Message}", e);
        }
    }
}

/// <summary>What to simulate: the start, the length, how fast volumes change, prices, and how often to sample counts.</summary>
public sealed record SimulationOptions
{
    public required DateTimeOffset From { get; init; }

    public required int Days { get; init; }

    /// <summary>Share of a volume's blocks that change per day, in percent (incremental snapshot sizes follow from it).</summary>
    public double ChangeRatePercentPerDay { get; init; } = 1.0;

    public StoragePrices Prices { get; init; } = StoragePrices.Default;

    /// <summary>Interval of the snapshot-count timeline.</summary>
    public TimeSpan SampleEvery { get; init; } = TimeSpan.FromDays(7);
}

/// <summary>Totals for one policy in one region (a source region or a copy target) over the simulated period.</summary>
public sealed record PolicyRegionTotals
{
    public required string Policy { get; init; }

    public required string Region { get; init; }

    public int Created { get; init; }

    public int Copied { get; init; }

    public int Archived { get; init; }

    public int Deleted { get; init; }

    public int FinalStandard { get; init; }

    public int FinalArchive { get; init; }

    public int PeakStandard { get; init; }

    public double FinalStandardGiB { get; init; }

    public double FinalArchiveGiB { get; init; }

    public double StandardGiBMonths { get; init; }

    public double ArchiveGiBMonths { get; init; }

    public double FastRestoreZoneHours { get; init; }

    public int FinalFastRestoreZones { get; init; }

    /// <summary>Cost of the whole simulated period.</summary>
    public decimal PeriodCost { get; init; }

    /// <summary>Monthly cost of the state at the end (storage held and fast restore enabled then, for a 730-hour month).</summary>
    public decimal MonthlyCostAtEnd { get; init; }
}

/// <summary>Snapshot counts of one policy and region at one instant.</summary>
public sealed record TimelineSample(DateTimeOffset At, string Policy, string Region, int Standard, int Archive);

public sealed record SimulationReport
{
    public required DateTimeOffset From { get; init; }

    public required DateTimeOffset To { get; init; }

    public required double ChangeRatePercentPerDay { get; init; }

    public required StoragePrices Prices { get; init; }

    /// <summary>Clock steps taken (fire times and daily ticks).</summary>
    public int Steps { get; init; }

    public ImmutableArray<PolicyRegionTotals> Totals { get; init; } = [];

    public ImmutableArray<TimelineSample> Timeline { get; init; } = [];

    public decimal PeriodCost => Totals.Sum(t => t.PeriodCost);

    public decimal MonthlyCostAtEnd => Totals.Sum(t => t.MonthlyCostAtEnd);
}
