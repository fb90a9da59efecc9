using Lifecycle.LocalEngine.Encryption;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// The standard-tier block store of a region: the in-memory copy of the catalog's block index, plus the pins and
/// in-flight packs that garbage collection must respect while snapshots, copies and restores are running.
/// Two locks:
/// <list type="bullet">
/// <item><see cref="Gate"/> orders the catalog transactions that add, move or remove blocks (a snapshot's or copy's
/// commit, GC's sweep, repack, the orphan sweep, verify's view) against each other, and is held across them.</item>
/// <item>A private lock guards the index, the pins and the in-flight packs, for moments only and never across I/O.
/// Pins and lookups take only this one, so a create pinning its base's blocks never waits for another snapshot's
/// catalog commit (it did: under a fire of 1,000 incremental creates, workers queued behind the builds' commits).</item>
/// </list>
/// The index changes only under both locks (so a <see cref="Gate"/> holder may read it alone); the pins change under
/// the private lock only, so GC decides what is dead and removes it in one step under it
/// (<see cref="RemoveDeadUnderGate"/>): a block is either pinned before that step and kept, or absent after it and
/// not pinnable.
/// </summary>
internal sealed class BlockStore
{
    private readonly Dictionary<BlockId, BlockLocation> _index = [];
    private readonly Dictionary<BlockId, int> _pins = [];
    private readonly HashSet<string> _inFlightPacks = new(StringComparer.Ordinal);
    private readonly Lock _sync = new();

    public BlockStore(string packDirectory) => PackDirectory = packDirectory;

    public string PackDirectory { get; }

    /// <summary>Held across the catalog transactions that add, move or remove blocks (see the class summary).</summary>
    public object Gate { get; } = new();

    public int Count
    {
        get
        {
            lock (_sync)
            {
                return _index.Count;
            }
        }
    }

    public void Load(IEnumerable<(BlockId Id, BlockLocation Location)> entries)
    {
        lock (Gate)
        {
            lock (_sync)
            {
                foreach (var (id, location) in entries)
                {
                    _index[id] = location;
                }
            }
        }
    }

    /// <summary>Pins a block if it is stored, so GC keeps it until <see cref="Unpin"/>; false if absent.</summary>
    public bool TryPin(BlockId id)
    {
        lock (_sync)
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
        lock (_sync)
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
        lock (_sync)
        {
            return _index.TryGetValue(id, out location);
        }
    }

    public bool Contains(BlockId id)
    {
        lock (_sync)
        {
            return _index.ContainsKey(id);
        }
    }

    public void StartPack(string packId)
    {
        lock (_sync)
        {
            _inFlightPacks.Add(packId);
        }
    }

    public void EndPacks(IEnumerable<string> packIds)
    {
        lock (_sync)
        {
            foreach (var id in packIds)
            {
                _inFlightPacks.Remove(id);
            }
        }
    }

    public bool IsInFlight(string packId)
    {
        lock (_sync)
        {
            return _inFlightPacks.Contains(packId);
        }
    }

    /// <summary>Call under <see cref="Gate"/> after the catalog committed these entries.</summary>
    public void AddCommittedUnderGate(IEnumerable<(BlockId Id, BlockLocation Location)> entries)
    {
        lock (_sync)
        {
            foreach (var (id, location) in entries)
            {
                _index.TryAdd(id, location);
            }
        }
    }

    /// <summary>
    /// The index, for a <see cref="Gate"/> holder to read (nothing changes it without the gate). Changes go through
    /// <see cref="AddCommittedUnderGate"/>, <see cref="RemoveDeadUnderGate"/> and <see cref="MoveUnderGate"/>.
    /// </summary>
    public IReadOnlyDictionary<BlockId, BlockLocation> IndexUnderGate => _index;

    /// <summary>
    /// Under <see cref="Gate"/>: removes from the index, in one step with respect to pins, every block that is neither
    /// <paramref name="live"/> nor pinned, and returns them (the caller deletes them from the catalog next, and puts
    /// them back with <see cref="AddCommittedUnderGate"/> should that fail).
    /// </summary>
    public List<(BlockId Id, BlockLocation Location)> RemoveDeadUnderGate(HashSet<BlockId> live)
    {
        lock (_sync)
        {
            var dead = _index.Where(e => !live.Contains(e.Key) && !_pins.ContainsKey(e.Key)).Select(e => (e.Key, e.Value)).ToList();
            foreach (var (id, _) in dead)
            {
                _index.Remove(id);
            }

            return dead;
        }
    }

    /// <summary>Under <see cref="Gate"/>, after the catalog moved it: a block now at <paramref name="location"/> unless it left <paramref name="oldPack"/> meanwhile.</summary>
    public void MoveUnderGate(BlockId id, string oldPack, BlockLocation location)
    {
        lock (_sync)
        {
            if (_index.TryGetValue(id, out var current) && current.PackId == oldPack)
            {
                _index[id] = location;
            }
        }
    }

    /// <summary>The pinned blocks now (for verify's report).</summary>
    public HashSet<BlockId> PinnedNow()
    {
        lock (_sync)
        {
            return [.. _pins.Keys];
        }
    }

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
