using System.Collections.Immutable;
using System.Globalization;
using Amazon.EC2.Model;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Ec2 = Amazon.EC2;
using Filter = Amazon.EC2.Model.Filter;
using SnapshotInfo = Lifecycle.Core.Inventory.SnapshotInfo;
using SnapshotState = Lifecycle.Core.Inventory.SnapshotState;
using StorageTier = Lifecycle.Core.Inventory.StorageTier;
using VolumeState = Lifecycle.Core.Inventory.VolumeState;

namespace Lifecycle.Aws.Mapping;

/// <summary>EC2 model objects to and from the seam's records.</summary>
internal static class Ec2Mapping
{
    /// <summary>Tags the provider adds to a copy (EC2 gives a copy an arbitrary volume id and no link to its source).</summary>
    public const string SourceVolumeTag = OwnershipTags.SourceVolume;
    public const string SourceSnapshotTag = OwnershipTags.SourceSnapshot;
    public const string SourceRegionTag = OwnershipTags.SourceRegion;

    /// <summary>EC2 accepts at most 200 values in one filter.</summary>
    public const int FilterValueLimit = 200;

    public static ImmutableSortedDictionary<string, string> TagsOf(IEnumerable<Tag>? tags) =>
        tags is null
            ? ImmutableSortedDictionary<string, string>.Empty
            : tags.Where(t => t.Key is not null).ToImmutableSortedDictionary(t => t.Key, t => t.Value ?? "", StringComparer.Ordinal);

    public static List<TagSpecification> SpecificationsFor(Ec2.ResourceType type, IEnumerable<KeyValuePair<string, string>> tags)
    {
        var list = tags.Select(t => new Tag(t.Key, t.Value)).ToList();
        return list.Count == 0 ? [] : [new TagSpecification { ResourceType = type, Tags = list }];
    }

    /// <summary>Server-side tag filters: <c>tag:KEY</c> with values, <c>tag-key</c> when any value matches.</summary>
    public static List<Filter> FiltersFor(TagFilter? filter)
    {
        var filters = new List<Filter>();
        if (filter is null)
        {
            return filters;
        }

        foreach (var (key, values) in filter.Tags)
        {
            filters.Add(values.IsDefaultOrEmpty ? new Filter("tag-key", [key]) : new Filter("tag:" + key, [.. values]));
        }

        return filters;
    }

    public static SnapshotState StateOf(string? state) => state switch
    {
        "pending" => SnapshotState.Pending,
        "completed" => SnapshotState.Completed,
        "error" => SnapshotState.Error,
        "recoverable" => SnapshotState.Recoverable,
        "recovering" => SnapshotState.Recovering,
        _ => SnapshotState.Error,
    };

    public static int ProgressOf(string? progress) =>
        int.TryParse(progress?.TrimEnd('%'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? Math.Clamp(value, 0, 100) : 0;

    public static DateTimeOffset? Utc(DateTime? value) =>
        value is null ? null : new DateTimeOffset(DateTime.SpecifyKind(value.Value.Kind == DateTimeKind.Local ? value.Value.ToUniversalTime() : value.Value, DateTimeKind.Utc));

    public static SnapshotInfo ToInfo(Snapshot s, string region)
    {
        var tags = TagsOf(s.Tags);
        return Copied(new SnapshotInfo
        {
            Id = s.SnapshotId,
            VolumeId = s.VolumeId ?? "",
            Region = region,
            StartTime = Utc(s.StartTime) ?? DateTimeOffset.UnixEpoch,
            State = StateOf(s.State?.Value),
            Progress = ProgressOf(s.Progress),
            Tier = s.StorageTier?.Value == "archive" ? StorageTier.Archive : StorageTier.Standard,
            RestoreExpiryTime = Utc(s.RestoreExpiryTime),
            VolumeSizeGiB = s.VolumeSize ?? 0,
            FullSizeBytes = s.FullSnapshotSizeInBytes,
            Tags = tags,
            Encrypted = s.Encrypted ?? false,
            KeyId = s.KmsKeyId,
            Description = s.Description,
        });
    }

    public static SnapshotInfo ToInfo(Ec2.Model.SnapshotInfo s, string region) => Copied(new Core.Inventory.SnapshotInfo
    {
        Id = s.SnapshotId,
        VolumeId = s.VolumeId ?? "",
        Region = region,
        StartTime = Utc(s.StartTime) ?? DateTimeOffset.UnixEpoch,
        State = StateOf(s.State?.Value),
        Progress = ProgressOf(s.Progress),
        VolumeSizeGiB = s.VolumeSize ?? 0,
        Tags = TagsOf(s.Tags),
        Encrypted = s.Encrypted ?? false,
        Description = s.Description,
    });

    /// <summary>
    /// A copy names its source through the tags set at CopySnapshot; its <see cref="SnapshotInfo.VolumeId"/> stays what
    /// EC2 reports (an arbitrary id for copies: retention groups them by the lifecycle:source-volume tag).
    /// </summary>
    private static SnapshotInfo Copied(SnapshotInfo info) =>
        info.Tags.TryGetValue(SourceSnapshotTag, out var source)
            ? info with { SourceSnapshotId = source, SourceRegion = info.Tags.GetValueOrDefault(SourceRegionTag) }
            : info;

    public static VolumeState VolumeStateOf(string? state) => state switch
    {
        "creating" => VolumeState.Creating,
        "available" => VolumeState.Available,
        "in-use" => VolumeState.InUse,
        "deleting" => VolumeState.Deleting,
        "deleted" => VolumeState.Deleted,
        _ => VolumeState.Error,
    };

    public static VolumeInfo ToInfo(Volume v, string region)
    {
        var attachment = v.Attachments?.FirstOrDefault(a => a.InstanceId is not null);
        return new VolumeInfo
        {
            Id = v.VolumeId,
            Region = region,
            Zone = v.AvailabilityZone ?? "",
            SizeGiB = v.Size ?? 0,
            State = VolumeStateOf(v.State?.Value),
            Tags = TagsOf(v.Tags),
            InstanceId = attachment?.InstanceId,
            Device = attachment?.Device,
            Encrypted = v.Encrypted ?? false,
            KeyId = v.KmsKeyId,
            SnapshotId = string.IsNullOrEmpty(v.SnapshotId) ? null : v.SnapshotId,
        };
    }

    public static FastRestoreState FastRestoreStateOf(string? state) => state switch
    {
        "enabling" => FastRestoreState.Enabling,
        "optimizing" => FastRestoreState.Optimizing,
        "enabled" => FastRestoreState.Enabled,
        "disabling" => FastRestoreState.Disabling,
        _ => FastRestoreState.Disabled,
    };

    public static DateTimeOffset Since(FastRestoreState state, DateTime? enabling, DateTime? optimizing, DateTime? enabled, DateTime? disabling, DateTime? disabled) =>
        (state switch
        {
            FastRestoreState.Enabling => Utc(enabling),
            FastRestoreState.Optimizing => Utc(optimizing),
            FastRestoreState.Enabled => Utc(enabled),
            FastRestoreState.Disabling => Utc(disabling),
            _ => Utc(disabled),
        }) ?? Utc(enabling) ?? DateTimeOffset.UnixEpoch;

    public static IEnumerable<List<string>> Chunks(IEnumerable<string> ids, int size = FilterValueLimit) =>
        ids.Distinct(StringComparer.Ordinal).Chunk(size).Select(c => c.ToList());
}
