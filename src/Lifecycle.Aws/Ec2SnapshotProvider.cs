using System.Collections.Concurrent;
using System.Collections.Immutable;
using Amazon.EC2;
using Amazon.EC2.Model;
using Lifecycle.Aws.Completion;
using Lifecycle.Aws.Configuration;
using Lifecycle.Aws.Errors;
using Lifecycle.Aws.Limits;
using Lifecycle.Aws.Mapping;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Filter = Amazon.EC2.Model.Filter;
using CopySnapshotRequest = Lifecycle.Core.Providers.CopySnapshotRequest;
using CreateSnapshotRequest = Lifecycle.Core.Providers.CreateSnapshotRequest;
using CreateSnapshotsRequest = Lifecycle.Core.Providers.CreateSnapshotsRequest;
using SnapshotInfo = Lifecycle.Core.Inventory.SnapshotInfo;
using SnapshotState = Lifecycle.Core.Inventory.SnapshotState;
using StorageTier = Lifecycle.Core.Inventory.StorageTier;

namespace Lifecycle.Aws;

/// <summary>
/// The provider seam on one region's <see cref="IAmazonEC2"/>. Beyond mapping the calls it carries what EC2 leaves to
/// its clients: its own throttling backoff per region, the 15 s per-volume create interval and pending limit, a queue
/// of at most N copies in progress into this region, retries of ids that a create just returned but describes do not
/// know yet (eventual consistency), and batched completion polling.
/// </summary>
internal sealed class Ec2SnapshotProvider : ISnapshotProvider, IDisposable
{
    private const int PageSize = 1000;
    private const int TransientRetries = 2;

    private readonly IAmazonEC2 client;
    private readonly AwsProviderOptions options;
    private readonly Func<string, Ec2SnapshotProvider?> regionProvider;
    private readonly TimeProvider time;
    private readonly ThrottleGate throttle;
    private readonly VolumeCreateGate volumes;
    private readonly SemaphoreSlim copySlots;
    private readonly ConcurrentDictionary<string, byte> copiesInProgress = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> recentlyStarted = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> seenByDescribe = new(StringComparer.Ordinal);
    private long lastSweepTicks;
    private readonly CompletionPoller completion;
    private readonly TagLookupBatcher tagLookups;

    public Ec2SnapshotProvider(string region, IAmazonEC2 client, AwsProviderOptions options, Func<string, Ec2SnapshotProvider?> regionProvider)
    {
        Region = region;
        this.client = client;
        this.options = options;
        this.regionProvider = regionProvider;
        time = options.TimeProvider;
        throttle = new ThrottleGate(time, options.ThrottleBaseDelay, options.MaxThrottleDelay);
        volumes = new VolumeCreateGate(time, options.MinimumSnapshotInterval, options.MaxPendingSnapshotsPerVolume, options.EffectiveCompletionPollInterval);
        copySlots = new SemaphoreSlim(options.MaxConcurrentCopiesPerRegion, options.MaxConcurrentCopiesPerRegion);
        completion = new CompletionPoller(DescribeByIdsAsync, Finished, time, options.EffectiveCompletionPollInterval,
            options.EffectiveFirstCompletionCheck, options.EventualConsistencyWindow);
        tagLookups = new TagLookupBatcher(DescribeByTagValuesAsync, Ec2Mapping.FilterValueLimit);
    }

    public string Region { get; }

    /// <summary>Copies into this region that hold a slot of the copy queue (started, not yet completed).</summary>
    internal int CopiesInProgress => copiesInProgress.Count;

    /// <summary>Batched completion describes made so far.</summary>
    internal int CompletionPolls => completion.Polls;

    internal ThrottleGate Throttle => throttle;

    // ---- describe --------------------------------------------------------------------------------

