using System.Buffers;
using Dapper;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Encryption;
using Microsoft.Data.Sqlite;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// Stores blocks into a region's standard store for one operation (snapshot, copy, tier restore): names each block,
/// skips zeros, deduplicates against the store (pinning what it reuses so GC keeps it) and against itself, encodes
/// new blocks into fresh packs, and finally commits packs, block index and the caller's catalog changes in one
/// transaction. Thread-safe; <see cref="RunAsync"/> spreads hashing and compression over the cores.
/// </summary>
internal sealed class BlockIngest : IDisposable
{
    private readonly BlockStore _store;
    private readonly PackWriter _writer;
    private readonly object _gate = new();
    private readonly HashSet<BlockId> _pinned = [];
    private readonly HashSet<BlockId> _claimed = [];
    private readonly List<(BlockId Id, BlockLocation Location)> _added = [];
    private readonly List<string> _packs = [];
    private bool _finished;

    public BlockIngest(BlockStore store, BlockKey? key)
    {
        _store = store;
        Key = key;
        _writer = new PackWriter(store.PackDirectory, id =>
        {
            store.StartPack(id);
            lock (_gate)
            {
                _packs.Add(id);
            }
        });
    }

    public BlockKey? Key { get; }

    /// <summary>Bytes of new blocks written (payload + record headers).</summary>
    public long StoredBytes => _writer.BytesWritten;

    public int NewBlocks
    {
        get
        {
            lock (_gate)
            {
                return _added.Count;
            }
        }
    }

