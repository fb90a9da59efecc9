using System.Buffers;
using System.IO.MemoryMappedFiles;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Volumes;

/// <summary>
/// A read-only shared mapping of a volume's image for one snapshot build, so the build hashes and encodes blocks
/// straight from the page cache instead of first copying each into a buffer with pread (that copy was ~0.4 CPU-s of a
/// 2 GiB full snapshot on the bench machine). Only whole blocks inside the file are mapped; the build reads any other
/// block with pread. The engine never shortens an image (import refuses while a snapshot is pending, and volumes are
/// created at their full size), so a mapped block stays inside the file while the build runs.
/// </summary>
internal sealed unsafe class ImageMapping : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;

    private ImageMapping(MemoryMappedFile file, MemoryMappedViewAccessor view, int blocks)
    {
        _file = file;
        _view = view;
        Blocks = blocks;
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _start = start + view.PointerOffset;
    }

    /// <summary>How many leading blocks of the volume are mapped.</summary>
    public int Blocks { get; }

    /// <summary>Maps the image's whole blocks; null when it has none or the system cannot map it (the build then uses pread).</summary>
    public static ImageMapping? TryCreate(VolumeRuntime volume)
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
            return new ImageMapping(file, file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read), blocks);
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
