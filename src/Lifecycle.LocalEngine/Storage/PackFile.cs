using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>Where a stored block lives: pack, payload offset and length, and how the payload is encoded.</summary>
internal readonly record struct BlockLocation(string PackId, long Offset, int Length, BlockEncoding Encoding, string? KeyId);

/// <summary>
/// Pack files: append-only files of self-describing block records, published once (temp, fsync, rename, directory
/// fsync) and never modified. A record is a 44-byte header (magic, encoding, id, payload length) and the payload, so
/// a pack can be checked or rebuilt without the catalog.
/// </summary>
internal static class PackFile
{
    public const int HeaderSize = 44;
    public const uint Magic = 0x3142434C; // "LCB1"
    public const long TargetSize = 64L * 1024 * 1024;
    public const string Extension = ".pack";

    public static string PathOf(string directory, string packId) => Path.Combine(directory, packId + Extension);

    public static string NewId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(10));

    public static void WriteHeader(Span<byte> header, BlockId id, BlockEncoding encoding, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = (byte)encoding;
        header[5] = header[6] = header[7] = 0;
        id.Write(header[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[40..], payloadLength);
    }

    /// <summary>Reads a record's payload at its location into <paramref name="destination"/>.</summary>
    public static void ReadPayload(string directory, BlockLocation location, Span<byte> destination)
    {
        using var handle = File.OpenHandle(PathOf(directory, location.PackId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        ReadExactly(handle, destination[..location.Length], location.Offset);
    }

    public static void ReadExactly(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var done = 0;
        while (done < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[done..], offset + done);
            if (read == 0)
            {
                throw new InvalidDataException($"unexpected end of file at offset {offset + done}");
            }

            done += read;
        }
    }
}

/// <summary>
/// Appends records to new packs of one store directory, rolling over at ~64 MiB. Packs stay temporary until
/// <see cref="Finish"/> publishes them; the caller then records them in the catalog (the catalog commits last).
/// Thread-safe.
/// </summary>
internal sealed class PackWriter : IDisposable
{
    private readonly string _directory;
    private readonly Action<string>? _onPackStarted;
    private readonly object _gate = new();
    private readonly List<(string Id, long Size)> _finished = [];
    private FileStream? _current;
    private string? _currentId;
    private readonly byte[] _header = new byte[PackFile.HeaderSize];

    /// <param name="onPackStarted">Told each new pack id before it is written, so GC leaves it alone.</param>
    public PackWriter(string directory, Action<string>? onPackStarted = null)
    {
        _directory = directory;
        _onPackStarted = onPackStarted;
    }

    public long BytesWritten { get; private set; }

    public BlockLocation Append(BlockId id, BlockEncoding encoding, string? keyId, ReadOnlySpan<byte> payload)
    {
        lock (_gate)
        {
            if (_current is null || _current.Position + PackFile.HeaderSize + payload.Length > PackFile.TargetSize)
            {
                Roll();
            }

            PackFile.WriteHeader(_header, id, encoding, payload.Length);
            _current!.Write(_header);
            var offset = _current.Position;
            _current.Write(payload);
            BytesWritten += PackFile.HeaderSize + payload.Length;
            return new BlockLocation(_currentId!, offset, payload.Length, encoding, keyId);
        }
    }

    /// <summary>Flushes and publishes every pack; returns their ids and sizes.</summary>
    public IReadOnlyList<(string Id, long Size)> Finish()
    {
        lock (_gate)
        {
            Close();
            return [.. _finished];
        }
    }

    /// <summary>Deletes what was written (published or not): used when the operation fails before its commit.</summary>
    public void Abandon()
    {
        lock (_gate)
        {
            if (_current is not null)
            {
                _current.Dispose();
                File.Delete(PackFile.PathOf(_directory, _currentId!) + DurableFile.TempSuffix);
                _current = null;
            }

            foreach (var (id, _) in _finished)
            {
                File.Delete(PackFile.PathOf(_directory, id));
            }

            _finished.Clear();
        }
    }

    private void Roll()
    {
        Close();
        _currentId = PackFile.NewId();
        _onPackStarted?.Invoke(_currentId);
        _current = new FileStream(PackFile.PathOf(_directory, _currentId) + DurableFile.TempSuffix, FileMode.CreateNew,
            FileAccess.Write, FileShare.Read, bufferSize: 1 << 20);
    }

    private void Close()
    {
        if (_current is null)
        {
            return;
        }

        var size = _current.Position;
        _current.Flush(flushToDisk: true);
        _current.Dispose();
        _current = null;
        var path = PackFile.PathOf(_directory, _currentId!);
        File.Move(path + DurableFile.TempSuffix, path);
        DurableFile.FlushDirectory(_directory);
        _finished.Add((_currentId!, size));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _current?.Dispose();
            _current = null;
        }
    }
}