    /// <summary>Pins blocks the result will reference without re-reading them (an incremental's base); false if one is gone.</summary>
    public bool TryPinExisting(IEnumerable<BlockId> ids)
    {
        foreach (var id in ids.Where(i => !i.IsZero).Distinct())
        {
            if (!Pin(id))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Adds one plaintext block; returns its id (zero id for a zero block).</summary>
    public BlockId Add(ReadOnlySpan<byte> block, byte[] encodeBuffer, byte[] scratch)
    {
        var t = StageClock.Start();
        if (BlockCodec.IsZero(block))
        {
            StageClock.Stop("ingest.zero-check", t);
            return BlockId.Zero;
        }

        StageClock.Stop("ingest.zero-check", t);
        t = StageClock.Start();
        var id = BlockCodec.ComputeId(block, Key);
        StageClock.Stop("ingest.hash", t);
        t = StageClock.Start();
        var claimed = Claim(id);
        StageClock.Stop("ingest.claim", t);
        if (!claimed)
        {
            return id;
        }

        t = StageClock.Start();
        var payload = BlockCodec.Encode(block, id, Key, encodeBuffer, scratch, out var encoding);
        StageClock.Stop("ingest.encode", t);
        t = StageClock.Start();
        Record(id, _writer.Append(id, encoding, Key?.Id, payload));
        StageClock.Stop("ingest.pack-append", t);
        return id;
    }

    /// <summary>Stores a block already encoded (under <paramref name="keyId"/>), after the caller won <see cref="Claim"/> for it.</summary>
    public void AddClaimedEncoded(BlockId id, BlockEncoding encoding, string? keyId, ReadOnlySpan<byte> payload) =>
        Record(id, _writer.Append(id, encoding, keyId, payload));

    /// <summary>True when the caller must store the block; false when it is already stored or being stored.</summary>
    public bool Claim(BlockId id)
    {
        lock (_gate)
        {
            if (_pinned.Contains(id) || _claimed.Contains(id))
            {
                return false;
            }
        }

        if (Pin(id))
        {
            return false;
        }

        lock (_gate)
        {
            return _claimed.Add(id);
        }
    }

    private bool Pin(BlockId id)
    {
        lock (_gate)
        {
            if (_pinned.Contains(id))
            {
                return true;
            }
        }

        if (!_store.TryPin(id))
        {
            return false;
        }

        lock (_gate)
        {
            if (!_pinned.Add(id))
            {
                _store.Unpin([id]);
            }
        }

        return true;
    }

    private void Record(BlockId id, BlockLocation location)
    {
        lock (_gate)
        {
            _added.Add((id, location));
        }
    }

    /// <summary>
    /// Publishes the packs, then in one catalog transaction records them, the new blocks and whatever
    /// <paramref name="commit"/> writes (the snapshot row); only then the blocks become visible to readers.
    /// </summary>
    public void Commit(RegionCatalog catalog, Action<SqliteConnection, SqliteTransaction> commit)
    {
        var t = StageClock.Start();
        var packs = _writer.Finish();
        StageClock.Stop("commit.publish-packs", t);
        t = StageClock.Start();
        lock (_store.Gate)
        {
            catalog.Write((c, tx) =>
            {
                foreach (var (packId, size) in packs)
                {
                    c.Execute("INSERT INTO packs(id, store, size) VALUES (@packId, 'standard', @size)", new { packId, size }, tx);
                }

                foreach (var (id, location) in _added)
                {
                    c.Execute("INSERT OR IGNORE INTO blocks(id, pack_id, offset, length, encoding, key_id) VALUES (@id, @pack, @offset, @length, @encoding, @key)",
                        new { id = id.ToArray(), pack = location.PackId, offset = location.Offset, length = location.Length, encoding = (int)location.Encoding, key = location.KeyId }, tx);
                }

                commit(c, tx);
            });
            _store.AddCommittedUnderGate(_added);
        }

        StageClock.Stop("commit.catalog", t);

        _finished = true;
        Release();
    }

    /// <summary>Drops everything written (the operation failed before its commit).</summary>
    public void Abandon()
    {
        if (!_finished)
        {
            _writer.Abandon();
            _finished = true;
        }

        Release();
    }

    private void Release()
    {
        lock (_gate)
        {
            _store.Unpin(_pinned);
            _pinned.Clear();
            _store.EndPacks(_packs);
            _packs.Clear();
        }
    }

    public void Dispose()
    {
        if (!_finished)
        {
            Abandon();
        }

        _writer.Dispose();
    }

    /// <summary>
    /// Adds the blocks of <paramref name="indexes"/> with one worker per <paramref name="parallelism"/>: each worker
    /// gets its own next block from <paramref name="read"/> and adds it, so no separate reader thread competes for the
    /// cores and memory stays at one block per worker. <paramref name="read"/> fills the worker's pooled 512 KiB buffer
    /// and returns it, or returns the block's bytes elsewhere (a snapshot's mapped image), which must stay unchanged
    /// until <paramref name="release"/> is called for the index, after the block is added or failed to be.
    /// <paramref name="read"/> must be safe to call concurrently (the snapshot's read guards itself with the volume
    /// lock; store reads are positioned reads); <paramref name="done"/> receives each id.
    /// </summary>
    public async Task RunAsync(IReadOnlyList<int> indexes, Func<int, byte[], CancellationToken, ValueTask<ReadOnlyMemory<byte>>> read,
        Action<int, BlockId> done, int parallelism, CancellationToken cancellationToken, Action<int>? release = null)
    {
        using var failure = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cancellationToken = failure.Token;
        var next = -1;
        var workers = Enumerable.Range(0, Math.Max(1, parallelism)).Select(_ => Task.Run(async () =>
        {
            var buffer = ArrayPool<byte>.Shared.Rent(BlockCodec.BlockSize);
            var encode = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
            var scratch = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
            try
            {
                for (var at = Interlocked.Increment(ref next); at < indexes.Count; at = Interlocked.Increment(ref next))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var index = indexes[at];
                    var t = StageClock.Start();
                    var block = await read(index, buffer, cancellationToken).ConfigureAwait(false);
                    StageClock.Stop("ingest.read", t);
                    try
                    {
                        done(index, Add(block.Span, encode, scratch));
                    }
                    finally
                    {
                        release?.Invoke(index);
                    }
                }
            }
            catch
            {
                await failure.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                ArrayPool<byte>.Shared.Return(encode);
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
    }
}
