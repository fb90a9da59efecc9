using System.Diagnostics;
using System.Text.Json;
using Lifecycle.Core.Inventory;

namespace Lifecycle.Cli.Tests.Engine;

/// <summary>
/// Runs the built <c>lifecycle</c> CLI as a separate process (the engine holds a region lock per process and the
/// commands write to the console) against a temporary <c>--data</c> directory, checking output, JSON shape and exit
/// codes (0 ok, 1 failure or not found, 2 usage).
/// </summary>
public sealed class EngineCommandTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("engine-cli-");

    private string Data => Path.Combine(_root.FullName, "data");

    private string KeyRing => Path.Combine(_root.FullName, "keys.json");

    public void Dispose() => _root.Delete(recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "lifecycle.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // every engine command takes the common options; the bare parse-error cases need none
        if (args.Length > 1 && args[0] is "volume" or "snapshot" or "gc" or "verify" or "inventory")
        {
            start.ArgumentList.Add("--data");
            start.ArgumentList.Add(Data);
            start.ArgumentList.Add("--key-ring");
            start.ArgumentList.Add(KeyRing);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"lifecycle {string.Join(' ', args)} did not finish");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private JsonElement Json(params string[] args)
    {
        var (code, output, error) = Run([.. args, "--output", "json"]);
        Assert.True(code == 0, $"lifecycle {string.Join(' ', args)} exited {code}: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private string CreateVolumeWithText(string text, long offset = 1 << 20)
    {
        var volume = Json("volume", "create", "--size", "4MiB", "--tag", "env=test");
        var id = volume.GetProperty("id").GetString()!;
        Json("volume", "write", id, "--offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture), "--text", text);
        return id;
    }

    [Fact]
    public void SnapshotCreate_OfAnInstance_TakesEveryAttachedVolume_ButTheBootAndExcludedOnes()
    {
        // DLM: a policy targeting instances snapshots all EBS volumes attached to the instance; ExcludeBootVolume
        // leaves out the root volume; ExcludeDataVolumeIds (what ExcludeDataVolumeTags resolves to) the listed ones.
        var root = CreateVolumeWithText("root");
        var data = CreateVolumeWithText("data");
        var logs = CreateVolumeWithText("logs");
        var scratch = CreateVolumeWithText("scratch");
        Json("volume", "attach", root, "--instance", "i-1", "--device", "/dev/xvda", "--boot");
        foreach (var (volume, device) in new[] { (data, "/dev/xvdf"), (logs, "/dev/xvdg"), (scratch, "/dev/xvdh") })
        {
            Json("volume", "attach", volume, "--instance", "i-1", "--device", device);
        }

        var created = Json("snapshot", "create", "--instance", "i-1", "--exclude-boot", "--exclude-volume", scratch);

        var volumes = created.EnumerateArray().Select(s => s.GetProperty("volumeId").GetString()!).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { data, logs }.Order(StringComparer.Ordinal), volumes);
    }

    private string Snapshot(string volumeId)
    {
        var created = Json("snapshot", "create", volumeId, "--tag", "team=storage");
        Assert.Equal(JsonValueKind.Array, created.ValueKind);
        var snapshot = Assert.Single(created.EnumerateArray());
        Assert.Equal("completed", snapshot.GetProperty("state").GetString());
        return snapshot.GetProperty("id").GetString()!;
    }

    private string RestoredText(string snapshotId, int length, long offset = 1 << 20, string region = "local-1")
    {
        var file = Path.Combine(_root.FullName, Guid.NewGuid().ToString("n") + ".raw");
        Json("snapshot", "restore-file", snapshotId, file, "--region", region);
        using var stream = File.OpenRead(file);
        Assert.Equal(4L << 20, stream.Length);
        var buffer = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer);
    }

    [Fact]
    public void VolumeCreateWriteList_ShowsTheVolume_WithItsTags_InJson()
    {
        var id = CreateVolumeWithText("hello");
        var other = Json("volume", "create", "--size", "1MiB").GetProperty("id").GetString();

        var listed = Json("volume", "list", "--tag", "env=test");
        var volume = Assert.Single(listed.EnumerateArray());
        Assert.Equal(id, volume.GetProperty("id").GetString());
        Assert.Equal("test", volume.GetProperty("tags").GetProperty("env").GetString());
        Assert.Equal("zone-a", volume.GetProperty("zone").GetString());
        Assert.Contains(other, Json("volume", "list").EnumerateArray().Select(v => v.GetProperty("id").GetString()));

        // the text table wraps long cells at the redirected console's width, so check what fits in a cell
        var (code, text, _) = Run("volume", "list", "--tag", "env=test");
        Assert.Equal(0, code);
        Assert.Contains("zone-a", text, StringComparison.Ordinal);
        Assert.Contains("4 MiB", text, StringComparison.Ordinal);
    }

    [Fact]
    public void SnapshotCreateListShowDelete_KeepsThePointInTime_AndForgetsTheDeletedSnapshot()
    {
        var volume = CreateVolumeWithText("first version");
        var snapshot = Snapshot(volume);
        Json("volume", "write", volume, "--offset", "1MiB", "--text", "SECOND version");

        var listed = Json("snapshot", "list", "--volume", volume);
        Assert.Equal(snapshot, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetString());
        var shown = Json("snapshot", "show", snapshot);
        Assert.Equal(volume, shown.GetProperty("volumeId").GetString());
        Assert.Equal("storage", shown.GetProperty("tags").GetProperty("team").GetString());
        Assert.Equal("first version", RestoredText(snapshot, "first version".Length));

        var fromSnapshot = Json("snapshot", "create-volume", snapshot).GetProperty("id").GetString()!;
        Assert.StartsWith("vol-", fromSnapshot, StringComparison.Ordinal);
        Assert.Equal("SECOND version", RestoredText(Snapshot(volume), "SECOND version".Length));

        var deleted = Json("snapshot", "delete", snapshot);
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        var (code, _, error) = Run("snapshot", "show", snapshot);
        Assert.Equal(1, code);
        Assert.Contains("NotFound", error, StringComparison.Ordinal);
        Assert.DoesNotContain(snapshot, Json("snapshot", "list").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
    }

    [Fact]
    public void SnapshotCopy_ToAnotherRegion_RecordsItsSource_AndReadsBackTheSameData()
    {
        var volume = CreateVolumeWithText("copied across regions");
        var snapshot = Snapshot(volume);

        var copy = Json("snapshot", "copy", snapshot, "--to", "local-2");
        Assert.Equal("completed", copy.GetProperty("state").GetString());
        Assert.Equal(snapshot, copy.GetProperty("sourceSnapshotId").GetString());
        Assert.Equal("local-1", copy.GetProperty("sourceRegion").GetString());
        var copyId = copy.GetProperty("id").GetString()!;
        Assert.Equal("copied across regions", RestoredText(copyId, "copied across regions".Length, region: "local-2"));
    }

    [Fact]
    public void SnapshotArchive_BlocksCreateVolume_UntilRestoreTier()
    {
        var volume = CreateVolumeWithText("archived data");
        var snapshot = Snapshot(volume);

        Assert.Equal("archive", Json("snapshot", "archive", snapshot).GetProperty("tier").GetString());
        Assert.Equal("archive", Json("snapshot", "show", snapshot).GetProperty("tier").GetString());
        var (code, _, error) = Run("snapshot", "create-volume", snapshot);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);

        Json("snapshot", "restore-tier", snapshot, "--permanent");
        Assert.NotEqual("archive", Json("snapshot", "show", snapshot).GetProperty("tier").GetString());
        Json("snapshot", "create-volume", snapshot);
        Assert.Equal("archived data", RestoredText(snapshot, "archived data".Length));
    }

    [Fact]
    public void VerifyAndGc_Succeed_OnAHealthyStore_AndVerifyFails_WhenAPackIsDamaged()
    {
        var volume = CreateVolumeWithText("verify me");
        Json("volume", "write", volume, "--offset", "2MiB", "--random", "512KiB");
        var snapshot = Snapshot(volume);
        Json("snapshot", "delete", snapshot);
        Snapshot(volume);

        var collected = Json("gc");
        Assert.Equal(JsonValueKind.Array, collected.ValueKind);
        var verified = Assert.Single(Json("verify", "--region", "local-1").EnumerateArray());
        Assert.True(verified.GetProperty("ok").GetBoolean());
        Assert.True(verified.GetProperty("blocksChecked").GetInt64() > 0);

        var pack = Directory.EnumerateFiles(Path.Combine(Data, "regions", "local-1", "packs"), "*.pack").First();
        using (var stream = new FileStream(pack, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = stream.Length - 100;
            var b = stream.ReadByte();
            stream.Position = stream.Length - 100;
            stream.WriteByte((byte)(b ^ 0xFF));
        }

        var (code, output, _) = Run("verify", "--region", "local-1");
        Assert.Equal(1, code);
        Assert.Contains("FAILED", output, StringComparison.Ordinal);
    }

    [Fact]
    public void InventoryExport_WritesValidCoreInventoryJson_WithEveryVolumeAndSnapshot()
    {
        var volume = CreateVolumeWithText("inventory");
        var snapshot = Snapshot(volume);
        var file = Path.Combine(_root.FullName, "inventory.json");

        var (code, _, error) = Run("inventory", "export", "--file", file);
        Assert.True(code == 0, error);
        var inventory = InventoryJson.Read(File.ReadAllText(file), file);
        Assert.Contains(inventory.Volumes, v => v.Id == volume);
        var exported = Assert.Single(inventory.Snapshots, s => s.Id == snapshot);
        Assert.Equal(volume, exported.VolumeId);

        var (stdoutCode, stdout, _) = Run("inventory", "export");
        Assert.Equal(0, stdoutCode);
        Assert.Equal(inventory.Snapshots.Length, InventoryJson.Read(stdout).Snapshots.Length);
    }

    [Theory]
    [InlineData("snapshot", "show", "snap-doesnotexist")]
    [InlineData("snapshot", "create", "vol-doesnotexist")]
    [InlineData("snapshot", "copy", "snap-doesnotexist", "--to", "local-2")]
    [InlineData("volume", "write", "vol-doesnotexist", "--text", "x")]
    public void Commands_Exit1_WithAnError_ForAResourceThatDoesNotExist(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, output);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("volume", "create")]                              // --size is required
    [InlineData("volume", "create", "--size", "4MiB", "--output", "yaml")]
    [InlineData("snapshot", "restore-tier")]                      // SNAPSHOT missing
    [InlineData("snapshot", "list", "--bogus")]
    [InlineData("volume", "create", "--size", "lots")]            // an unparsable size
    [InlineData("snapshot", "create")]                            // neither VOLUME nor --instance
    public void Commands_Exit2_ForUsageErrors(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains("error", error, StringComparison.OrdinalIgnoreCase);
    }
}
