using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Volumes;

/// <summary>
/// A read-only shared mapping of a volume's image for one snapshot build, so the build hashes and encodes blocks
/// straight from the page cache instead of first copying each into a buffer with pread (that copy was ~0.4 CPU-s of a
/// 2 GiB full snapshot on the bench machine). Only whole blocks inside the file are mapped; the build reads any other
/// block with pread. The engine never shortens an image (import refuses while a snapshot is pending, and volumes are
/// created at their full size), so a mapped block stays inside the file while the build runs. Each 8 MiB window is
/// dropped from this process once the build stored all its blocks (<see cref="Done"/>), so the process holds only the
/// windows in flight and its resident memory stays what it was with pread (the page cache is used the same either
/// way). Per window rather than per block: each drop interrupts the other core to flush its TLB.
/// </summary>
internal sealed unsafe partial class ImageMapping : IDisposable
{
    private const int MadviseDontNeed = 4; // MADV_DONTNEED (Linux): drops this process's page-table entries, not the page cache
    private const int WindowBlocks = 16;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;

    /// <summary>Per window: blocks of the build not done yet.</summary>
    private readonly int[] _pending;

    private ImageMapping(MemoryMappedFile file, MemoryMappedViewAccessor view, int blocks, IEnumerable<int> indexes)
    {
        _file = file;
        _view = view;
        Blocks = blocks;
        _pending = new int[(blocks + WindowBlocks - 1) / WindowBlocks];
        foreach (var index in indexes.Where(i => (uint)i < (uint)blocks))
        {
            _pending[index / WindowBlocks]++;
        }

        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _start = start + view.PointerOffset;
    }

    /// <summary>How many leading blocks of the volume are mapped.</summary>
    public int Blocks { get; }

    /// <summary>
    /// Maps the image's whole blocks for a build of <paramref name="indexes"/>; null when it has none or the system
    /// cannot map it (the build then uses pread).
    /// </summary>
    public static ImageMapping? TryCreate(VolumeRuntime volume, IReadOnlyCollection<int> indexes)
    {
        var blocks = (int)Math.Min(volume.BlockCount, RandomAccess.GetLength(volume.Image) / BlockCodec.BlockSize);
        if (blocks == 0)
        {
            return null;
        }

        var length = (long)blocks * BlockCodec.BlockSize;
        MemoryMappedFile? file = null;
        try
        {
            // capacity 0: the file's size (a read-only mapping may not be smaller); the view covers the whole blocks
            file = MemoryMappedFile.CreateFromFile(volume.Image, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: true);
            return new ImageMapping(file, file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read), blocks, indexes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            file?.Dispose();
            return null;
        }
    }

    /// <summary>The block as memory over the mapping; false when it is not mapped.</summary>
    public bool TryGetBlock(int index, out ReadOnlyMemory<byte> block)
    {
        if ((uint)index >= (uint)Blocks)
        {
            block = default;
            return false;
        }

        block = new MappedBlock(_start + (long)index * BlockCodec.BlockSize).Memory;
        return true;
    }

    /// <summary>The build is done with a block of its list (stored, or failed); drops its window once all are (Linux).</summary>
    public void Done(int index)
    {
        if ((uint)index >= (uint)Blocks || Interlocked.Decrement(ref _pending[index / WindowBlocks]) != 0 || !OperatingSystem.IsLinux())
        {
            return;
        }

        var first = index / WindowBlocks * WindowBlocks;
        var count = Math.Min(WindowBlocks, Blocks - first);
        _ = Madvise(_start + (long)first * BlockCodec.BlockSize, (nuint)count * BlockCodec.BlockSize, MadviseDontNeed); // advice only
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(byte* address, nuint length, int advice);

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>One mapped block as <see cref="Memory{T}"/> (valid while the mapping is).</summary>
    private sealed class MappedBlock(byte* start) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(start, BlockCodec.BlockSize);

        public override MemoryHandle Pin(int elementIndex = 0) => new(start + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