    public async Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var found = new List<Volume>();
        string? next = null;
        do
        {
            var request = new DescribeVolumesRequest { Filters = Ec2Mapping.FiltersFor(filter), MaxResults = 500, NextToken = next };
            var page = await CallAsync(ct => client.DescribeVolumesAsync(request, ct), cancellationToken).ConfigureAwait(false);
            found.AddRange(page.Volumes ?? []);
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        var infos = found.Select(v => Ec2Mapping.ToInfo(v, Region)).ToList();
        var instanceIds = infos.Where(v => v.InstanceId is not null).Select(v => v.InstanceId!).ToList();
        if (instanceIds.Count == 0)
        {
            return [.. infos];
        }

        var instances = await DescribeInstancesAsync(instanceIds, cancellationToken).ConfigureAwait(false);
        return [.. infos.Select(v => v.InstanceId is not null && instances.TryGetValue(v.InstanceId, out var instance)
            ? v with { InstanceTags = Ec2Mapping.TagsOf(instance.Tags), IsBoot = v.Device is not null && v.Device == instance.RootDeviceName }
            : v)];
    }

    /// <summary>The attached instances (by the instance-id filter, which unlike InstanceIds does not fail on one unknown id).</summary>
    private async Task<Dictionary<string, Instance>> DescribeInstancesAsync(IEnumerable<string> instanceIds, CancellationToken cancellationToken)
    {
        var instances = new Dictionary<string, Instance>(StringComparer.Ordinal);
        foreach (var chunk in Ec2Mapping.Chunks(instanceIds))
        {
            string? next = null;
            do
            {
                var request = new DescribeInstancesRequest { Filters = [new Filter("instance-id", chunk)], MaxResults = PageSize, NextToken = next };
                var page = await CallAsync(ct => client.DescribeInstancesAsync(request, ct), cancellationToken).ConfigureAwait(false);
                foreach (var instance in (page.Reservations ?? []).SelectMany(r => r.Instances ?? []))
                {
                    instances[instance.InstanceId] = instance;
                }

                next = page.NextToken;
            }
            while (!string.IsNullOrEmpty(next));
        }

        return instances;
    }

    public async Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new SnapshotQuery();
        if (query.SnapshotIds.IsDefaultOrEmpty && query.VolumeIds.IsDefaultOrEmpty && query.Tags?.Tags is { Count: 1 } tags
            && tags.First() is { Value.Length: 1 } only && only.Value[0].AsSpan().IndexOfAny('*', '?') < 0)
        {
            // One value of one tag (a token lookup): joined with the others in flight into one call. Not a value EC2
            // would read as a wildcard: the joined answer is split by exact value.
            return await tagLookups.LookupAsync(only.Key, only.Value[0], cancellationToken).ConfigureAwait(false);
        }

        var started = time.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var found = await DescribeAsync(query, cancellationToken).ConfigureAwait(false);
            // Ids a create or copy of this provider just returned may be unknown to describes for a while: ask again
            // (bounded by the consistency window) instead of reporting them missing.
            var missing = query.SnapshotIds.Where(id => IsRecent(id) && !seenByDescribe.ContainsKey(id) && found.All(s => s.Id != id)).ToList();
            if (missing.Count == 0 || time.GetElapsedTime(started) > options.EventualConsistencyWindow)
            {
                return await WithFastRestoreAsync(await WithTierStatusAsync(found, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }

            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
        }
    }

