using Lifecycle.Core.Inventory;

namespace Lifecycle.Core.Tests.InventoryFormat;

public class InventoryJsonTests
{
    private static string ErrorOf(string json)
    {
        var error = Assert.Throws<InventoryFormatException>(() => InventoryJson.Read(json, "inv.json"));
        return error.Message;
    }

    private static string Snapshots(params string[] extras) =>
        "{ \"snapshots\": [\n" + string.Join(",\n", extras.Select(e =>
            "  { \"id\": \"s\", \"volumeId\": \"v\", \"region\": \"r\", \"startTime\": \"2026-01-01T00:00:00Z\"" + e + " }")) + "\n] }";

    [Fact]
    public void Read_NamesABadTier_AndTheAllowedOnes()
    {
        var message = ErrorOf(Snapshots("", "", "", ", \"tier\": \"frozen\""));
        Assert.Equal("inv.json:5:93: error: snapshots[3].tier: 'frozen' is not one of standard, archive", message);
    }

    [Fact]
    public void Read_NamesABadSnapshotState_AndTheAllowedOnes()
    {
        var message = ErrorOf(Snapshots(", \"state\": \"bogus\""));
        Assert.EndsWith("error: snapshots[0].state: 'bogus' is not one of pending, completed, error, recoverable, recovering", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NamesABadVolumeState_InKebabCase()
    {
        var message = ErrorOf("{ \"volumes\": [ { \"id\": \"v\", \"region\": \"r\", \"zone\": \"z\", \"state\": \"in_use\" } ] }");
        Assert.EndsWith("error: volumes[0].state: 'in_use' is not one of creating, available, in-use, deleting, deleted, error", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NamesABadFastRestoreState_OfAZone()
    {
        var message = ErrorOf(Snapshots(", \"fastRestore\": { \"eu-west-1a\": \"on\" }"));
        Assert.EndsWith("error: snapshots[0].fastRestore.eu-west-1a: 'on' is not one of enabling, optimizing, enabled, disabling, disabled", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_RefusesANumberForAnEnum_AndListsTheAllowedStrings()
    {
        var message = ErrorOf(Snapshots(", \"tier\": 1"));
        Assert.EndsWith("error: snapshots[0].tier: expected a string, one of standard, archive", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NamesAnUnknownKey_AndTheAllowedKeys()
    {
        var message = ErrorOf(Snapshots(", \"teir\": \"archive\""));
        Assert.StartsWith("inv.json:2:", message, StringComparison.Ordinal);
        Assert.NotEqual("inv.json:2:1:", message[..13]);
        Assert.Contains("error: snapshots[0].teir: unknown key 'teir' (allowed: id, volumeId, region, startTime, state, progress, tier, archivedAt,", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Lifecycle.Core", message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NamesAMissingRequiredKey()
    {
        var message = ErrorOf("{ \"snapshots\": [ { \"id\": \"s\", \"region\": \"r\", \"startTime\": \"2026-01-01T00:00:00Z\" } ] }");
        Assert.Contains("missing required key(s) 'volumeId'", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Lifecycle.Core", message, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteThenRead_KeepsArchiveTimeAndInstanceTags_AndOmitsEmptyInstanceTags()
    {
        var inventory = new Core.Inventory.Inventory
        {
            Volumes =
            [
                new VolumeInfo { Id = "vol-a", Region = "r", Zone = "z", InstanceId = "i-1", InstanceTags = Planning.Build.Tags("role", "db") },
                new VolumeInfo { Id = "vol-b", Region = "r", Zone = "z", State = VolumeState.InUse },
            ],
            Snapshots =
            [
                new SnapshotInfo
                {
                    Id = "s", VolumeId = "vol-a", Region = "r", StartTime = Planning.Build.At("2026-01-01T00:00:00Z"),
                    Tier = StorageTier.Archive, ArchivedAt = Planning.Build.At("2026-04-01T00:00:00Z"),
                },
            ],
        };

        var json = InventoryJson.Write(inventory);
        var read = InventoryJson.Read(json);

        Assert.Contains("\"archivedAt\": \"2026-04-01T00:00:00+00:00\"", json, StringComparison.Ordinal);
        Assert.Contains("\"state\": \"in-use\"", json, StringComparison.Ordinal);
        Assert.Equal(1, json.Split("instanceTags").Length - 1);
        Assert.Equal("db", read.Volumes[0].InstanceTags["role"]);
        Assert.Empty(read.Volumes[1].InstanceTags);
        Assert.Equal(Planning.Build.At("2026-04-01T00:00:00Z"), read.Snapshots[0].ArchivedAt);
        Assert.Equal(StorageTier.Archive, read.Snapshots[0].Tier);
    }
}
