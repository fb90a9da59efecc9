using Lifecycle.Scheduling.Storage;
using Npgsql;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// Several nodes write the same action rows on one PostgreSQL (claims, outcomes, job ids, each node in batches). When
/// two transactions wait for each other's row locks, PostgreSQL aborts one of them: the store runs that one again
/// rather than failing every write it carried.
/// </summary>
public sealed class PostgresConflictTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task ATransactionAbortedAsOneSideOfADeadlock_IsRunAgain_AndItsWritesAndTheOtherSidesBothHold()
    {
        var options = await postgres.CreateDatabaseAsync();
        var database = new LifecycleDatabase(options);
        await using (var setup = await database.OpenAsync())
        {
            await Execute(setup, null, "CREATE TABLE rows (id text PRIMARY KEY, value text NOT NULL); INSERT INTO rows VALUES ('a', ''), ('b', '')");
        }

        // The other side holds b, then asks for a, which ours holds; ours then asks for b: a cycle. Ours closes it,
        // and with the shorter deadlock_timeout it is the side PostgreSQL aborts.
        await using var other = await database.OpenAsync();
        await Execute(other, null, "SET deadlock_timeout = '60s'");
        await using var otherTransaction = await other.BeginTransactionAsync();
        await Execute(other, otherTransaction, "UPDATE rows SET value = 'other' WHERE id = 'b'");

        var attempts = 0;
        Task? otherSide = null;
        var ours = database.RetryConflictsAsync(async () =>
        {
            attempts++;
            await using var connection = await database.OpenAsync();
            await Execute(connection, null, "SET deadlock_timeout = '100ms'");
            await using var transaction = await connection.BeginTransactionAsync();
            await Execute(connection, transaction, "UPDATE rows SET value = 'ours' WHERE id = 'a'");
            if (attempts == 1)
            {
                otherSide = Task.Run(async () =>
                {
                    await Execute(other, otherTransaction, "UPDATE rows SET value = value || '+other' WHERE id = 'a'");
                    await otherTransaction.CommitAsync();
                });
                await WaitUntilBlockedAsync(database);
            }

            await Execute(connection, transaction, "UPDATE rows SET value = value || '+ours' WHERE id = 'b'");
            await transaction.CommitAsync();
        });
        // The other side ends either way (it goes on once ours is aborted); then ours must have been run again.
        await Task.WhenAny(ours);
        await otherSide!;
        await ours;

        Assert.Equal(2, attempts);
        await using var check = await database.OpenAsync();
        await using var read = new NpgsqlCommand("SELECT string_agg(id || '=' || value, ',' ORDER BY id) FROM rows", (NpgsqlConnection)check);
        // The other side committed first (a and b), then ours ran again over it.
        Assert.Equal("a=ours,b=other+ours", await read.ExecuteScalarAsync());
    }

    [Fact]
    public async Task AnotherError_IsNotRunAgain()
    {
        var database = new LifecycleDatabase(await postgres.CreateDatabaseAsync());
        var attempts = 0;
        var error = await Assert.ThrowsAsync<PostgresException>(() => database.RetryConflictsAsync(async () =>
        {
            attempts++;
            await using var connection = await database.OpenAsync();
            await Execute(connection, null, "SELECT * FROM no_such_table");
        }));
        Assert.Equal((PostgresErrorCodes.UndefinedTable, 1), (error.SqlState, attempts));
    }

    /// <summary>Until a session of the database waits for a row lock.</summary>
    private static async Task WaitUntilBlockedAsync(LifecycleDatabase database)
    {
        await using var connection = await database.OpenAsync();
        await Lifecycle.Testing.Waiting.Eventually.UntilAsync(async () =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", (NpgsqlConnection)connection);
            return (long)(await command.ExecuteScalarAsync())! > 0;
        }, "a session waiting for a row lock", TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(20));
    }

    private static async Task Execute(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync();
    }
}