    /// <summary>
    /// Always our own snapshots (<c>Owner=self</c>; without it EC2 also returns every public snapshot), narrowed on the
    /// server: ids and volumes as filters (unlike <c>SnapshotId.N</c>, a filter does not fail on an unknown id), tags as
    /// <c>tag:KEY</c>/<c>tag-key</c> filters, 1000 per page.
    /// </summary>
    private async Task<List<SnapshotInfo>> DescribeAsync(SnapshotQuery query, CancellationToken cancellationToken)
    {
        var tagFilters = Ec2Mapping.FiltersFor(query.Tags);
        IEnumerable<List<Filter>> requests = [tagFilters];
        if (!query.SnapshotIds.IsDefaultOrEmpty)
        {
            requests = Ec2Mapping.Chunks(query.SnapshotIds).Select(ids => tagFilters.Append(new Filter("snapshot-id", ids)).ToList());
        }

        if (!query.VolumeIds.IsDefaultOrEmpty)
        {
            requests = requests.SelectMany(filters => Ec2Mapping.Chunks(query.VolumeIds).Select(ids => filters.Append(new Filter("volume-id", ids)).ToList())).ToList();
        }

        var found = new List<SnapshotInfo>();
        foreach (var filters in requests)
        {
            string? next = null;
            do
            {
                var request = new DescribeSnapshotsRequest { OwnerIds = ["self"], Filters = filters, MaxResults = PageSize, NextToken = next };
                var page = await CallAsync(ct => client.DescribeSnapshotsAsync(request, ct), cancellationToken).ConfigureAwait(false);
                found.AddRange((page.Snapshots ?? []).Select(s => Ec2Mapping.ToInfo(s, Region)));
                next = page.NextToken;
            }
            while (!string.IsNullOrEmpty(next));
        }

        foreach (var snapshot in found.Where(s => recentlyStarted.ContainsKey(s.Id)))
        {
            // Listed once, describes know it: from now on a describe that misses it means gone, not "not visible yet".
            seenByDescribe[snapshot.Id] = 0;
        }

        return [.. found.DistinctBy(s => s.Id)];
    }

    /// <summary>
    /// Fills <see cref="SnapshotInfo.ArchivedAt"/> (and the restore expiry) from DescribeSnapshotTierStatus, asked only
    /// for the archived (or temporarily restored) snapshots of the result, 200 ids per call.
    /// </summary>
    private async Task<ImmutableArray<SnapshotInfo>> WithTierStatusAsync(List<SnapshotInfo> snapshots, CancellationToken cancellationToken)
    {
        var archived = snapshots.Where(s => s.Tier == StorageTier.Archive || s.RestoreExpiryTime is not null).Select(s => s.Id).ToList();
        if (archived.Count == 0)
        {
            return [.. snapshots];
        }

        var statuses = new Dictionary<string, SnapshotTierStatus>(StringComparer.Ordinal);
        foreach (var chunk in Ec2Mapping.Chunks(archived))
        {
            string? next = null;
            do
            {
                var request = new DescribeSnapshotTierStatusRequest { Filters = [new Filter("snapshot-id", chunk)], MaxResults = PageSize, NextToken = next };
                var page = await CallAsync(ct => client.DescribeSnapshotTierStatusAsync(request, ct), cancellationToken).ConfigureAwait(false);
                foreach (var status in page.SnapshotTierStatuses ?? [])
                {
                    statuses[status.SnapshotId] = status;
                }

                next = page.NextToken;
            }
            while (!string.IsNullOrEmpty(next));
        }

        return [.. snapshots.Select(s => statuses.TryGetValue(s.Id, out var status)
            ? s with
            {
                ArchivedAt = Ec2Mapping.Utc(status.ArchivalCompleteTime) ?? Ec2Mapping.Utc(status.LastTieringStartTime),
                RestoreExpiryTime = Ec2Mapping.Utc(status.RestoreExpiryTime) ?? s.RestoreExpiryTime,
            }
            : s)];
    }

    /// <summary>
    /// Fast snapshot restore states per zone (EC2's DescribeSnapshots does not carry them, and the planner disables fast
    /// restore on snapshots that leave the newest N by them: without them it would be billed forever). Only completed
    /// standard-tier snapshots can have it: one DescribeFastSnapshotRestores by their ids (up to 200), or one listing of
    /// the region's enabled ones for a larger describe (few snapshots have it: it is billed per hour and zone).
    /// </summary>
    private async Task<ImmutableArray<SnapshotInfo>> WithFastRestoreAsync(ImmutableArray<SnapshotInfo> snapshots, CancellationToken cancellationToken)
    {
        var candidates = snapshots.Where(s => s.State == SnapshotState.Completed && s.Tier == StorageTier.Standard).Select(s => s.Id).ToList();
        if (candidates.Count == 0)
        {
            return snapshots;
        }

        var states = await DescribeFastRestoresAsync(candidates.Count <= 200 ? candidates : null, cancellationToken).ConfigureAwait(false);
        if (states.Count == 0)
        {
            return snapshots;
        }

        var bySnapshot = states.GroupBy(z => z.SnapshotId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToImmutableSortedDictionary(z => z.Zone, z => z.State, StringComparer.Ordinal), StringComparer.Ordinal);
        return [.. snapshots.Select(s => bySnapshot.TryGetValue(s.Id, out var zones) ? s with { FastRestore = zones } : s)];
    }

