using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Dapper;
using Lifecycle.Core.Diagnostics;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Catalog;
using Lifecycle.LocalEngine.Encryption;
using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;

namespace Lifecycle.LocalEngine;

public sealed partial class LocalRegion
{
    /// <summary>A snapshot started under its volume's lock: what it must read and what it reuses from its base.</summary>
    private sealed record StartedSnapshot(SnapshotRow Row, VolumeRuntime Volume, CaptureSession Session, Manifest? Base, BlockKey? Key, BlockIngest Ingest);

    public async Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default)
    {
        var volume = RequireVolume(request.VolumeId);
        await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        StartedSnapshot started;
        try
        {
            RequireVolume(request.VolumeId);
            started = Prepare(volume, request.Description);
            await InsertPendingAsync([(started, request.Tags)]).ConfigureAwait(false);
        }
        finally
        {
            volume.Gate.Release();
        }

        StartBuild(started);
        return DescribeStarted(started, request.Tags);
    }

    /// <summary>
    /// A snapshot just made pending, described from what was just written (its row, the tags written with it, no fast
    /// restore yet) rather than read back: three catalog reads less per create.
    /// </summary>
    private SnapshotInfo DescribeStarted(StartedSnapshot started, IReadOnlyDictionary<string, string> tags) =>
        ToInfo(started.Row, tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal), ImmutableSortedDictionary<string, FastRestoreState>.Empty);

    public async Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default)
    {
        var excluded = request.ExcludeVolumeIds.IsDefault ? [] : request.ExcludeVolumeIds;
        var instanceId = request.InstanceId;
        var rows = _catalog.Read(c => c.Query<VolumeRow>("SELECT * FROM volumes WHERE instance_id=@instanceId ORDER BY id", new { instanceId }).ToList());
        if (rows.Count == 0)
        {
            throw ProviderException.NotFound("InvalidInstanceID.NotFound", $"no volume is attached to instance '{instanceId}' in region {Region}");
        }

        var volumes = rows.Where(r => !(request.ExcludeBootVolume && r.IsBoot) && !excluded.Contains(r.Id))
            .Select(r => RequireVolume(r.Id)).ToList();
        var held = new List<VolumeRuntime>();
        var started = new List<StartedSnapshot>();
        var tags = request.Tags.SetItem(Core.Planning.OwnershipTags.Instance, instanceId);
        try
        {
            // one instant for all: every volume's lock is held while the pending rows are inserted together
            foreach (var volume in volumes)
            {
                await volume.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                held.Add(volume);
            }

            var instant = NowMs; // EC2's multi-volume snapshot: one start time for the whole set
            started.AddRange(volumes.Select(v => Prepare(v, request.Description, instant)));
            await InsertPendingAsync(started.Select(s => (s, (IReadOnlyDictionary<string, string>)tags)).ToList()).ConfigureAwait(false);
        }
        catch
        {
            foreach (var s in started)
            {
                s.Volume.Sessions.Remove(s.Session);
                s.Volume.ChangedSincePending.Remove(s.Row.Id);
                s.Ingest.Dispose();
            }

            throw;
        }
        finally
        {
            foreach (var volume in held)
            {
                volume.Gate.Release();
            }
        }

        foreach (var s in started)
        {
            StartBuild(s);
        }

        return [.. started.Select(s => DescribeStarted(s, tags))];
    }

    /// <summary>Decides full or incremental and registers the copy-before-write session. Caller holds the volume lock.</summary>
    /// <param name="startTime">The set's one instant (CreateSnapshots), in catalog milliseconds; null: now.</param>
    private StartedSnapshot Prepare(VolumeRuntime volume, string? description, long? startTime = null)
    {
        var volumeRow = RequireVolumeRow(volume.Id);
        var key = volumeRow.KeyId is null ? null : Keys.Get(volumeRow.KeyId);
        var ingest = new BlockIngest(_store, key);
        Manifest? baseManifest = null;
        if (volume.Trusted && volume.BaseSnapshotId is not null
            && FindSnapshotRow(volume.BaseSnapshotId) is { State: CatalogValues.Completed } baseRow
            && baseRow.Tier is CatalogValues.Standard or CatalogValues.Restored
            && baseRow.KeyId == key?.Id)
        {
            var candidate = LoadManifest(baseRow.Id);
            if (ingest.TryPinExisting(candidate.Blocks))
            {
                baseManifest = candidate;
            }
        }

        var needed = baseManifest is null ? BlockBitmap.All(volume.BlockCount) : volume.ChangedSinceBase.Clone();

        // A block in a hole of the image reads as zeros, so the snapshot records it as zero without reading it (a block
        // still loading from the volume's source snapshot is a hole too but not zero: it is read). Taken under the
        // volume lock, so it is the content at the snapshot's instant; later writes to these blocks need no capture.
        var holes = new List<int>();
        if (SparseImage.Holes(volume.Image, needed) is { } found)
        {
            holes.AddRange(found.Where(i => volume.Hydrated is null || volume.Hydrated[i]));
            foreach (var index in holes)
            {
                needed[index] = false;
            }
        }

        var id = NewId("snap-");
        var row = new SnapshotRow
        {
            Id = id,
            VolumeId = volume.Id,
            VolumeSizeBytes = volume.SizeBytes,
            StartTime = startTime ?? NowMs,
            State = CatalogValues.Pending,
            Tier = CatalogValues.Standard,
            Encrypted = key is not null,
            KeyId = key?.Id,
            Description = description,
        };
        var session = new CaptureSession(id, needed) { Holes = holes };
        volume.Sessions.Add(session);
        volume.ChangedSincePending[id] = new BlockBitmap(volume.BlockCount);
        _progress[id] = 0;
        return new StartedSnapshot(row, volume, session, baseManifest, key, ingest);
    }

    /// <summary>
    /// Makes pending snapshots visible (durably) before their creators release the volume locks. Creates that arrive
    /// while another create is committing go together in the next transaction (group commit): a thousand creates at
    /// one fire cost a few fsyncs, not a thousand turns at the catalog. Returns once these rows are committed.
    /// </summary>
    private Task InsertPendingAsync(IReadOnlyList<(StartedSnapshot Started, IReadOnlyDictionary<string, string> Tags)> snapshots) =>
        _pendingInserts.CommitAsync(snapshots);

    private Task WritePendingAsync(IReadOnlyList<IReadOnlyList<(StartedSnapshot Started, IReadOnlyDictionary<string, string> Tags)>> batch, CancellationToken cancellationToken)
    {
        _catalog.Write((c, tx) =>
        {
            var seq = c.ExecuteScalar<long>(LastSeqSql, transaction: tx);
            foreach (var (started, tags) in batch.SelectMany(b => b))
            {
                started.Row.Seq = ++seq;
                InsertSnapshotRow(c, tx, started.Row);
                WriteTags(c, tx, started.Row.Id, tags);
            }
        });
        return Task.CompletedTask;
    }

    /// <summary>The last creation number given (read under the write lock; the seq index makes it one seek).</summary>
    private const string LastSeqSql = "SELECT coalesce(max(seq), 0) FROM snapshots";

    /// <summary>SQLite's plan for <see cref="LastSeqSql"/> (a test checks it seeks the index, not the table).</summary>
    internal IReadOnlyList<string> ExplainLastSeq() => _catalog.Read(c =>
        c.Query<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + LastSeqSql).Select(r => r.Detail).ToList());

    private static void InsertSnapshotRow(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction tx, SnapshotRow row) =>
        c.Execute("""
            INSERT INTO snapshots(id, volume_id, volume_size_bytes, start_time, state, tier, encrypted, key_id, description,
                                  source_snapshot, source_region, seq)
            VALUES (@Id, @VolumeId, @VolumeSizeBytes, @StartTime, @State, @Tier, @Encrypted, @KeyId, @Description,
                    @SourceSnapshot, @SourceRegion, @Seq)
            """, row, tx);

    private void StartBuild(StartedSnapshot started)
    {
        var lease = AcquireSnapshotLease(started.Row.Id);
        var accepted = Environment.TickCount64;
        Volatile.Write(ref _lastCreateAccepted, accepted);
        TrackBackground(started.Row.Id, Task.Run(async () =>
        {
            // Builds take turns (each one's workers already use every core): a thousand snapshots started at one fire
            // then queue here instead of crowding the catalog and the thread pool, and new creates stay fast. And
            // creates come first: a build starts once the region has accepted no create for a moment (or at most
            // MaxBuildDeferralMilliseconds after its own create), so a burst of creates (1,000 volumes' at one fire, each between
            // its application's freeze and thaw hooks) is accepted on the whole CPU, as EC2 accepts creates at once
            // and copies the data while the snapshot is pending.
            var turn = false;
            try
            {
                if (Options.BeforeSnapshotBuild is { } hook)
                {
                    await hook(started.Row.Id).ConfigureAwait(false);
                }

                await Failpoints.HitAsync("engine.snapshot.before-build", _closing.Token).ConfigureAwait(false);
                try
                {
                    await CreatesSettledAsync(accepted, _closing.Token).ConfigureAwait(false);
                    await _buildTurns.WaitAsync(_closing.Token).ConfigureAwait(false);
                    turn = true;
                }
                catch (OperationCanceledException e)
                {
                    // Closing before its turn: failed like a build cut short (BuildAsync's own failure path).
                    started.Ingest.Dispose();
                    MarkFailed(started.Row.Id, e);
                    await FinishSessionAsync(started.Volume, started.Session, started.Row, completed: false).ConfigureAwait(false);
                    throw;
                }

                await BuildAsync(started).ConfigureAwait(false);
            }
            finally
            {
                if (turn)
                {
                    _buildTurns.Release();
                }

                lease.Dispose();
                _progress.TryRemove(started.Row.Id, out _);
            }
        }));
    }

    /// <summary>A build waits until the region accepted no create for this long...</summary>
    private const long CreateQuietMilliseconds = 150;

    /// <summary>...or this long after its own create, whichever comes first (a steady stream of creates never starves builds).</summary>
    private const long MaxBuildDeferralMilliseconds = 3_000;

    /// <summary>Monotonic milliseconds (<see cref="Environment.TickCount64"/>) of the region's last accepted create.</summary>
    private long _lastCreateAccepted;

    /// <summary>Waits until creates have settled (see <see cref="StartBuild"/>), for a snapshot accepted at <paramref name="accepted"/>.</summary>
    private async Task CreatesSettledAsync(long accepted, CancellationToken cancellationToken)
    {
        while (true)
        {
            var now = Environment.TickCount64;
            var quiet = CreateQuietMilliseconds - (now - Volatile.Read(ref _lastCreateAccepted));
            var deferral = MaxBuildDeferralMilliseconds - (now - accepted);
            if (quiet <= 0 || deferral <= 0)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(quiet, deferral)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the blocks the snapshot needs (captured originals first), stores new ones, commits the manifest.</summary>
    private async Task BuildAsync(StartedSnapshot started)
    {
        var (row, volume, session, baseManifest, _, ingest) = started;
        using (ingest)
        {
            try
            {
                var buildStarted = StageClock.Start();
                var manifest = Extend(baseManifest, volume.BlockCount);
                foreach (var index in session.Holes)
                {
                    manifest.Blocks[index] = BlockId.Zero; // an incremental's base may hold data there
                }

                var indexes = session.Unread.SetIndexes().ToList();
                var done = 0;
                using var mapping = indexes.Count > 0 ? ImageMapping.TryCreate(volume, indexes) : null;
                await ingest.RunAsync(indexes, async (index, buffer, ct) =>
                {
                    // A block comes from the capture set when a writer saved its original, from the store when it is
                    // not loaded yet (a lazily loading volume), else from the image: mapped, so it is hashed and encoded
                    // in place, or read with pread past the mapped part. While it is read that way the block is in
                    // session.Reading, and a write to it waits (ReadsInProgress) until the block is added, so the bytes
                    // hashed are the bytes stored; it is marked read at once, so writes after that need no capture.
                    var block = buffer.AsMemory(0, BlockSize);
                    var readImage = false;
                    await volume.Gate.WaitAsync(ct).ConfigureAwait(false);
                    try
                    {
                        if (!TakeCaptured(session, index, block.Span))
                        {
                            if (volume.Hydrated is not null && !volume.Hydrated[index])
                            {
                                ReadCurrentBlock(volume, index, block.Span); // a lazily loading block: from the store, under the gate
                            }
                            else
                            {
                                readImage = true;
                                session.Reading.Add(index);
                            }
                        }

                        session.Unread[index] = false;
                    }
                    finally
                    {
                        volume.Gate.Release();
                    }

                    _progress[row.Id] = (int)(99L * Interlocked.Increment(ref done) / Math.Max(1, indexes.Count));
                    _blocksRead.AddOrUpdate(row.Id, 1, (_, n) => n + 1);
                    if (!readImage)
                    {
                        return block;
                    }

                    if (Options.BeforeImageRead is { } beforeRead)
                    {
                        await beforeRead(row.Id, index).ConfigureAwait(false);
                    }

                    if (mapping is not null && mapping.TryGetBlock(index, out var mapped))
                    {
                        return mapped;
                    }

                    volume.ReadImageBlock(index, block.Span);
                    return block;
                }, (index, id) => manifest.Blocks[index] = id, Options.Parallelism, _closing.Token,
                    release: index =>
                    {
                        mapping?.Done(index);
                        EndImageRead(volume, session, index);
                    }).ConfigureAwait(false);

                var fullSize = (long)manifest.NonZero.Count() * BlockSize;
                ingest.Commit(_catalog, (c, tx) =>
                {
                    c.Execute("INSERT INTO manifests(snapshot_id, blob) VALUES (@id, @blob)", new { id = row.Id, blob = manifest.ToBlob() }, tx);
                    c.Execute("UPDATE snapshots SET state='completed', full_size=@fullSize, stored_bytes=@stored WHERE id=@id",
                        new { id = row.Id, fullSize, stored = ingest.StoredBytes }, tx);
                });
                await FinishSessionAsync(volume, session, row, completed: true).ConfigureAwait(false);
                StageClock.Stop("snapshot.build-total", buildStarted);
            }
            catch (Exception e)
            {
                ingest.Abandon();
                MarkFailed(row.Id, e);
                await FinishSessionAsync(volume, session, row, completed: false).ConfigureAwait(false);
                throw;
            }
        }
    }

    private void MarkFailed(string snapshotId, Exception e)
    {
        try
        {
            _catalog.Write((c, tx) => c.Execute("UPDATE snapshots SET state='error', error=@message WHERE id=@snapshotId",
                new { snapshotId, message = e.Message }, tx));
        }
        catch (ObjectDisposedException)
        {
            // the region is closing; the next open turns the pending row into error
        }
    }

    /// <summary>A block read from the image is added (or failed): writes to it may go ahead.</summary>
    private static void EndImageRead(VolumeRuntime volume, CaptureSession session, int index)
    {
        volume.Gate.Wait();
        try
        {
            if (session.Reading.Remove(index))
            {
                volume.SignalReadsEnded();
            }
        }
        finally
        {
            volume.Gate.Release();
        }
    }

    private static async Task FinishSessionAsync(VolumeRuntime volume, CaptureSession session, SnapshotRow row, bool completed)
    {
        await volume.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            volume.Sessions.Remove(session);
            if (session.Reading.Count > 0)
            {
                session.Reading.Clear(); // a failed build: blocks it was reading are released with it
                volume.SignalReadsEnded();
            }

            if (volume.ChangedSincePending.Remove(row.Id, out var changedSince) && completed && row.Seq > volume.BaseSequence)
            {
                volume.BaseSnapshotId = row.Id;
                volume.BaseSequence = row.Seq;
                volume.ChangedSinceBase = changedSince;
                volume.Trusted = true;
            }
        }
        finally
        {
            volume.Gate.Release();
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _blocksRead = new(StringComparer.Ordinal);

    /// <summary>How many volume blocks the snapshot's build read in this process (incrementals read only changed blocks).</summary>
    public int BlocksReadBy(string snapshotId) => _blocksRead.GetValueOrDefault(snapshotId);

    private static Manifest Extend(Manifest? source, int count)
    {
        var blocks = new BlockId[count];
        source?.Blocks.AsSpan(0, Math.Min(count, source.Count)).CopyTo(blocks);
        return new Manifest(blocks);
    }

    /// <summary>Under the volume gate: moves a block's captured original (if a writer saved one) into <paramref name="block"/>.</summary>
    private static bool TakeCaptured(CaptureSession session, int index, Span<byte> block)
    {
        if (!session.Captured.Remove(index, out var original))
        {
            return false;
        }

        original.CopyTo(block);
        return true;
    }

    /// <summary>
    /// Copies a completed standard-tier snapshot from another region (or this one) into this region: only blocks
    /// this region lacks are sent; blocks are re-encrypted when the target key differs. Returns the pending copy.
    /// </summary>
    public Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default)
    {
        var source = _engine.Region(request.SourceRegion);
        var sourceRow = source.RequireSnapshot(request.SourceSnapshotId);
        if (sourceRow.State != CatalogValues.Completed || sourceRow.Tier is not (CatalogValues.Standard or CatalogValues.Restored))
        {
            throw ProviderException.IncorrectState("IncorrectState",
                $"snapshot '{sourceRow.Id}' is {sourceRow.State}/{sourceRow.Tier}; only completed standard-tier snapshots can be copied");
        }

        var sourceKey = sourceRow.KeyId is null ? null : Keys.Get(sourceRow.KeyId);
        var targetKey = sourceKey is not null
            ? (request.KeyId is null ? sourceKey : Keys.Get(request.KeyId))
            : (request.Encrypted || request.KeyId is not null ? Keys.Resolve(request.KeyId) : null);
        var sourceLease = source.AcquireSnapshotLease(sourceRow.Id);
        try
        {
            var row = new SnapshotRow
            {
                Id = NewId("snap-"),
                VolumeId = sourceRow.VolumeId,
                VolumeSizeBytes = sourceRow.VolumeSizeBytes,
                StartTime = NowMs,
                State = CatalogValues.Pending,
                Tier = CatalogValues.Standard,
                Encrypted = targetKey is not null,
                KeyId = targetKey?.Id,
                Description = request.Description ?? sourceRow.Description,
                SourceSnapshot = sourceRow.Id,
                SourceRegion = source.Region,
            };
            _catalog.Write((c, tx) =>
            {
                row.Seq = c.ExecuteScalar<long>(LastSeqSql, transaction: tx) + 1;
                InsertSnapshotRow(c, tx, row);
                WriteTags(c, tx, row.Id, request.Tags);
            });
            _progress[row.Id] = 0;
            var ownLease = AcquireSnapshotLease(row.Id);
            TrackBackground(row.Id, Task.Run(async () =>
            {
                try
                {
                    if (Options.BeforeSnapshotBuild is { } hook)
                    {
                        await hook(row.Id).ConfigureAwait(false);
                    }

                    await CopyBlocksAsync(source, sourceRow, sourceKey, row, targetKey).ConfigureAwait(false);
                }
                finally
                {
                    sourceLease.Dispose();
                    ownLease.Dispose();
                    _progress.TryRemove(row.Id, out _);
                }
            }, CancellationToken.None));
            return Task.FromResult(Describe(row.Id));
        }
        catch
        {
            sourceLease.Dispose();
            throw;
        }
    }

    private async Task CopyBlocksAsync(LocalRegion source, SnapshotRow sourceRow, BlockKey? sourceKey, SnapshotRow row, BlockKey? targetKey)
    {
        using var ingest = new BlockIngest(_store, targetKey);
        try
        {
            var sourceManifest = source.LoadManifest(sourceRow.Id);
            var manifest = new Manifest(new BlockId[sourceManifest.Count]);
            if (sourceKey?.Id == targetKey?.Id)
            {
                // same key namespace: ids are equal, so send the stored records as they are and only the missing ones
                var payload = ArrayPool<byte>.Shared.Rent(BlockCodec.MaxEncodedSize);
                try
                {
                    var distinct = sourceManifest.NonZero.Distinct().ToList();
                    for (var i = 0; i < distinct.Count; i++)
                    {
                        _closing.Token.ThrowIfCancellationRequested();
                        if (ingest.Claim(distinct[i]))
                        {
                            var (location, length) = source._store.ReadPayload(distinct[i], payload);
                            ingest.AddClaimedEncoded(distinct[i], location.Encoding, location.KeyId, payload.AsSpan(0, length));
                        }

                        _progress[row.Id] = (int)(99L * (i + 1) / Math.Max(1, distinct.Count));
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(payload);
                }

                sourceManifest.Blocks.CopyTo(manifest.Blocks, 0);
            }
            else
            {
                var indexes = Enumerable.Range(0, sourceManifest.Count).Where(i => !sourceManifest.Blocks[i].IsZero).ToList();
                await ingest.RunAsync(indexes, (index, buffer, _) =>
                {
                    var block = buffer.AsMemory(0, BlockSize);
                    source._store.ReadBlock(sourceManifest.Blocks[index], sourceKey, block.Span, verify: true);
                    return ValueTask.FromResult<ReadOnlyMemory<byte>>(block);
                }, (index, id) => manifest.Blocks[index] = id, Options.Parallelism, _closing.Token).ConfigureAwait(false);
            }

            await Failpoints.HitAsync("engine.copy.before-commit", _closing.Token).ConfigureAwait(false);
            ingest.Commit(_catalog, (c, tx) =>
            {
                c.Execute("INSERT INTO manifests(snapshot_id, blob) VALUES (@id, @blob)", new { id = row.Id, blob = manifest.ToBlob() }, tx);
                c.Execute("UPDATE snapshots SET state='completed', full_size=@fullSize, stored_bytes=@stored WHERE id=@id",
                    new { id = row.Id, fullSize = sourceRow.FullSize, stored = ingest.StoredBytes }, tx);
            });
        }
        catch (Exception e)
        {
            ingest.Abandon();
            MarkFailed(row.Id, e);
            throw;
        }
    }

    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        DeleteSnapshotAsync(snapshotId, force: false, cancellationToken);

    /// <summary>
    /// Deletes a snapshot: to the recycle bin when a rule matches, otherwise for good (its blocks are released for GC;
    /// blocks shared with other snapshots stay). Missing is success. IncorrectState while pending or in use, and for
    /// an archived snapshot younger than the archive minimum unless <paramref name="force"/>.
    /// </summary>
    public async Task DeleteSnapshotAsync(string snapshotId, bool force, CancellationToken cancellationToken = default)
    {
        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var row = FindSnapshotRow(snapshotId);
        if (row is null || row.RecycledAt is not null)
        {
            return;
        }

        if (row.State == CatalogValues.Pending || IsLeased(snapshotId))
        {
            throw ProviderException.IncorrectState("InvalidSnapshot.InUse", $"snapshot '{snapshotId}' is in use ({(row.State == CatalogValues.Pending ? "pending" : "being read")})");
        }

        if (row.ArchivedAt is { } archivedAt && !force
            && FromMs(archivedAt) + Options.ArchiveMinimumRetention > Options.TimeProvider.GetUtcNow())
        {
            throw ProviderException.IncorrectState("IncorrectState",
                $"snapshot '{snapshotId}' was archived at {FromMs(archivedAt):u}; archived snapshots are kept at least {Options.ArchiveMinimumRetention.TotalDays:0} days (use force)");
        }

        var tags = TagsOf(snapshotId);
        var rule = Options.RecycleBinRules.Concat(StoredRecycleRules()).Where(r => r.Matches(tags)).MaxBy(r => r.RetentionDays);
        if (rule is not null && row.State == CatalogValues.Completed)
        {
            var now = NowMs;
            var exit = now + (long)TimeSpan.FromDays(rule.RetentionDays).TotalMilliseconds;
            _catalog.Write((c, tx) => c.Execute("UPDATE snapshots SET recycled_at=@now, recycle_exit=@exit WHERE id=@snapshotId",
                new { now, exit, snapshotId }, tx));
            ClockInstantWritten();
            return;
        }

        PurgeSnapshot(snapshotId);
    }

    /// <summary>Removes a snapshot for good: rows first (the catalog commits), then its archive packs.</summary>
    private void PurgeSnapshot(string snapshotId)
    {
        var archivePacks = _catalog.Read(c => c.Query<string>("SELECT id FROM packs WHERE store='archive' AND snapshot_id=@snapshotId", new { snapshotId }).ToList());
        _catalog.Write((c, tx) =>
        {
            foreach (var table in new[] { "manifests", "archive_blocks", "fast_restore" })
            {
                c.Execute($"DELETE FROM {table} WHERE snapshot_id=@snapshotId", new { snapshotId }, tx);
            }

            c.Execute("DELETE FROM packs WHERE store='archive' AND snapshot_id=@snapshotId", new { snapshotId }, tx);
            c.Execute("DELETE FROM tags WHERE resource_id=@snapshotId", new { snapshotId }, tx);
            c.Execute("DELETE FROM snapshots WHERE id=@snapshotId", new { snapshotId }, tx);
        });
        foreach (var pack in archivePacks)
        {
            DurableFile.Delete(PackFile.PathOf(ArchiveDirectory, pack));
        }
    }

    /// <summary>Reads a completed standard-tier snapshot's content at any offset (verifying every block).</summary>
    public Task<int> ReadSnapshotAsync(string snapshotId, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var row = RequireReadableSnapshot(snapshotId);
        var manifest = LoadManifest(snapshotId);
        var key = row.KeyId is null ? null : Keys.Get(row.KeyId);
        var length = (int)Math.Min(buffer.Length, Math.Max(0, row.VolumeSizeBytes - offset));
        var block = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var done = 0;
            while (done < length)
            {
                var position = offset + done;
                var index = (int)(position / BlockSize);
                var within = (int)(position % BlockSize);
                var count = Math.Min(BlockSize - within, length - done);
                var id = index < manifest.Count ? manifest.Blocks[index] : BlockId.Zero;
                if (id.IsZero)
                {
                    buffer.Span.Slice(done, count).Clear();
                }
                else
                {
                    _store.ReadBlock(id, key, block.AsSpan(0, BlockSize), verify: true);
                    block.AsSpan(within, count).CopyTo(buffer.Span[done..]);
                }

                done += count;
            }

            return Task.FromResult(length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private SnapshotRow RequireReadableSnapshot(string snapshotId)
    {
        var row = FindSnapshotRow(snapshotId);
        if (row is null)
        {
            throw ProviderException.NotFound("InvalidSnapshot.NotFound", $"snapshot '{snapshotId}' does not exist in region {Region}");
        }

        if (row.State != CatalogValues.Completed || row.RecycledAt is not null || row.Tier is not (CatalogValues.Standard or CatalogValues.Restored))
        {
            var why = row.RecycledAt is not null ? "in the recycle bin" : row.State != CatalogValues.Completed ? row.State : "in the archive tier (restore it first)";
            throw ProviderException.IncorrectState("IncorrectState", $"snapshot '{snapshotId}' is {why}");
        }

        return row;
    }

    /// <summary>Blocks a restore worker decodes into one buffer and writes with as few calls as the data allows.</summary>
    private const int RestoreChunkBlocks = 16;

    /// <summary>Cap on decoded copies of blocks that occur more than once in a restored volume (decoded once, written often).</summary>
    private const long RestoreRepeatCacheBytes = 64L << 20;

    /// <summary>
    /// Writes a snapshot's content to a raw sparse file, atomically. Workers take runs of 16 consecutive blocks in
    /// file order, decode and verify them into one aligned buffer and write each stretch of non-zero blocks with one
    /// call (zero blocks stay holes); with O_DIRECT (see <see cref="DirectWriteFile"/>) the data bypasses the page
    /// cache and twice as many workers as cores overlap device waits with decoding. Blocks the volume repeats are
    /// decoded once and kept (up to 64 MiB) for their other places.
    /// </summary>
    public async Task RestoreSnapshotToFileAsync(string snapshotId, string targetPath, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var row = RequireReadableSnapshot(snapshotId);
        using var lease = AcquireSnapshotLease(snapshotId);
        var manifest = LoadManifest(snapshotId);
        var key = row.KeyId is null ? null : Keys.Get(row.KeyId);
        var temp = targetPath + DurableFile.TempSuffix;
        long written = 0;
        var occurrences = new Dictionary<BlockId, int>();
        foreach (var id in manifest.Blocks)
        {
            if (!id.IsZero)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(occurrences, id, out _)++;
            }
        }

        var repeated = new System.Collections.Concurrent.ConcurrentDictionary<BlockId, byte[]>();
        long repeatedBytes = 0;
        var direct = DirectWriteFile.TryCreate(temp);
        try
        {
            using (var target = direct ?? File.OpenHandle(temp, FileMode.Create, FileAccess.Write))
            using (var buffers = new AlignedBlockBuffers(RestoreChunkBlocks * BlockSize))
            {
                RandomAccess.SetLength(target, row.VolumeSizeBytes);
                var chunks = (manifest.Count + RestoreChunkBlocks - 1) / RestoreChunkBlocks;
                var next = -1;
                using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                void Work()
                {
                    var buffer = buffers.Rent();
                    try
                    {
                        for (var chunk = Interlocked.Increment(ref next); chunk < chunks; chunk = Interlocked.Increment(ref next))
                        {
                            failed.Token.ThrowIfCancellationRequested();
                            RestoreChunk(chunk, buffers.AsSpan(buffer));
                        }
                    }
                    catch
                    {
                        failed.Cancel();
                        throw;
                    }
                    finally
                    {
                        buffers.Return(buffer);
                    }
                }

                void RestoreChunk(int chunk, Span<byte> buffer)
                {
                    var first = chunk * RestoreChunkBlocks;
                    var count = Math.Min(RestoreChunkBlocks, manifest.Count - first);
                    var t = StageClock.Start();
                    for (var i = 0; i < count; i++)
                    {
                        var id = manifest.Blocks[first + i];
                        if (id.IsZero)
                        {
                            continue;
                        }

                        var block = buffer.Slice(i * BlockSize, BlockSize);
                        if (repeated.TryGetValue(id, out var decoded))
                        {
                            decoded.CopyTo(block);
                            continue;
                        }

                        _store.ReadBlock(id, key, block, verify: true);
                        if (occurrences[id] > 1 && Interlocked.Add(ref repeatedBytes, BlockSize) <= RestoreRepeatCacheBytes)
                        {
                            repeated.TryAdd(id, block.ToArray());
                        }
                    }

                    StageClock.Stop("restore.read-decode-verify", t);
                    t = StageClock.Start();
                    for (var i = 0; i < count;)
                    {
                        if (manifest.Blocks[first + i].IsZero)
                        {
                            i++;
                            continue;
                        }

                        var run = 1;
                        while (i + run < count && !manifest.Blocks[first + i + run].IsZero)
                        {
                            run++;
                        }

                        RandomAccess.Write(target, buffer.Slice(i * BlockSize, run * BlockSize), (long)(first + i) * BlockSize);
                        progress?.Report(Interlocked.Add(ref written, (long)run * BlockSize));
                        i += run;
                    }

                    StageClock.Stop("restore.write", t);
                }

                // a direct write waits for the device, so twice as many workers as cores keep the cores decoding
                // meanwhile; dedicated threads, so the pool's slow thread injection does not hold them back
                var workers = Math.Max(1, Options.Parallelism) * (direct is null ? 1 : 2);
                var tasks = Enumerable.Range(0, workers)
                    .Select(_ => Task.Factory.StartNew(Work, failed.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
                try
                {
                    await Task.WhenAll(tasks).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested
                    && tasks.Select(task => task.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException) is { } cause)
                {
                    // a worker failed and cancelled the rest: report its error, not the cancellation
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
                }

                var flush = StageClock.Start();
                RandomAccess.FlushToDisk(target);
                StageClock.Stop("restore.fsync", flush);
            }
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        DurableFile.Publish(temp, targetPath);
    }
}
