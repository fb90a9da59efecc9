using Lifecycle.LocalEngine.Storage;
using Microsoft.Win32.SafeHandles;

namespace Lifecycle.LocalEngine.Volumes;

/// <summary>
/// The live state of one volume in this process: its image file, the lock that orders writes against snapshot
/// reads, the changed-block map relative to the base snapshot, the copy-before-write sessions of pending
/// snapshots, and (for a volume created from a snapshot without fast restore) which blocks are loaded yet.
/// Every member is used under <see cref="Gate"/>.
/// </summary>
internal sealed class VolumeRuntime : IDisposable
{
    public VolumeRuntime(string id, long sizeBytes, string imagePath, string changedBlockPath, string hydrationPath)
    {
        Id = id;
        SizeBytes = sizeBytes;
        BlockCount = checked((int)(sizeBytes / BlockCodec.BlockSize));
        ImagePath = imagePath;
        ChangedBlockPath = changedBlockPath;
        HydrationPath = hydrationPath;
        ChangedSinceBase = new BlockBitmap(BlockCount);
    }

    public string Id { get; }

    public long SizeBytes { get; }

    public int BlockCount { get; }

    public string ImagePath { get; }

    public string ChangedBlockPath { get; }

    public string HydrationPath { get; }

    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The last completed snapshot the changed-block map is relative to; null means "hash everything".</summary>
    public string? BaseSnapshotId { get; set; }

    public long BaseSequence { get; set; } = -1;

    /// <summary>False after a crash or an outside change: the next snapshot re-hashes every block.</summary>
    public bool Trusted { get; set; }

    public BlockBitmap ChangedSinceBase { get; set; }

    /// <summary>True once the on-disk map says "not clean" (written before the first image write of this process).</summary>
    public bool DirtyMarkerWritten { get; set; }

    /// <summary>Blocks written since each pending snapshot started (becomes the map when it completes).</summary>
    public Dictionary<string, BlockBitmap> ChangedSincePending { get; } = new(StringComparer.Ordinal);

    public List<CaptureSession> Sessions { get; } = [];

    private TaskCompletionSource? _readsEnded;

    /// <summary>
    /// Null when no pending snapshot is reading a block of [<paramref name="first"/>, <paramref name="last"/>] from the
    /// image; else a task that completes when one of those reads ends (then look again).
    /// </summary>
    public Task? ReadsInProgress(int first, int last)
    {
        foreach (var session in Sessions)
        {
            if (session.Reading.Count == 0)
            {
                continue;
            }

            for (var index = first; index <= last; index++)
            {
                if (session.Reading.Contains(index))
                {
                    return (_readsEnded ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
            }
        }

        return null;
    }

    /// <summary>Wakes writers waiting in <see cref="ReadsInProgress"/>.</summary>
    public void SignalReadsEnded()
    {
        var waiting = _readsEnded;
        _readsEnded = null;
        waiting?.TrySetResult();
    }

    /// <summary>For a lazily loading volume: the source manifest and the blocks already loaded into the image.</summary>
    public Manifest? SourceManifest { get; set; }

    public string? SourceKeyId { get; set; }

    public BlockBitmap? Hydrated { get; set; }

    public bool Deleted { get; set; }

    private SafeFileHandle? _image;

    public SafeFileHandle Image => _image ??= File.OpenHandle(ImagePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);

    /// <summary>Reads one block of the image; a short image (a sparse tail) reads as zeros.</summary>
    public void ReadImageBlock(int index, Span<byte> block)
    {
        // Only the tail a short read leaves is cleared: clearing every 512 KiB block before reading it was 2 GiB of
        // memset per full snapshot of the bench image (ingest.read 0.74-1.29 s of thread time with it, 0.68-0.70 without).
        var read = 0;
        long offset = (long)index * BlockCodec.BlockSize;
        while (read < block.Length)
        {
            var n = RandomAccess.Read(Image, block[read..], offset + read);
            if (n == 0)
            {
                block[read..].Clear(); // past the end of the image file: zeros
                break;
            }

            read += n;
        }
    }

    public void CloseImage()
    {
        _image?.Dispose();
        _image = null;
    }

    public void Dispose()
    {
        CloseImage();
        Gate.Dispose();
    }
}

/// <summary>
/// Copy-before-write state of one pending snapshot on one volume: the blocks it still has to read, the original
/// contents of blocks that a write overwrote before the snapshot read them, and the blocks it is reading from the
/// image right now (writes to those wait until they are stored).
/// </summary>
internal sealed class CaptureSession
{
    public CaptureSession(string snapshotId, BlockBitmap unread)
    {
        SnapshotId = snapshotId;
        Unread = unread;
    }

    public string SnapshotId { get; }

    public BlockBitmap Unread { get; }

    public Dictionary<int, byte[]> Captured { get; } = [];

    public HashSet<int> Reading { get; } = [];

    /// <summary>Blocks of the snapshot that were holes of the image at its instant: zero, and never read.</summary>
    public IReadOnlyList<int> Holes { get; init; } = [];
}