    /// <summary>The token lookups' one batched describe: the snapshots whose tag <paramref name="key"/> has any of the values.</summary>
    private async Task<ImmutableArray<SnapshotInfo>> DescribeByTagValuesAsync(string key, IReadOnlyList<string> values, CancellationToken cancellationToken)
    {
        var found = await DescribeAsync(new SnapshotQuery { Tags = TagFilter.Key(key, [.. values]) }, cancellationToken).ConfigureAwait(false);
        return await WithFastRestoreAsync(await WithTierStatusAsync(found, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The completion poller's one batched describe (no consistency retry: the poller owns that window).</summary>
    private async Task<IReadOnlyList<SnapshotInfo>> DescribeByIdsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        await DescribeAsync(new SnapshotQuery { SnapshotIds = [.. ids] }, cancellationToken).ConfigureAwait(false);

    public Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        completion.WaitAsync(snapshotId, cancellationToken);

    // ---- create and copy -------------------------------------------------------------------------

    public async Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await volumes.ReserveAsync([request.VolumeId], cancellationToken).ConfigureAwait(false);
        var call = new Amazon.EC2.Model.CreateSnapshotRequest
        {
            VolumeId = request.VolumeId,
            Description = request.Description,
            TagSpecifications = Ec2Mapping.SpecificationsFor(ResourceType.Snapshot, request.Tags),
        };
        var response = await CreateCallAsync([request.VolumeId], ct => client.CreateSnapshotAsync(call, ct), cancellationToken).ConfigureAwait(false);
        var snapshot = Ec2Mapping.ToInfo(response.Snapshot, Region);
        Started(snapshot);
        return snapshot;
    }

    public async Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var excluded = request.ExcludeVolumeIds.IsDefault ? [] : request.ExcludeVolumeIds;
        // The 15 s rule applies to each volume of the set: find them first (one DescribeVolumes by attachment).
        var attached = await DescribeAttachedVolumeIdsAsync(request.InstanceId, cancellationToken).ConfigureAwait(false);
        var volumeIds = attached.Except(excluded, StringComparer.Ordinal).ToList();
        await volumes.ReserveAsync(volumeIds, cancellationToken).ConfigureAwait(false);
        var call = new Amazon.EC2.Model.CreateSnapshotsRequest
        {
            InstanceSpecification = new InstanceSpecification
            {
                InstanceId = request.InstanceId,
                ExcludeBootVolume = request.ExcludeBootVolume,
                ExcludeDataVolumeIds = excluded.IsEmpty ? null : [.. excluded],
            },
            Description = request.Description,
            TagSpecifications = Ec2Mapping.SpecificationsFor(ResourceType.Snapshot, request.Tags),
        };
        var response = await CreateCallAsync(volumeIds, ct => client.CreateSnapshotsAsync(call, ct), cancellationToken).ConfigureAwait(false);
        var snapshots = (response.Snapshots ?? []).Select(s => Ec2Mapping.ToInfo(s, Region)).ToImmutableArray();
        foreach (var snapshot in snapshots)
        {
            Started(snapshot);
        }

        return snapshots;
    }

    private async Task<List<string>> DescribeAttachedVolumeIdsAsync(string instanceId, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        string? next = null;
        do
        {
            var request = new DescribeVolumesRequest { Filters = [new Filter("attachment.instance-id", [instanceId])], MaxResults = 500, NextToken = next };
            var page = await CallAsync(ct => client.DescribeVolumesAsync(request, ct), cancellationToken).ConfigureAwait(false);
            ids.AddRange((page.Volumes ?? []).Select(v => v.VolumeId));
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        return ids;
    }

    /// <summary>A create call: EC2's own per-volume refusal pushes the volume's next slot out and is RetryLater.</summary>
    private async Task<T> CreateCallAsync<T>(IReadOnlyList<string> volumeIds, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync(call, cancellationToken, retryTransient: false).ConfigureAwait(false);
        }
        catch (ProviderException e) when (e.Code == "SnapshotCreationPerVolumeRateExceeded")
        {
            foreach (var volumeId in volumeIds)
            {
                volumes.Refused(volumeId);
            }

            throw Ec2Errors.Create(ProviderErrorKind.RetryLater, e.Code, e.Message, e, options.MinimumSnapshotInterval);
        }
    }

    private void Started(SnapshotInfo snapshot)
    {
        var now = time.GetUtcNow();
        // Ids past the consistency window are forgotten in one sweep a second, not one per create: a fire of 1,000 creates
        // swept the whole map 1,000 times.
        var swept = new DateTimeOffset(Interlocked.Read(ref lastSweepTicks), TimeSpan.Zero);
        if (now - swept >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref lastSweepTicks, now.UtcTicks, swept.UtcTicks) == swept.UtcTicks)
        {
            foreach (var (id, at) in recentlyStarted)
            {
                if (now - at > options.EventualConsistencyWindow)
                {
                    recentlyStarted.TryRemove(id, out _);
                    seenByDescribe.TryRemove(id, out _);
                }
            }
        }

        recentlyStarted[snapshot.Id] = now;
        if (snapshot.State == SnapshotState.Pending)
        {
            volumes.Started(snapshot.VolumeId, snapshot.Id);
            completion.Track(snapshot.Id);
        }
    }

