using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;
using Microsoft.Data.Sqlite;
using static Lifecycle.LocalEngine.Tests.EngineTestData;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// The catalog's tag index (tags by key and value): DescribeSnapshots with a tag filter finds exactly the snapshots
/// carrying the tag now, after creates, tagging, untagging and deletes, walks the index instead of the catalog, and a
/// catalog written before the index existed is migrated on open.
/// </summary>
public sealed class TagIndexTests
{
    private const string TokenKey = "lifecycle:token";

    private static ImmutableSortedDictionary<string, string> Tags(params (string Key, string Value)[] tags) =>
        tags.ToImmutableSortedDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);

    private static SnapshotQuery ByTag(string key, params string[] values) =>
        new() { Tags = new TagFilter(ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal).Add(key, [.. values])) };

    private static async Task<List<string>> IdsWithTagAsync(LocalRegion region, string key, params string[] values) =>
        [.. (await region.DescribeSnapshotsAsync(ByTag(key, values))).Select(s => s.Id).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task TagLookup_FindsEachSnapshotByItsToken_AmongManySnapshots()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.CreateVolumeAsync("a", Tags());
        var byToken = new Dictionary<string, string>();
        for (var i = 0; i < 40; i++)
        {
            var token = $"token-{i}";
            byToken[token] = (await SnapshotAsync(f.Local, volume.Id, (TokenKey, token), ("lifecycle:policy", "p"))).Id;
        }

        foreach (var (token, id) in byToken)
        {
            var found = await f.Local.DescribeSnapshotsAsync(ByTag(TokenKey, token));
            var one = Assert.Single(found);
            Assert.Equal(id, one.Id);
            Assert.Equal(token, one.Tags[TokenKey]);
            Assert.Equal("p", one.Tags["lifecycle:policy"]);
        }

        Assert.Empty(await IdsWithTagAsync(f.Local, TokenKey, "token-none"));
        Assert.Equal(40, (await f.Local.DescribeSnapshotsAsync(ByTag("lifecycle:policy"))).Length);
        Assert.Equal(
            [.. new[] { byToken["token-3"], byToken["token-7"] }.Order(StringComparer.Ordinal)],
            await IdsWithTagAsync(f.Local, TokenKey, "token-3", "token-7"));
    }

    [Fact]
    public async Task TagLookup_FollowsTaggingUntaggingAndDeletes()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.CreateVolumeAsync("a", Tags(("env", "prod")));
        var first = await SnapshotAsync(f.Local, volume.Id, ("team", "blue"));
        var second = await SnapshotAsync(f.Local, volume.Id, ("team", "red"));

        Assert.Equal([first.Id], await IdsWithTagAsync(f.Local, "team", "blue"));

        // retag: the old value no longer finds it, the new one does
        await f.Local.CreateTagsAsync(first.Id, Tags(("team", "red"), ("extra", "x")));
        Assert.Empty(await IdsWithTagAsync(f.Local, "team", "blue"));
        Assert.Equal([.. new[] { first.Id, second.Id }.Order(StringComparer.Ordinal)], await IdsWithTagAsync(f.Local, "team", "red"));
        Assert.Equal([first.Id], await IdsWithTagAsync(f.Local, "extra"));

        // untag
        await f.Local.DeleteTagsAsync(first.Id, ["extra"]);
        Assert.Empty(await IdsWithTagAsync(f.Local, "extra"));

        // a volume's tag is not a snapshot's
        Assert.Empty(await IdsWithTagAsync(f.Local, "env", "prod"));

        // delete: gone from the lookup
        await f.Local.DeleteSnapshotAsync(second.Id);
        Assert.Equal([first.Id], await IdsWithTagAsync(f.Local, "team", "red"));

        // a filter on two keys needs both
        await f.Local.CreateTagsAsync(first.Id, Tags(("extra", "y")));
        Assert.Equal([first.Id], (await f.Local.DescribeSnapshotsAsync(new SnapshotQuery
        {
            Tags = new TagFilter(ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal)
                .Add("team", ["red"]).Add("extra", ["y"])),
        })).Select(s => s.Id));
        Assert.Empty(await f.Local.DescribeSnapshotsAsync(new SnapshotQuery
        {
            Tags = new TagFilter(ImmutableSortedDictionary.Create<string, ImmutableArray<string>>(StringComparer.Ordinal)
                .Add("team", ["red"]).Add("extra", ["z"])),
        }));
    }

    [Fact]
    public async Task TagLookup_CombinesWithVolumeAndIdFilters()
    {
        await using var f = new LocalProviderFixture();
        var a = await f.CreateVolumeAsync("a", Tags());
        var b = await f.CreateVolumeAsync("a", Tags());
        var onA = await SnapshotAsync(f.Local, a.Id, ("k", "v"));
        var onB = await SnapshotAsync(f.Local, b.Id, ("k", "v"));

        var query = ByTag("k", "v");
        Assert.Equal([onB.Id], (await f.Local.DescribeSnapshotsAsync(query with { VolumeIds = [b.Id] })).Select(s => s.Id));
        Assert.Equal([onA.Id], (await f.Local.DescribeSnapshotsAsync(query with { SnapshotIds = [onA.Id] })).Select(s => s.Id));
        Assert.Empty(await f.Local.DescribeSnapshotsAsync(query with { SnapshotIds = [onA.Id], VolumeIds = [b.Id] }));

        // the unfiltered read (the inventory) still returns everything in creation order
        Assert.Equal([onA.Id, onB.Id], (await f.Local.DescribeSnapshotsAsync()).Select(s => s.Id));
    }

    [Fact]
    public async Task TokenLookup_UsesTheTagIndex()
    {
        await using var f = new LocalProviderFixture();
        var plan = f.Local.ExplainSnapshotQuery(ByTag(TokenKey, "some-token"));
        Assert.Contains(plan, line => line.Contains("tags_by_key_value", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, line => line.StartsWith("SCAN snapshots", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ClockCheck_BeforeEveryDescribe_WalksTheDeadlineIndexes_NotTheSnapshots()
    {
        await using var f = new LocalProviderFixture();
        var plan = f.Local.ExplainClockCheck();
        Assert.Contains(plan, line => line.Contains("snapshots_by_restore_expiry", StringComparison.Ordinal));
        Assert.Contains(plan, line => line.Contains("snapshots_by_recycle_exit", StringComparison.Ordinal));
        Assert.Contains(plan, line => line.Contains("fast_restore_by_disabled_at", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, ScansATable);
    }

    private static bool ScansATable(string planLine) =>
        planLine.StartsWith("SCAN snapshots", StringComparison.Ordinal) || planLine.StartsWith("SCAN fast_restore", StringComparison.Ordinal);

    [Fact]
    public async Task CatalogWithoutTheIndex_IsMigratedOnOpen_AndKeepsItsSnapshots()
    {
        await using var f = new LocalProviderFixture();
        var volume = await f.CreateVolumeAsync("a", Tags());
        var snapshot = await SnapshotAsync(f.Local, volume.Id, (TokenKey, "old-token"));
        var catalogPath = Path.Combine(f.DataDirectory, "regions", f.Region, "catalog.db");
        Assert.True(File.Exists(catalogPath), catalogPath);

        // Turn the catalog back into what the first release wrote: schema version 1, no tag index.
        f.Reopen(() =>
        {
            using var connection = new SqliteConnection($"Data Source={catalogPath};Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP INDEX tags_by_key_value; DROP INDEX snapshots_by_restore_expiry; DROP INDEX snapshots_by_recycle_exit;"
                + " DROP INDEX fast_restore_by_disabled_at; DROP INDEX tags_by_key; DROP INDEX snapshots_by_seq; DROP INDEX snapshots_by_volume;"
                + " PRAGMA user_version=1;";
            command.ExecuteNonQuery();
        });

        using (var connection = new SqliteConnection($"Data Source={catalogPath};Pooling=False;Mode=ReadOnly"))
        {
            connection.Open();
            using var version = connection.CreateCommand();
            version.CommandText = "PRAGMA user_version";
            Assert.Equal((long)Catalog.RegionCatalog.SchemaVersion, (long)version.ExecuteScalar()!);
            using var index = connection.CreateCommand();
            index.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='index'"
                + " AND name IN ('tags_by_key_value', 'tags_by_key', 'snapshots_by_seq', 'snapshots_by_volume')";
            Assert.Equal(4L, (long)index.ExecuteScalar()!);
        }

        var found = Assert.Single(await f.Local.DescribeSnapshotsAsync(ByTag(TokenKey, "old-token")));
        Assert.Equal(snapshot.Id, found.Id);
        Assert.Equal(SnapshotState.Completed, found.State);
        Assert.Contains(f.Local.ExplainSnapshotQuery(ByTag(TokenKey, "old-token")), line => line.Contains("tags_by_key_value", StringComparison.Ordinal));
        Assert.DoesNotContain(f.Local.ExplainClockCheck(), ScansATable);
    }
}
