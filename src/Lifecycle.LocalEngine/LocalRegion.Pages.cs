using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine.Catalog;
using Microsoft.Data.Sqlite;

namespace Lifecycle.LocalEngine;

/// <summary>
/// One page of snapshots, in snapshot-id order, starting after <see cref="AfterId"/> (keyset paging: a page costs
/// about its own size in index reads, however many snapshots the region holds, and a walk over pages sees every
/// matching snapshot that exists throughout the walk exactly once). Filters combine with AND; the values of one
/// filter are alternatives.
/// </summary>
public sealed record SnapshotPageQuery
{
    public ImmutableArray<string> SnapshotIds { get; init; } = [];

    public ImmutableArray<string> VolumeIds { get; init; } = [];

    /// <summary>Every key must be present with one of its values (an empty value list: any value).</summary>
    public TagFilter? Tags { get; init; }

    /// <summary>The snapshot carries at least one of these keys (EC2's <c>tag-key</c> filter); empty: no condition.</summary>
    public ImmutableArray<string> AnyTagKeys { get; init; } = [];

    public ImmutableArray<SnapshotState> States { get; init; } = [];

    public ImmutableArray<StorageTier> Tiers { get; init; } = [];

    /// <summary>Only snapshots whose id sorts (ordinally) after this one; null starts at the first.</summary>
    public string? AfterId { get; init; }

    /// <summary>At most this many snapshots (1..10,000).</summary>
    public int Limit { get; init; } = 1000;
}

/// <summary>A page of snapshots; <see cref="HasMore"/> when a next page (after the last id of this one) may hold more.</summary>
public sealed record SnapshotPage(ImmutableArray<SnapshotInfo> Snapshots, bool HasMore);

public sealed partial class LocalRegion
{
    private const int MaxPageSize = 10_000;

    /// <summary>
    /// A page of live snapshots (not in the recycle bin) in id order. A tag condition, when there is one, drives the
    /// walk through the tag indexes (<c>tags_by_key_value</c> for one value or a few matching tags,
    /// <c>tags_by_key</c> otherwise: <see cref="NarrowTagMatches"/>), so a page of a tag filter over 100,000 snapshots
    /// reads about a page of index entries; tags and fast-restore states are read for the page's rows only.
    /// </summary>
    public async Task<SnapshotPage> DescribeSnapshotsPageAsync(SnapshotPageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit is < 1 or > MaxPageSize)
        {
            throw ProviderException.InvalidParameter($"page size must be 1..{MaxPageSize}, not {query.Limit}");
        }

        await ApplyClockAsync(cancellationToken).ConfigureAwait(false);
        var rows = _catalog.Read(c =>
        {
            var (driver, narrow) = PageDriver(c, query);
            var (sql, parameters) = SnapshotPageSql(query, driver, narrow);
            return c.Query<SnapshotRow>(sql, parameters).ToList();
        });
        var hasMore = rows.Count > query.Limit;
        if (hasMore)
        {
            rows.RemoveAt(rows.Count - 1);
        }

