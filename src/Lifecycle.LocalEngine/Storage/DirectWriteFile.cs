using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// A file written with O_DIRECT (Linux): whole aligned blocks go from our buffer to the device without passing
/// through the page cache. For a restore this saves the kernel's page allocation and copy (the largest CPU cost of
/// writing 1.5 GiB here) and turns the final fsync from "write everything now" into a metadata flush, and the
/// restored image does not push the store's packs out of the cache. Where O_DIRECT is not available (another OS,
/// a file system that refuses it) <see cref="TryCreate"/> returns null and the caller writes through the cache.
/// </summary>
internal static partial class DirectWriteFile
{
    /// <summary>Buffers handed to a direct write must be aligned to the device's logical block; 4 KiB covers all.</summary>
    public const int Alignment = 4096;

    private const int WriteOnly = 0x1, Create = 0x40, Truncate = 0x200, CloseOnExec = 0x80000;

    /// <summary>Creates (or truncates) <paramref name="path"/> for direct writes; null when unsupported here.</summary>
    public static SafeFileHandle? TryCreate(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var direct = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000,
            Architecture.Arm64 or Architecture.Arm => 0x10000,
            _ => 0,
        };
        if (direct == 0)
        {
            return null;
        }

        var fd = Open(path, WriteOnly | Create | Truncate | CloseOnExec | direct, 0x1A4 /* 0644 */);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Creates <paramref name="path"/> (which must not exist) for direct writes; null when direct I/O is unsupported
    /// here (the caller writes through the cache). An existing file throws <see cref="IOException"/>.
    /// </summary>
    public static SafeFileHandle? TryCreateNew(string path)
    {
        var direct = DirectFlag;
        if (direct == 0)
        {
            return null;
        }

        var fd = Open(path, WriteOnly | Create | Exclusive | CloseOnExec | direct, 0x1A4 /* 0644 */);
        if (fd < 0 && Marshal.GetLastPInvokeError() == ErrorExists)
        {
            throw new IOException($"the file '{path}' already exists");
        }

        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Opens <paramref name="path"/> for direct reads; null when direct I/O is unsupported here or refused by the
    /// file system (the caller reads through the cache). A missing file throws <see cref="FileNotFoundException"/>.
    /// </summary>
    public static SafeFileHandle? TryOpenRead(string path)
    {
        var direct = DirectFlag;
        if (direct == 0)
        {
            return null;
        }

        var fd = Open(path, ReadOnly | CloseOnExec | direct, 0);
        if (fd < 0 && Marshal.GetLastPInvokeError() == ErrorNoEntry)
        {
            throw new FileNotFoundException($"could not find file '{path}'", path);
        }

        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    private const int ReadOnly = 0x0, Exclusive = 0x80, ErrorNoEntry = 2, ErrorExists = 17;

    private static int DirectFlag => !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);
}

/// <summary>Block-sized native buffers aligned for direct I/O, reused across the workers of one operation.</summary>
internal sealed unsafe class AlignedBlockBuffers : IDisposable
{
    private readonly int _size;
    private readonly ConcurrentBag<nint> _free = [];
    private readonly ConcurrentBag<nint> _all = [];

    public AlignedBlockBuffers(int size) => _size = size;

    public nint Rent()
    {
        if (_free.TryTake(out var buffer))
        {
            return buffer;
        }

        buffer = (nint)NativeMemory.AlignedAlloc((nuint)_size, DirectWriteFile.Alignment);
        _all.Add(buffer);
        return buffer;
    }

    public void Return(nint buffer) => _free.Add(buffer);

    public Span<byte> AsSpan(nint buffer) => new((void*)buffer, _size);

    public void Dispose()
    {
        foreach (var buffer in _all)
        {
            NativeMemory.AlignedFree((void*)buffer);
        }

        _all.Clear();
        _free.Clear();
    }
}
