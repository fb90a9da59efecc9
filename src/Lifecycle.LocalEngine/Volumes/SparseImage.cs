using System.Runtime.InteropServices;
using Lifecycle.LocalEngine.Storage;
using Microsoft.Win32.SafeHandles;

namespace Lifecycle.LocalEngine.Volumes;

/// <summary>
/// Volume images are sparse files: a whole 512 KiB block written as zeros is a hole (punched), not 512 KiB of
/// allocated zeros, like a thin-provisioned disk. A snapshot then asks the file system which blocks hold data
/// (SEEK_DATA/SEEK_HOLE) and treats the others as zero without reading them, so the first snapshot of a large, mostly
/// empty volume reads only what was written. Linux only; elsewhere, or where the file system refuses, blocks are
/// written and read as before.
/// </summary>
internal static partial class SparseImage
{
    private const int SeekData = 3;         // SEEK_DATA (Linux)
    private const int SeekHole = 4;         // SEEK_HOLE (Linux)
    private const int PunchHoleKeepSize = 3; // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    private const int NoSuchDataErrno = 6;   // ENXIO: no data at or after the offset

    /// <summary>
    /// The blocks of the first <paramref name="blockCount"/> that hold any data (any byte not in a hole); blocks past
    /// the end of the file hold none. Null when the system cannot tell (not Linux, or the file system has no
    /// SEEK_DATA), in which case every block must be read.
    /// </summary>
    public static BlockBitmap? DataBlocks(SafeFileHandle image, int blockCount)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var fd = (int)image.DangerousGetHandle();
        var end = Math.Min(RandomAccess.GetLength(image), (long)blockCount * BlockCodec.BlockSize);
        var data = new BlockBitmap(blockCount);
        for (long position = 0; position < end;)
        {
            var start = Lseek(fd, position, SeekData);
            if (start < 0)
            {
                return Marshal.GetLastPInvokeError() == NoSuchDataErrno ? data : null;
            }

            if (start >= end)
            {
                break;
            }

            var hole = Lseek(fd, start, SeekHole);
            if (hole < 0)
            {
                return null;
            }

            hole = Math.Min(hole, end);
            for (var index = (int)(start / BlockCodec.BlockSize); index <= (int)((hole - 1) / BlockCodec.BlockSize); index++)
            {
                data[index] = true;
            }

            position = hole;
        }

        return data;
    }

    /// <summary>
    /// The blocks set in <paramref name="blocks"/> that are holes (no byte of data; past the end of the file too); null
    /// when the system cannot tell. Few blocks (an incremental's changed ones) are probed one by one, so the cost
    /// follows the blocks asked about, not how fragmented the image is; many are answered by one walk over the extents.
    /// </summary>
    public static List<int>? Holes(SafeFileHandle image, BlockBitmap blocks)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        if (blocks.PopCount() > blocks.Count / 16)
        {
            return DataBlocks(image, blocks.Count) is { } data ? [.. blocks.SetIndexes().Where(i => !data[i])] : null;
        }

        var fd = (int)image.DangerousGetHandle();
        var holes = new List<int>();
        foreach (var index in blocks.SetIndexes())
        {
            var start = (long)index * BlockCodec.BlockSize;
            var data = Lseek(fd, start, SeekData);
            if (data < 0 && Marshal.GetLastPInvokeError() != NoSuchDataErrno)
            {
                return null;
            }

            if (data < 0 || data >= start + BlockCodec.BlockSize)
            {
                holes.Add(index);
            }
        }

        return holes;
    }

    /// <summary>
    /// Makes <paramref name="length"/> bytes at <paramref name="offset"/> read as zeros by punching a hole; false when
    /// the system or file system cannot (the caller then writes zeros). Not durable until the file is flushed.
    /// </summary>
    public static bool TryPunchHole(SafeFileHandle image, long offset, long length) =>
        OperatingSystem.IsLinux() && Fallocate((int)image.DangerousGetHandle(), PunchHoleKeepSize, offset, length) == 0;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);
}