    private void Finished(string snapshotId)
    {
        volumes.Finished(snapshotId);
        if (copiesInProgress.TryRemove(snapshotId, out _))
        {
            copySlots.Release();
        }
    }

    internal bool IsRecent(string snapshotId) =>
        recentlyStarted.TryGetValue(snapshotId, out var at) && time.GetUtcNow() - at <= options.EventualConsistencyWindow;

    /// <summary>
    /// Waits for one of the region's copy slots (EC2 allows 20 copies in progress per destination region), then
    /// copies with every request tag plus the source's id, region and volume as tags, so the copy names its source.
    /// The slot is held until the copy leaves pending.
    /// </summary>
    public async Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var tags = request.Tags.SetItem(Ec2Mapping.SourceSnapshotTag, request.SourceSnapshotId).SetItem(Ec2Mapping.SourceRegionTag, request.SourceRegion);
        if (!tags.ContainsKey(Ec2Mapping.SourceVolumeTag))
        {
            var source = await DescribeSourceAsync(request, cancellationToken).ConfigureAwait(false);
            if (source is not null)
            {
                tags = tags.SetItem(Ec2Mapping.SourceVolumeTag, source.VolumeId);
            }
        }

        var call = new Amazon.EC2.Model.CopySnapshotRequest
        {
            SourceRegion = request.SourceRegion,
            SourceSnapshotId = request.SourceSnapshotId,
            Description = request.Description,
            Encrypted = request.Encrypted ? true : null,
            KmsKeyId = request.KeyId,
            TagSpecifications = Ec2Mapping.SpecificationsFor(ResourceType.Snapshot, tags),
        };
        await copySlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        SnapshotInfo copy;
        try
        {
            var sourceProvider = regionProvider(request.SourceRegion);
            var response = await CallAsync(ct => client.CopySnapshotAsync(call, ct), cancellationToken,
                consistencyRetry: e => e.Kind == ProviderErrorKind.NotFound && sourceProvider?.IsRecent(request.SourceSnapshotId) == true,
                retryTransient: false).ConfigureAwait(false);
            copy = new SnapshotInfo
            {
                Id = response.SnapshotId,
                VolumeId = "",
                Region = Region,
                StartTime = time.GetUtcNow(),
                State = SnapshotState.Pending,
                Progress = 0,
                Tags = response.Tags is { Count: > 0 } ? Ec2Mapping.TagsOf(response.Tags) : tags,
                Encrypted = request.Encrypted,
                KeyId = request.KeyId,
                Description = request.Description,
                SourceSnapshotId = request.SourceSnapshotId,
                SourceRegion = request.SourceRegion,
            };
        }
        catch
        {
            copySlots.Release();
            throw;
        }

