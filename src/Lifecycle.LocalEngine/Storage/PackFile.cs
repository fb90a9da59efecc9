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

    /// <summary>
    /// Reads a whole record (header and payload) at its location into <paramref name="destination"/> and checks that
    /// the header names this block, encoding and length, so a misplaced index entry or a record overwritten by
    /// another is caught even when the payload itself decodes. Returns the payload's span within the destination.
    /// </summary>
    public static Span<byte> ReadRecord(string directory, BlockId id, BlockLocation location, Span<byte> destination)
    {
        using var handle = File.OpenHandle(PathOf(directory, location.PackId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var record = destination[..(HeaderSize + location.Length)];
        ReadExactly(handle, record, location.Offset - HeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Magic
            || record[4] != (byte)location.Encoding
            || BlockId.Read(record[8..]) != id
            || BinaryPrimitives.ReadInt32LittleEndian(record[40..]) != location.Length)
        {
            throw new InvalidDataException($"block {id}: the record at {location.PackId}@{location.Offset} does not belong to it (damaged header or index)");
        }

        return record[HeaderSize..];
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
/// Appends records to new packs of one store directory, rolling over at ~64 MiB. Packs stay temporary until they
/// are sealed: a full pack is fsynced, renamed and its directory flushed in the background while later records go
/// to the next pack; <see cref="Finish"/> seals the last one and waits for all. The caller then records them in the
/// catalog (the catalog commits last). Thread-safe: a record's space is reserved under a lock and its bytes are
/// written with positioned writes outside it, so workers copy into the page cache in parallel.
/// </summary>
internal sealed class PackWriter : IDisposable
{
    private readonly string _directory;
    private readonly Action<string>? _onPackStarted;
    private readonly object _gate = new();
    private readonly List<(string Id, long Size)> _finished = [];
    private readonly List<Task> _sealing = [];
    private readonly List<string> _started = [];
    private OpenPack? _current;
    private bool _abandoned;

    private sealed class OpenPack(string id, SafeFileHandle handle)
    {
        public string Id { get; } = id;
        public SafeFileHandle Handle { get; } = handle;
        public long Reserved;
        public int Writers;
        public bool Sealed;
    }

    /// <param name="onPackStarted">Told each new pack id before it is written, so GC leaves it alone.</param>
    public PackWriter(string directory, Action<string>? onPackStarted = null)
    {
        _directory = directory;
        _onPackStarted = onPackStarted;
    }

    public long BytesWritten { get; private set; }

    public BlockLocation Append(BlockId id, BlockEncoding encoding, string? keyId, ReadOnlySpan<byte> payload)
    {
        OpenPack pack;
        long start;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_abandoned, this);
            if (_current is null || _current.Reserved + PackFile.HeaderSize + payload.Length > PackFile.TargetSize)
            {
                Roll();
            }

            pack = _current!;
            start = pack.Reserved;
            pack.Reserved += PackFile.HeaderSize + payload.Length;
            pack.Writers++;
            BytesWritten += PackFile.HeaderSize + payload.Length;
        }

        try
        {
            Span<byte> header = stackalloc byte[PackFile.HeaderSize];
            PackFile.WriteHeader(header, id, encoding, payload.Length);
            RandomAccess.Write(pack.Handle, header, start);
            RandomAccess.Write(pack.Handle, payload, start + PackFile.HeaderSize);
        }
        finally
        {
            lock (_gate)
            {
                pack.Writers--;
                SealIfDone(pack);
            }
        }

        return new BlockLocation(pack.Id, start + PackFile.HeaderSize, payload.Length, encoding, keyId);
    }

    /// <summary>Flushes and publishes every pack; returns their ids and sizes.</summary>
    public IReadOnlyList<(string Id, long Size)> Finish()
    {
        Task[] sealing;
        lock (_gate)
        {
            if (_abandoned)
            {
                return [];
            }

            if (_current is not null)
            {
                _current.Sealed = true;
                SealIfDone(_current);
                _current = null;
            }

            sealing = [.. _sealing];
        }

        Task.WhenAll(sealing).GetAwaiter().GetResult(); // rethrows the first IOException as it is
        lock (_gate)
        {
            return [.. _finished];
        }
    }

    /// <summary>Deletes what was written (published or not): used when the operation fails before its commit.</summary>
    public void Abandon()
    {
        Task[] sealing;
        string[] started;
        lock (_gate)
        {
            _abandoned = true;
            if (_current is not null)
            {
                _current.Sealed = true;
                if (_current.Writers == 0)
                {
                    _current.Handle.Dispose();
                }

                _current = null;
            }

            sealing = [.. _sealing];
            started = [.. _started];
            _finished.Clear();
        }

        try
        {
            Task.WaitAll(sealing);
        }
        catch (AggregateException)
        {
            // the operation already failed; what matters now is that none of its packs stays behind
        }

        foreach (var id in started)
        {
            var path = PackFile.PathOf(_directory, id);
            File.Delete(path + DurableFile.TempSuffix);
            File.Delete(path);
        }
    }

    private void Roll()
    {
        if (_current is not null)
        {
            _current.Sealed = true;
            SealIfDone(_current);
        }

        var id = PackFile.NewId();
        _onPackStarted?.Invoke(id);
        _started.Add(id);
        _current = new OpenPack(id, File.OpenHandle(PackFile.PathOf(_directory, id) + DurableFile.TempSuffix, FileMode.CreateNew,
            FileAccess.Write, FileShare.Read));
    }

    /// <summary>Under the lock: once a sealed pack has no writer left, publish it in the background.</summary>
    private void SealIfDone(OpenPack pack)
    {
        if (!pack.Sealed || pack.Writers > 0 || _abandoned)
        {
            return;
        }

        _sealing.Add(Task.Run(() =>
        {
            using (pack.Handle)
            {
                RandomAccess.FlushToDisk(pack.Handle);
            }

            var path = PackFile.PathOf(_directory, pack.Id);
            File.Move(path + DurableFile.TempSuffix, path);
            DurableFile.FlushDirectory(_directory);
            lock (_gate)
            {
                _finished.Add((pack.Id, pack.Reserved));
            }
        }));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_current is not null && _current.Writers == 0)
            {
                _current.Handle.Dispose();
            }

            _current = null;
        }

        try
        {
            Task.WaitAll([.. _sealing]);
        }
        catch (AggregateException)
        {
            // reported by Finish; Dispose only releases handles
        }
    }
}
