using System.Collections.Immutable;
using System.Xml;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;

namespace Lifecycle.Server.Ec2;

internal sealed partial class Ec2Operations
{
    private static readonly string[] TierStatusFilters = ["snapshot-id", "volume-id", "last-tiering-operation"];
    private static readonly string[] FastRestoreFilters = ["availability-zone", "owner-id", "snapshot-id", "state"];

    private async Task ModifySnapshotTierAsync(Ec2Call call, XmlWriter xml)
    {
        var snapshotId = SnapshotId(call.P.Required("SnapshotId"), "SnapshotId");
        var tier = call.P.String("StorageTier") ?? "archive";
        if (tier != "archive")
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(tier)}) for parameter StorageTier is invalid: the only value is 'archive'");
        }

        await FindSnapshotAsync(call, snapshotId).ConfigureAwait(false);
        call.StopIfDryRun();
        var started = Options.TimeProvider.GetUtcNow();
        await call.Engine.ArchiveSnapshotAsync(snapshotId, call.CancellationToken).ConfigureAwait(false);
        xml.Element("snapshotId", snapshotId);
        xml.Element("tieringStartTime", started);
    }

    private async Task RestoreSnapshotTierAsync(Ec2Call call, XmlWriter xml)
    {
        var snapshotId = SnapshotId(call.P.Required("SnapshotId"), "SnapshotId");
        var days = call.P.Int("TemporaryRestoreDays", 1, 180);
        var permanent = call.P.Bool("PermanentRestore") ?? false;
        if (days is not null && permanent)
        {
            throw Ec2Error.InvalidParameterCombination("TemporaryRestoreDays cannot be used with PermanentRestore=true");
        }

        if (days is null && !permanent)
        {
            throw Ec2Error.MissingParameter("TemporaryRestoreDays (or PermanentRestore=true)");
        }

        await FindSnapshotAsync(call, snapshotId).ConfigureAwait(false);
        call.StopIfDryRun();
        var started = Options.TimeProvider.GetUtcNow();
        await call.Engine.RestoreSnapshotTierAsync(snapshotId, days, call.CancellationToken).ConfigureAwait(false);
        xml.Element("snapshotId", snapshotId);
        xml.Element("restoreStartTime", started);
        xml.Element("restoreDuration", days);
        xml.Element("isPermanentRestore", permanent);
    }

    /// <summary>Archived and temporarily restored snapshots, with their last tiering operation (always finished here).</summary>
    private async Task DescribeSnapshotTierStatusAsync(Ec2Call call, XmlWriter xml)
    {
        var max = call.P.Int("MaxResults", 1, 1000);
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => !TierStatusFilters.Contains(f.Name)))
        {
            throw UnknownFilter(filter, TierStatusFilters);
        }

        DecodeToken(call, "DescribeSnapshotTierStatus");
        call.StopIfDryRun();
        var snapshots = new List<SnapshotInfo>();
        if (call.RegionExists)
        {
            var archived = await call.Engine.DescribeSnapshotsPageAsync(new SnapshotPageQuery { Tiers = [StorageTier.Archive], Limit = 10_000 }, call.CancellationToken).ConfigureAwait(false);
            snapshots.AddRange(archived.Snapshots);
            snapshots.AddRange((await call.Engine.DescribeSnapshotsAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false))
                .Where(s => s.Tier == StorageTier.Standard && s.RestoreExpiryTime is not null));
        }

        static string Operation(SnapshotInfo s) => s.Tier == StorageTier.Archive ? "archival-completed" : "temporary-restore-completed";
        var matching = snapshots.Where(s => filters.All(f => f.Values.Any(v => f.Name switch
        {
            "snapshot-id" => s.Id == v,
            "volume-id" => s.VolumeId == v,
            _ => Operation(s).StartsWith(v, StringComparison.Ordinal),
        })));
        var (page, next) = Page(call, "DescribeSnapshotTierStatus", matching, s => s.Id, max);
        xml.List("snapshotTierStatusSet", page, (x, s) =>
        {
            x.Element("snapshotId", s.Id);
            x.Element("volumeId", s.VolumeId);
            x.Element("status", Ec2Xml.State(s.State));
            x.Element("ownerId", call.AccountId);
            x.TagSet(s.Tags);
            x.Element("storageTier", Ec2Xml.Tier(s.Tier));
            x.Element("lastTieringStartTime", s.ArchivedAt);
            x.Element("lastTieringProgress", 100);
            x.Element("lastTieringOperationStatus", Operation(s));
            x.Element("archivalCompleteTime", s.ArchivedAt);
            x.Element("restoreExpiryTime", s.RestoreExpiryTime);
        });
        NextToken(xml, next);
    }

    private Task EnableFastSnapshotRestoresAsync(Ec2Call call, XmlWriter xml) =>
        ChangeFastSnapshotRestoresAsync(call, xml, (snapshot, zones) => call.Engine.EnableFastSnapshotRestoresAsync(snapshot, zones, call.CancellationToken));

    private Task DisableFastSnapshotRestoresAsync(Ec2Call call, XmlWriter xml) =>
        ChangeFastSnapshotRestoresAsync(call, xml, (snapshot, zones) => call.Engine.DisableFastSnapshotRestoresAsync(snapshot, zones, call.CancellationToken));

    /// <summary>Per snapshot: its zones' new states, or (HTTP 200 all the same, as EC2) the error for each zone.</summary>
    private static async Task ChangeFastSnapshotRestoresAsync(Ec2Call call, XmlWriter xml, Func<string, ImmutableArray<string>, Task<ImmutableArray<FastRestoreZoneState>>> change)
    {
        var zones = call.P.List("AvailabilityZone").Select((z, i) => Zone(call, z, $"AvailabilityZone.{i + 1}")).Distinct(StringComparer.Ordinal).ToImmutableArray();
        if (zones.IsEmpty)
        {
            throw Ec2Error.MissingParameter("AvailabilityZone.1");
        }

        var snapshots = call.P.List("SourceSnapshotId").Select((s, i) => SnapshotId(s, $"SourceSnapshotId.{i + 1}")).Distinct(StringComparer.Ordinal).ToList();
        if (snapshots.Count == 0)
        {
            throw Ec2Error.MissingParameter("SourceSnapshotId.1");
        }

        call.StopIfDryRun();
        var successful = new List<FastRestoreZoneState>();
        var unsuccessful = new List<(string SnapshotId, string Code, string Message)>();
        foreach (var snapshot in snapshots)
        {
            try
            {
                if (!call.RegionExists)
                {
                    throw ProviderException.NotFound("InvalidSnapshot.NotFound", $"The snapshot '{snapshot}' does not exist.");
                }

                successful.AddRange(await change(snapshot, zones).ConfigureAwait(false));
            }
            catch (ProviderException e)
            {
                var error = Ec2Error.From(e);
                unsuccessful.Add((snapshot, error.Code, error.Message));
            }
        }

        xml.List("successful", successful, (x, s) => FastRestoreItem(x, s, call.AccountId));
        xml.List("unsuccessful", unsuccessful, (x, u) =>
        {
            x.Element("snapshotId", u.SnapshotId);
            x.List("fastSnapshotRestoreStateErrorSet", zones, (y, zone) =>
            {
                y.Element("availabilityZone", zone);
                y.WriteStartElement("error", Ec2Xml.Namespace);
                y.Element("code", u.Code);
                y.Element("message", u.Message);
                y.WriteEndElement();
            });
        });
    }

    private static void FastRestoreItem(XmlWriter xml, FastRestoreZoneState state, string accountId)
    {
        xml.Element("snapshotId", state.SnapshotId);
        xml.Element("availabilityZone", state.Zone);
        xml.Element("state", Ec2Xml.FastRestore(state.State));
        xml.Element("ownerId", accountId);
        xml.Element(Ec2Xml.FastRestore(state.State) + "Time", state.Since);
    }

    private async Task DescribeFastSnapshotRestoresAsync(Ec2Call call, XmlWriter xml)
    {
        var max = call.P.Int("MaxResults", 0, 200) is { } m and > 0 ? m : (int?)null;
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => !FastRestoreFilters.Contains(f.Name)))
        {
            throw UnknownFilter(filter, FastRestoreFilters);
        }

        DecodeToken(call, "DescribeFastSnapshotRestores");
        call.StopIfDryRun();
        var states = call.RegionExists
            ? (await call.Engine.DescribeFastSnapshotRestoresAsync(cancellationToken: call.CancellationToken).ConfigureAwait(false)).Where(s => s.State != FastRestoreState.Disabled)
            : [];
        var matching = states.Where(s => filters.All(f => f.Values.Any(v => f.Name switch
        {
            "availability-zone" => s.Zone == v,
            "owner-id" => call.AccountId == v,
            "snapshot-id" => s.SnapshotId == v,
            _ => Ec2Xml.FastRestore(s.State) == v,
        })));
        var (page, next) = Page(call, "DescribeFastSnapshotRestores", matching, s => s.SnapshotId + "\n" + s.Zone, max);
        xml.List("fastSnapshotRestoreSet", page, (x, s) => FastRestoreItem(x, s, call.AccountId));
        NextToken(xml, next);
    }

    private async Task ListSnapshotsInRecycleBinAsync(Ec2Call call, XmlWriter xml)
    {
        var ids = call.P.List("SnapshotId").Select(id => SnapshotId(id, "SnapshotId")).ToHashSet(StringComparer.Ordinal);
        var max = call.P.Int("MaxResults", 5, 1000);
        DecodeToken(call, "ListSnapshotsInRecycleBin");
        call.StopIfDryRun();
        var entries = call.RegionExists ? await call.Engine.ListSnapshotsInRecycleBinAsync(call.CancellationToken).ConfigureAwait(false) : [];
        var (page, next) = Page(call, "ListSnapshotsInRecycleBin", entries.Where(e => ids.Count == 0 || ids.Contains(e.Snapshot.Id)), e => e.Snapshot.Id, max);
        xml.List("snapshotSet", page, (x, e) =>
        {
            x.Element("snapshotId", e.Snapshot.Id);
            x.Element("recycleBinEnterTime", e.RecycleBinEnterTime);
            x.Element("recycleBinExitTime", e.RecycleBinExitTime);
            x.Element("description", e.Snapshot.Description ?? "");
            x.Element("volumeId", e.Snapshot.VolumeId);
        });
        NextToken(xml, next);
    }

    private async Task RestoreSnapshotFromRecycleBinAsync(Ec2Call call, XmlWriter xml)
    {
        var snapshotId = SnapshotId(call.P.Required("SnapshotId"), "SnapshotId");
        if (!call.RegionExists)
        {
            throw new Ec2Error("InvalidSnapshot.NotFound", $"The snapshot '{snapshotId}' is not in the Recycle Bin.");
        }

        call.StopIfDryRun();
        var snapshot = await call.Engine.RestoreSnapshotFromRecycleBinAsync(snapshotId, call.CancellationToken).ConfigureAwait(false);
        xml.Element("snapshotId", snapshot.Id);
        xml.Element("description", snapshot.Description ?? "");
        xml.Element("encrypted", snapshot.Encrypted);
        xml.Element("ownerId", call.AccountId);
        xml.Element("progress", snapshot.Progress + "%");
        xml.Element("startTime", snapshot.StartTime);
        xml.Element("status", Ec2Xml.State(snapshot.State));
        xml.Element("volumeId", snapshot.VolumeId);
        xml.Element("volumeSize", snapshot.VolumeSizeGiB);
    }

    private async Task DescribeRegionsAsync(Ec2Call call, XmlWriter xml)
    {
        var served = await ServedRegionsAsync(call.CancellationToken).ConfigureAwait(false);
        var names = call.P.List("RegionName");
        call.P.Bool("AllRegions");
        var filters = call.P.Filters();
        foreach (var filter in filters.Where(f => f.Name is not ("region-name" or "endpoint" or "opt-in-status")))
        {
            throw UnknownFilter(filter, "region-name", "endpoint", "opt-in-status");
        }

        var unknown = names.FirstOrDefault(n => !served.Contains(n, StringComparer.Ordinal));
        if (unknown is not null)
        {
            throw Ec2Error.InvalidParameterValue($"Invalid region: {Ec2Parameters.Shorten(unknown)} (served here: {string.Join(", ", served)})");
        }

        call.StopIfDryRun();
        var regions = served.Where(r => (names.IsEmpty || names.Contains(r)) && filters.All(f => f.Values.Any(v => f.Name switch
        {
            "region-name" => r == v,
            "endpoint" => call.EndpointUrl == v,
            _ => v == "opt-in-not-required",
        })));
        xml.List("regionInfo", regions, (x, r) =>
        {
            x.Element("regionName", r);
            x.Element("regionEndpoint", call.EndpointUrl);
            x.Element("optInStatus", "opt-in-not-required");
        });
    }

    private Task DescribeAvailabilityZonesAsync(Ec2Call call, XmlWriter xml)
    {
        var names = call.P.List("ZoneName");
        var zoneIds = call.P.List("ZoneId");
        call.P.Bool("AllAvailabilityZones");
        var filters = call.P.Filters();
        string[] known = ["zone-name", "zone-id", "region-name", "state", "zone-type", "group-name"];
        foreach (var filter in filters.Where(f => !known.Contains(f.Name)))
        {
            throw UnknownFilter(filter, known);
        }

        var zones = Zones(call.Region).Select(z => (Name: z, Id: $"{call.Region}-az{z[^1] - 'a' + 1}")).ToList();
        var unknown = names.FirstOrDefault(n => !zones.Any(z => z.Name == n)) ?? zoneIds.FirstOrDefault(n => !zones.Any(z => z.Id == n));
        if (unknown is not null)
        {
            throw Ec2Error.InvalidParameterValue($"Invalid availability zone: [{Ec2Parameters.Shorten(unknown)}] (the zones of {call.Region}: {string.Join(", ", zones.Select(z => z.Name))})");
        }

        call.StopIfDryRun();
        var matching = zones.Where(z => (names.IsEmpty || names.Contains(z.Name)) && (zoneIds.IsEmpty || zoneIds.Contains(z.Id))
            && filters.All(f => f.Values.Any(v => f.Name switch
            {
                "zone-name" => z.Name == v,
                "zone-id" => z.Id == v,
                "region-name" or "group-name" => call.Region == v,
                "state" => v == "available",
                _ => v == "availability-zone",
            })));
        xml.List("availabilityZoneInfo", matching, (x, z) =>
        {
            x.Element("zoneName", z.Name);
            x.Element("zoneState", "available");
            x.Element("regionName", call.Region);
            x.Element("zoneId", z.Id);
            x.Element("zoneType", "availability-zone");
            x.Element("optInStatus", "opt-in-not-required");
            x.Element("groupName", call.Region);
            x.Element("networkBorderGroup", call.Region);
            x.List("messageSet", Array.Empty<string>(), (_, _) => { });
        });
        return Task.CompletedTask;
    }
}