        copiesInProgress[copy.Id] = 0;
        Started(copy);
        return copy;
    }

    private async Task<SnapshotInfo?> DescribeSourceAsync(CopySnapshotRequest request, CancellationToken cancellationToken)
    {
        if (regionProvider(request.SourceRegion) is not { } source)
        {
            return null; // a region this registry does not manage: the copy goes ahead without the volume tag
        }

        var found = await source.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [request.SourceSnapshotId] }, cancellationToken).ConfigureAwait(false);
        return found.FirstOrDefault();
    }

    // ---- delete, tiers, fast restore, recycle bin, volumes, tags ---------------------------------

    public async Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        try
        {
            await CallAsync(ct => client.DeleteSnapshotAsync(new DeleteSnapshotRequest { SnapshotId = snapshotId }, ct), cancellationToken,
                consistencyRetry: e => e.Kind == ProviderErrorKind.NotFound && IsRecent(snapshotId)).ConfigureAwait(false);
        }
        catch (ProviderException e) when (e.Kind == ProviderErrorKind.NotFound && e.Code.StartsWith("InvalidSnapshot", StringComparison.Ordinal))
        {
            // Already gone is success.
        }

        // Deleted: a NotFound about it from now on is the truth, not eventual consistency.
        recentlyStarted.TryRemove(snapshotId, out _);
        seenByDescribe.TryRemove(snapshotId, out _);
    }

    public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        CallAsync(ct => client.ModifySnapshotTierAsync(new ModifySnapshotTierRequest { SnapshotId = snapshotId, StorageTier = TargetStorageTier.Archive }, ct),
            cancellationToken, consistencyRetry: e => e.Kind == ProviderErrorKind.NotFound && IsRecent(snapshotId));

    public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) =>
        CallAsync(ct => client.RestoreSnapshotTierAsync(new RestoreSnapshotTierRequest
        {
            SnapshotId = snapshotId,
            TemporaryRestoreDays = days,
            PermanentRestore = days is null ? true : null,
        }, ct), cancellationToken);

    public async Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default)
    {
        var request = new EnableFastSnapshotRestoresRequest { SourceSnapshotIds = [snapshotId], AvailabilityZones = [.. zones] };
        var response = await CallAsync(ct => client.EnableFastSnapshotRestoresAsync(request, ct), cancellationToken).ConfigureAwait(false);
        // A partial failure is still HTTP 200: every unsuccessful item is an error of the call.
        var error = (response.Unsuccessful ?? []).SelectMany(u => u.FastSnapshotRestoreStateErrors ?? []).FirstOrDefault();
        if (error?.Error is { } failure)
        {
            throw Ec2Errors.Create(Ec2Errors.KindOf(failure.Code ?? "", System.Net.HttpStatusCode.BadRequest), failure.Code ?? "Unknown",
                $"fast snapshot restore of {snapshotId} in {error.AvailabilityZone}: {failure.Message}");
        }

        return [.. (response.Successful ?? []).Select(s =>
        {
            var state = Ec2Mapping.FastRestoreStateOf(s.State?.Value);
            return new FastRestoreZoneState(s.SnapshotId, s.AvailabilityZone, state,
                Ec2Mapping.Since(state, s.EnablingTime, s.OptimizingTime, s.EnabledTime, s.DisablingTime, s.DisabledTime));
        })];
    }

    public async Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default)
    {
        var request = new DisableFastSnapshotRestoresRequest { SourceSnapshotIds = [snapshotId], AvailabilityZones = [.. zones] };
        var response = await CallAsync(ct => client.DisableFastSnapshotRestoresAsync(request, ct), cancellationToken).ConfigureAwait(false);
        var error = (response.Unsuccessful ?? []).SelectMany(u => u.FastSnapshotRestoreStateErrors ?? []).FirstOrDefault();
        if (error?.Error is { } failure)
        {
            throw Ec2Errors.Create(Ec2Errors.KindOf(failure.Code ?? "", System.Net.HttpStatusCode.BadRequest), failure.Code ?? "Unknown",
                $"disabling fast snapshot restore of {snapshotId} in {error.AvailabilityZone}: {failure.Message}");
        }

        return [.. (response.Successful ?? []).Select(s =>
        {
            var state = Ec2Mapping.FastRestoreStateOf(s.State?.Value);
            return new FastRestoreZoneState(s.SnapshotId, s.AvailabilityZone, state,
                Ec2Mapping.Since(state, s.EnablingTime, s.OptimizingTime, s.EnabledTime, s.DisablingTime, s.DisabledTime));
        })];
    }

    public async Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
        [.. await DescribeFastRestoresAsync(snapshotId is null ? null : [snapshotId], cancellationToken).ConfigureAwait(false)];

    /// <summary>Fast restore states that are not disabled, of these snapshots (null: of every snapshot of the region).</summary>
    private async Task<List<FastRestoreZoneState>> DescribeFastRestoresAsync(List<string>? snapshotIds, CancellationToken cancellationToken)
    {
        var result = new List<FastRestoreZoneState>();
        string? next = null;
        do
        {
            var request = new DescribeFastSnapshotRestoresRequest
            {
                Filters = snapshotIds is null ? [] : [new Filter("snapshot-id", snapshotIds)],
                MaxResults = 200,
                NextToken = next,
            };
            var page = await CallAsync(ct => client.DescribeFastSnapshotRestoresAsync(request, ct), cancellationToken).ConfigureAwait(false);
            result.AddRange((page.FastSnapshotRestores ?? []).Select(s =>
            {
                var state = Ec2Mapping.FastRestoreStateOf(s.State?.Value);
                return new FastRestoreZoneState(s.SnapshotId, s.AvailabilityZone, state,
                    Ec2Mapping.Since(state, s.EnablingTime, s.OptimizingTime, s.EnabledTime, s.DisablingTime, s.DisabledTime));
            }));
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        return [.. result.Where(s => s.State != FastRestoreState.Disabled)];
    }

    public async Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<RecycleBinEntry>();
        string? next = null;
        do
        {
            var request = new ListSnapshotsInRecycleBinRequest { MaxResults = PageSize, NextToken = next };
            var page = await CallAsync(ct => client.ListSnapshotsInRecycleBinAsync(request, ct), cancellationToken).ConfigureAwait(false);
            result.AddRange((page.Snapshots ?? []).Select(s => new RecycleBinEntry(
                new SnapshotInfo
                {
                    Id = s.SnapshotId,
                    VolumeId = s.VolumeId ?? "",
                    Region = Region,
                    StartTime = Ec2Mapping.Utc(s.RecycleBinEnterTime) ?? DateTimeOffset.UnixEpoch,
                    Description = s.Description,
                },
                Ec2Mapping.Utc(s.RecycleBinEnterTime) ?? DateTimeOffset.UnixEpoch,
                Ec2Mapping.Utc(s.RecycleBinExitTime) ?? DateTimeOffset.UnixEpoch)));
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        return [.. result];
    }

    public async Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(ct => client.RestoreSnapshotFromRecycleBinAsync(new RestoreSnapshotFromRecycleBinRequest { SnapshotId = snapshotId }, ct),
            cancellationToken).ConfigureAwait(false);
        // The response has no tags: describe it again for the full record (it is listed again at once).
        var described = await DescribeAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, cancellationToken).ConfigureAwait(false);
        return described.FirstOrDefault() ?? new SnapshotInfo
        {
            Id = response.SnapshotId,
            VolumeId = response.VolumeId ?? "",
            Region = Region,
            StartTime = Ec2Mapping.Utc(response.StartTime) ?? DateTimeOffset.UnixEpoch,
            State = Ec2Mapping.StateOf(response.State?.Value),
            Progress = Ec2Mapping.ProgressOf(response.Progress),
            VolumeSizeGiB = response.VolumeSize ?? 0,
            Encrypted = response.Encrypted ?? false,
            Description = response.Description,
        };
    }

    public async Task<VolumeInfo> CreateVolumeAsync(Core.Providers.CreateVolumeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new Amazon.EC2.Model.CreateVolumeRequest
        {
            SnapshotId = request.SnapshotId,
            AvailabilityZone = request.Zone,
            Size = request.SizeGiB,
            TagSpecifications = Ec2Mapping.SpecificationsFor(ResourceType.Volume, request.Tags),
            // CreateVolume is the one call with an idempotency token: a retried attempt never makes a second volume.
            ClientToken = Guid.NewGuid().ToString("N"),
        };
        var response = await CallAsync(ct => client.CreateVolumeAsync(call, ct), cancellationToken).ConfigureAwait(false);
        return Ec2Mapping.ToInfo(response.Volume, Region);
    }

    public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var request = new CreateTagsRequest { Resources = [resourceId], Tags = [.. tags.Select(t => new Tag(t.Key, t.Value))] };
        return CallAsync(ct => client.CreateTagsAsync(request, ct), cancellationToken,
            consistencyRetry: e => e.Kind == ProviderErrorKind.NotFound && IsRecent(resourceId));
    }

    // ---- the call shell --------------------------------------------------------------------------

    /// <summary>
    /// Every SDK call goes through here, so retry decisions live in one place: the SDK retries nothing itself
    /// (MaxErrorRetry 0); RequestLimitExceeded waits behind the region's <see cref="ThrottleGate"/> and is retried
    /// <see cref="AwsProviderOptions.ThrottleRetries"/> times before it reports Throttled (with RetryAfter); transient
    /// faults are retried twice quickly, except for creates and copies (<paramref name="retryTransient"/> false: a 500 or a
    /// timeout may come after EC2 made the snapshot, so only the executor, which looks the token up first, may retry
    /// them; a throttled request was refused before anything happened); <paramref name="consistencyRetry"/> errors are retried within the
    /// eventual-consistency window; everything else is thrown as its <see cref="ProviderErrorKind"/>.
    /// </summary>
    private async Task<T> CallAsync<T>(
        Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken, Func<ProviderException, bool>? consistencyRetry = null, bool retryTransient = true)
    {
        var started = time.GetTimestamp();
        var throttled = 0;
        var transient = 0;
        var consistencyDelay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
            ProviderException error;
            try
            {
                var result = await call(cancellationToken).ConfigureAwait(false);
                throttle.OnSuccess();
                return result;
            }
            catch (Exception e) when (Ec2Errors.Classify(e, cancellationToken) is { } classified)
            {
                error = classified;
            }

            switch (error.Kind)
            {
                case ProviderErrorKind.Throttled:
                    var wait = throttle.OnThrottled();
                    if (++throttled > options.ThrottleRetries)
                    {
                        throw Ec2Errors.Create(error.Kind, error.Code, error.Message, error.InnerException, wait);
                    }

                    continue;
                case ProviderErrorKind.Transient when retryTransient && ++transient <= TransientRetries:
                    await Task.Delay(TimeSpan.FromMilliseconds(50 * Math.Pow(4, transient) * (0.5 + Random.Shared.NextDouble())), time, cancellationToken).ConfigureAwait(false);
                    continue;
                case ProviderErrorKind.NotFound when consistencyRetry?.Invoke(error) == true && time.GetElapsedTime(started) < options.EventualConsistencyWindow:
                    await Task.Delay(consistencyDelay, time, cancellationToken).ConfigureAwait(false);
                    consistencyDelay = TimeSpan.FromTicks(Math.Min(consistencyDelay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                    continue;
                default:
                    throw error;
            }
        }
    }

    public void Dispose()
    {
        completion.Dispose();
        tagLookups.Dispose();
        copySlots.Dispose();
        client.Dispose();
    }
}
