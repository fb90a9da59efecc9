using Lifecycle.LocalEngine.Encryption;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// The standard-tier block store of a region: the in-memory copy of the catalog's block index, plus the pins and
/// in-flight packs that garbage collection must respect while snapshots, copies and restores are running.
/// <see cref="Gate"/> orders catalog commits that add blocks against GC's mark-and-sweep.
/// </summary>
internal sealed class BlockStore
{
    private readonly Dictionary<BlockId, BlockLocation> _index = [];
    private readonly Dictionary<BlockId, int> _pins = [];
    private readonly HashSet<string> _inFlightPacks = new(StringComparer.Ordinal);

    public BlockStore(string packDirectory) => PackDirectory = packDirectory;

    public string PackDirectory { get; }

    public object Gate { get; } = new();

    public int Count
    {
        get
        {
            lock (Gate)
            {
                return _index.Count;
            }
        }
    }

    public void Load(IEnumerable<(BlockId Id, BlockLocation Location)> entries)
    {
        lock (Gate)
        {
            foreach (var (id, location) in entries)
            {
                _index[id] = location;
            }
        }
    }

    /// <summary>Pins a block if it is stored, so GC keeps it until <see cref="Unpin"/>; false if absent.</summary>
    public bool TryPin(BlockId id)
    {
        lock (Gate)
        {
            if (!_index.ContainsKey(id))
            {
                return false;
            }

            _pins[id] = _pins.GetValueOrDefault(id) + 1;
            return true;
        }
    }

    public void Unpin(IEnumerable<BlockId> ids)
    {
        lock (Gate)
        {
            foreach (var id in ids)
            {
                if (_pins.TryGetValue(id, out var count))
                {
                    if (count <= 1)
                    {
                        _pins.Remove(id);
                    }
                    else
                    {
                        _pins[id] = count - 1;
                    }
                }
            }
        }
    }

    public bool TryGet(BlockId id, out BlockLocation location)
    {
        lock (Gate)
        {
            return _index.TryGetValue(id, out location);
        }
    }

    public bool Contains(BlockId id)
    {
        lock (Gate)
        {
            return _index.ContainsKey(id);
        }
    }

    public void StartPack(string packId)
    {
        lock (Gate)
        {
            _inFlightPacks.Add(packId);
        }
    }

    public void EndPacks(IEnumerable<string> packIds)
    {
        lock (Gate)
        {
            foreach (var id in packIds)
            {
                _inFlightPacks.Remove(id);
            }
        }
    }

    public bool IsInFlight(string packId)
    {
        lock (Gate)
        {
            return _inFlightPacks.Contains(packId);
        }
    }

    /// <summary>Call under <see cref="Gate"/> after the catalog committed these entries.</summary>
    public void AddCommittedUnderGate(IEnumerable<(BlockId Id, BlockLocation Location)> entries)
    {
        foreach (var (id, location) in entries)
        {
            _index.TryAdd(id, location);
        }
    }

    /// <summary>Snapshot of the index and pins, for GC and verify; call under <see cref="Gate"/>.</summary>
    public Dictionary<BlockId, BlockLocation> IndexUnderGate => _index;

    public IReadOnlyCollection<BlockId> PinnedUnderGate => _pins.Keys;

    public IReadOnlyCollection<string> InFlightUnderGate => _inFlightPacks;

    /// <summary>Reads a stored payload as it is (compressed and/or encrypted), retrying once if GC moved it.</summary>
    public (BlockLocation Location, int Length) ReadPayload(BlockId id, Span<byte> destination)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (!TryGet(id, out var location))
            {
                throw new InvalidDataException($"block {id} is not in the store");
            }

            try
            {
                PackFile.ReadPayload(PackDirectory, location, destination);
                return (location, location.Length);
            }
            catch (FileNotFoundException) when (attempt < 3)
            {
                // GC repacked it between lookup and open; the index now points at the new pack.
            }
        }
    }

    /// <summary>
    /// Reads and decodes a block after checking its record header. With <paramref name="verify"/> the content is
    /// proven to be the block's: re-hashed for plain raw or Brotli payloads; an encrypted payload's AES-GCM tag (bound
    /// to the id) or a zstd or LZ4 payload's checksum already proves it while decoding (verify re-hashes all).
    /// </summary>
    public void ReadBlock(BlockId id, BlockKey? key, Span<byte> block, bool verify)
    {
        var record = System.Buffers.ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize + PackFile.HeaderSize);
        var scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
        try
        {
            var t = StageClock.Start();
            var location = ReadRecord(id, record);
            var payload = record.AsSpan(PackFile.HeaderSize, location.Length);
            StageClock.Stop("store.read-payload", t);
            t = StageClock.Start();
            BlockCodec.Decode(payload, location.Encoding, id, key, block, scratch);
            StageClock.Stop("store.decode", t);
            t = StageClock.Start();
            var mismatch = verify && !BlockCodec.IsSelfChecking(location.Encoding) && BlockCodec.ComputeId(block, key) != id;
            StageClock.Stop("store.verify-hash", t);
            if (mismatch)
            {
                throw new InvalidDataException($"block {id} in pack {location.PackId} does not match its id");
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(record);
            System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private BlockLocation ReadRecord(BlockId id, Span<byte> destination)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (!TryGet(id, out var location))
            {
                throw new InvalidDataException($"block {id} is not in the store");
            }

            try
            {
                PackFile.ReadRecord(PackDirectory, id, location, destination);
                return location;
            }
            catch (FileNotFoundException) when (attempt < 3)
            {
                // GC repacked it between lookup and open; the index now points at the new pack.
            }
        }
    }
}
