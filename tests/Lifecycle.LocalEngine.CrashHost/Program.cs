using System.Collections.Immutable;
using System.Security.Cryptography;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.LocalEngine.Encryption;

// Usage: CrashHost DATA_DIR JOURNAL SEED
// Does random engine work forever. After an operation returns it appends a fact to the journal and flushes it, so the
// crash test knows what must survive a SIGKILL: "snap REGION ID SHA256" for completed snapshots and copies (the hash
// of the volume content at the snapshot's start), "deleting REGION ID" before a delete is attempted.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: CrashHost DATA_DIR JOURNAL SEED");
    return 2;
}

var (data, journalPath, seed) = (args[0], args[1], int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture));
var keyRing = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(journalPath))!, "crash-keyring.json");
if (!File.Exists(keyRing))
{
    KeyRing.AddKey(keyRing, "crash-key");
}

var random = new Random(seed);
var hashes = File.Exists(journalPath)
    ? File.ReadAllLines(journalPath).Select(l => l.Split(' ')).Where(p => p.Length == 4 && p[0] == "snap")
        .GroupBy(p => p[2]).ToDictionary(g => g.Key, g => g.Last()[3])
    : [];
using var journal = new FileStream(journalPath, FileMode.Append, FileAccess.Write, FileShare.Read);
void Record(string line)
{
    journal.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
    journal.Flush(flushToDisk: true);
    var parts = line.Split(' ');
    if (parts[0] == "snap")
    {
        hashes[parts[2]] = parts[3];
    }
}

using var engine = LocalEngine.Open(new LocalEngineOptions { DataDirectory = data, KeyRingPath = keyRing });
var source = engine.Region("crash-1");
var target = engine.Region("crash-2");
var tags = ImmutableSortedDictionary<string, string>.Empty;
const int Block = LocalRegion.BlockSize;
var volumes = (await source.DescribeVolumesAsync()).Select(v => v.Id).ToList();
while (volumes.Count < 2)
{
    volumes.Add((await source.CreateVolumeAsync("z", 16L * Block, tags, encrypted: volumes.Count == 1)).Id);
}

var shared = new byte[Block];
random.NextBytes(shared);
Console.WriteLine("ready");
while (true)
{
    // keep each region at a dozen snapshots or so, so that checking all of them after every kill stays quick
    var crowded = (await source.DescribeSnapshotsAsync()).Length > 12 || (await target.DescribeSnapshotsAsync()).Length > 12;
    var op = crowded && random.Next(2) == 0 ? 90 : random.Next(100);
    var volume = volumes[random.Next(volumes.Count)];
    if (op < 35)
    {
        await WriteSomethingAsync(volume);
    }
    else if (op < 60)
    {
        var content = new byte[16 * Block];
        await source.ReadAsync(volume, 0, content);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        var started = await source.CreateSnapshotAsync(new CreateSnapshotRequest(volume, tags));
        for (var i = random.Next(3); i > 0; i--)
        {
            await WriteSomethingAsync(volume); // copy-before-write while pending
        }

        if ((await source.WaitForSnapshotAsync(started.Id)).State == SnapshotState.Completed)
        {
            Record($"snap crash-1 {started.Id} {hash}");
        }
    }
    else if (op < 72 && await PickAsync(source, StorageTier.Standard) is { } toCopy)
    {
        var copy = await target.CopySnapshotAsync(new CopySnapshotRequest("crash-1", toCopy.Id, tags, Encrypted: random.Next(3) == 0));
        if ((await target.WaitForSnapshotAsync(copy.Id)).State == SnapshotState.Completed && hashes.TryGetValue(toCopy.Id, out var hash))
        {
            Record($"snap crash-2 {copy.Id} {hash}");
        }
    }
    else if (op < 80 && await PickAsync(source, StorageTier.Standard) is { } toArchive)
    {
        await IgnoreIncorrectStateAsync(() => source.ArchiveSnapshotAsync(toArchive.Id));
    }
    else if (op < 85 && await PickAsync(source, StorageTier.Archive) is { } archived)
    {
        await source.RestoreSnapshotTierAsync(archived.Id, random.Next(2) == 0 ? null : 1);
    }
    else if (op < 93)
    {
        var region = random.Next(2) == 0 ? source : target;
        if (await PickAsync(region, null) is { } victim)
        {
            Record($"deleting {region.Region} {victim.Id}");
            await IgnoreIncorrectStateAsync(() => region.DeleteSnapshotAsync(victim.Id, force: true));
        }
    }
    else
    {
        await (random.Next(2) == 0 ? source : target).CollectGarbageAsync();
    }
}

async Task WriteSomethingAsync(string volume)
{
    var offset = (long)random.Next(16 * Block - 1);
    var length = (int)Math.Min(16L * Block - offset, random.Next(1, Block + Block / 2));
    var bytes = new byte[length];
    switch (random.Next(3))
    {
        case 0:
            random.NextBytes(bytes);
            break;
        case 1:
            shared.AsSpan(0, Math.Min(length, Block)).CopyTo(bytes);
            break;
    }

    await source.WriteAsync(volume, offset, bytes);
}

async Task<SnapshotInfo?> PickAsync(LocalRegion region, StorageTier? tier)
{
    var candidates = (await region.DescribeSnapshotsAsync()).Where(s => s.State == SnapshotState.Completed && (tier is null || s.Tier == tier)).ToList();
    return candidates.Count == 0 ? null : candidates[random.Next(candidates.Count)];
}

static async Task IgnoreIncorrectStateAsync(Func<Task> action)
{
    try
    {
        await action();
    }
    catch (ProviderException e) when (e.Kind == ProviderErrorKind.IncorrectState)
    {
        // in use by a copy, or archived meanwhile
    }
}