        var tags = TagsOfIds(rows.Select(r => r.Id));
        var fastRestore = FastRestoreOfIds(rows.Select(r => r.Id));
        var empty = ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);
        return new SnapshotPage(
            [.. rows.Select(r => ToInfo(r, tags.GetValueOrDefault(r.Id) ?? empty, fastRestore.GetValueOrDefault(r.Id) ?? ImmutableSortedDictionary<string, FastRestoreState>.Empty))],
            hasMore);
    }

    /// <summary>SQLite's plan for a page query (tests check that a tag page walks an index, not the snapshots).</summary>
    internal IReadOnlyList<string> ExplainSnapshotPage(SnapshotPageQuery query) => _catalog.Read(c =>
    {
        var (driver, narrow) = PageDriver(c, query);
        var (sql, parameters) = SnapshotPageSql(query, driver, narrow);
        return c.Query<(long Id, long Parent, long NotUsed, string Detail)>("EXPLAIN QUERY PLAN " + sql, parameters).Select(r => r.Detail).ToList();
    });

    /// <summary>
    /// A tag condition of several values that fewer tags than this match (a batch of token lookups) drives the walk
    /// through <c>tags_by_key_value</c>, one seek per value, and sorts its matches into id order; a broader one walks
    /// <c>tags_by_key</c> in id order and reads about a page per page. Walking the key for a narrow condition read every
    /// tag of that key: a batch of 20 token lookups in a region of 100,000 snapshots read 100,000 index entries.
    /// Settable for tests, which check both walks.
    /// </summary>
    internal int NarrowTagMatches { get; set; } = 4_000;

    /// <summary>
    /// Which tag condition of <paramref name="query"/> drives the walk (of several, the one fewest tags match: a
    /// policy's snapshots of one source volume walk that volume's tags, not the policy's), and whether it is a narrow
    /// one of several values (see <see cref="NarrowTagMatches"/>).
    /// </summary>
    private (int Driver, bool Narrow) PageDriver(SqliteConnection connection, SnapshotPageQuery query)
    {
        var tags = (query.Tags?.Tags ?? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty).ToList();
        if (tags.Count == 0 || (tags.Count == 1 && tags[0].Value.Length <= 1))
        {
            return (0, false);
        }

        var (driver, matches) = FewestMatches(connection, tags);
        return (driver, tags[driver].Value.Length > 1 && matches < NarrowTagMatches);
    }

    /// <summary>
    /// When each of <paramref name="volumeIds"/> was created (EC2's <c>createTime</c>; <see cref="VolumeInfo"/> does not
    /// carry it): the ids of one page of a describe, read by id.
    /// </summary>
    public IReadOnlyDictionary<string, DateTimeOffset> VolumeCreateTimes(IReadOnlyCollection<string> volumeIds) =>
        _catalog.Read(c => volumeIds.Distinct(StringComparer.Ordinal).Chunk(500)
                .SelectMany(ids => c.Query<(string Id, long CreatedAt)>("SELECT id, created_at FROM volumes WHERE id IN @ids", new { ids })).ToList())
            .ToDictionary(v => v.Id, v => FromMs(v.CreatedAt), StringComparer.Ordinal);

    private static (string Sql, DynamicParameters Parameters) SnapshotPageSql(SnapshotPageQuery query, int driver, bool narrow)
    {
        var parameters = new DynamicParameters();
        var conditions = new List<string> { "s.recycled_at IS NULL" };
        var tagConditions = (query.Tags?.Tags ?? ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty).ToList();
        var sql = new StringBuilder();
        string order;

        // The driving walk: a tag condition when there is one (an index in resource-id order; see PageDriver), else
        // the snapshots' own id index. CROSS JOIN keeps SQLite from reordering the join.
        if (tagConditions.Count > 0)
        {
            var (key, values) = tagConditions[driver];
            tagConditions.RemoveAt(driver);
            parameters.Add("driveKey", key);
            sql.Append("SELECT s.* FROM tags t INDEXED BY ").Append(values.Length == 1 || narrow ? "tags_by_key_value" : "tags_by_key")
                .Append(" CROSS JOIN snapshots s ON s.id = t.resource_id WHERE t.key = @driveKey");
            if (values.Length == 1)
            {
                sql.Append(" AND t.value = @driveValue");
                parameters.Add("driveValue", values[0]);
            }
            else if (!values.IsDefaultOrEmpty)
            {
                sql.Append(" AND t.value IN @driveValues");
                parameters.Add("driveValues", values.ToArray());
            }

            if (query.AfterId is not null)
            {
                sql.Append(" AND t.resource_id > @afterId");
            }

            order = "t.resource_id";
        }
        else if (query.AnyTagKeys.Length == 1)
        {
            parameters.Add("driveKey", query.AnyTagKeys[0]);
            sql.Append("SELECT s.* FROM tags t INDEXED BY tags_by_key CROSS JOIN snapshots s ON s.id = t.resource_id WHERE t.key = @driveKey");
            if (query.AfterId is not null)
            {
                sql.Append(" AND t.resource_id > @afterId");
            }

            order = "t.resource_id";
        }
        else
        {
            sql.Append("SELECT s.* FROM snapshots s WHERE 1=1");
            if (query.AfterId is not null)
            {
                sql.Append(" AND s.id > @afterId");
            }

            order = "s.id";
        }

        if (query.AfterId is not null)
        {
            parameters.Add("afterId", query.AfterId);
        }

        if (!query.SnapshotIds.IsDefaultOrEmpty)
        {
            conditions.Add("s.id IN (SELECT value FROM json_each(@snapshotIds))");
            parameters.Add("snapshotIds", JsonSerializer.Serialize(query.SnapshotIds));
        }

        if (!query.VolumeIds.IsDefaultOrEmpty)
        {
            conditions.Add("s.volume_id IN (SELECT value FROM json_each(@volumeIds))");
            parameters.Add("volumeIds", JsonSerializer.Serialize(query.VolumeIds));
        }

        for (var i = 0; i < tagConditions.Count; i++)
        {
            var (key, values) = tagConditions[i];
            var n = i.ToString(CultureInfo.InvariantCulture);
            parameters.Add("tagKey" + n, key);
            if (values.IsDefaultOrEmpty)
            {
                conditions.Add($"EXISTS (SELECT 1 FROM tags x WHERE x.resource_id = s.id AND x.key = @tagKey{n})");
            }
            else
            {
                parameters.Add("tagValues" + n, JsonSerializer.Serialize(values));
                conditions.Add($"EXISTS (SELECT 1 FROM tags x WHERE x.resource_id = s.id AND x.key = @tagKey{n} AND x.value IN (SELECT value FROM json_each(@tagValues{n})))");
            }
        }

        if (query.AnyTagKeys.Length > 1 || (query.AnyTagKeys.Length == 1 && order == "t.resource_id" && query.Tags?.Tags.Count > 0))
        {
            conditions.Add("EXISTS (SELECT 1 FROM tags k WHERE k.resource_id = s.id AND k.key IN (SELECT value FROM json_each(@anyKeys)))");
            parameters.Add("anyKeys", JsonSerializer.Serialize(query.AnyTagKeys));
        }

        if (!query.States.IsDefaultOrEmpty)
        {
            var states = query.States.Select(s => s switch
            {
                SnapshotState.Pending => CatalogValues.Pending,
                SnapshotState.Completed => CatalogValues.Completed,
                _ => CatalogValues.Error,
            }).Distinct().ToArray();
            conditions.Add("s.state IN @states");
            parameters.Add("states", states);
        }

        if (!query.Tiers.IsDefaultOrEmpty && query.Tiers.Distinct().Count() == 1)
        {
            // As ToInfo reports them: only 'archived' is the archive tier (a temporary restore reads as standard).
            conditions.Add(query.Tiers[0] == StorageTier.Archive ? "s.tier = 'archived'" : "s.tier <> 'archived'");
        }

        sql.Append(" AND ").Append(string.Join(" AND ", conditions)).Append(" ORDER BY ").Append(order).Append(" LIMIT @limitPlusOne");
        parameters.Add("limitPlusOne", query.Limit + 1);
        return (sql.ToString(), parameters);
    }
}
