using Dapper;
using Lifecycle.LocalEngine.Catalog;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// Catalog reads run on read-only connections of their own: a read made while a write transaction is open (e.g. during
/// its fsync) neither waits for it nor sees its rows; once the write commits, the next read sees them.
/// </summary>
public sealed class CatalogReadTests() : TempDirectoryTest("lifecycle-catalog-")
{
    private static long CountVolumes(RegionCatalog catalog) => catalog.Read(c => c.ExecuteScalar<long>("SELECT count(*) FROM volumes"));

    [Fact]
    public async Task Read_DuringAnOpenWrite_DoesNotWait_AndSeesOnlyCommittedRows()
    {
        using var catalog = new RegionCatalog(Path.Combine(TestDirectory, "catalog.db"));
        using var inserted = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var write = Task.Run(() => catalog.Write((c, tx) =>
        {
            c.Execute("INSERT INTO volumes(id, zone, size_bytes, encrypted, created_at) VALUES ('vol-1', 'z', 1, 0, 0)", transaction: tx);
            inserted.Set();
            release.Wait(TimeSpan.FromSeconds(30)); // the write stays open, holding the write lock
        }));

        Assert.True(inserted.Wait(TimeSpan.FromSeconds(30)));
        var read = Task.Run(() => CountVolumes(catalog));
        var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(read, finished); // with reads under the write lock, this read would wait for the release below
        Assert.Equal(0, await read);

        release.Set();
        await write;
        Assert.Equal(1, CountVolumes(catalog));
    }

    [Fact]
    public async Task ConcurrentReads_AndWrites_SeeEveryCommittedRow()
    {
        using var catalog = new RegionCatalog(Path.Combine(TestDirectory, "catalog.db"));
        var writes = Enumerable.Range(0, 50).Select(i => Task.Run(() =>
        {
            catalog.Write((c, tx) => c.Execute(
                "INSERT INTO volumes(id, zone, size_bytes, encrypted, created_at) VALUES (@id, 'z', 1, 0, 0)", new { id = $"vol-{i}" }, tx));
            // read-your-write from another connection: this write is committed, so any read started now sees it
            Assert.Equal(1, catalog.Read(c => c.ExecuteScalar<long>("SELECT count(*) FROM volumes WHERE id=@id", new { id = $"vol-{i}" })));
        }));
        await Task.WhenAll(writes);
        Assert.Equal(50, CountVolumes(catalog));
    }
}
