using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using Lifecycle.Aws.Tests.Support;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;

namespace Lifecycle.Aws.Tests;

/// <summary>
/// The executor looks a create's token up before every create: on EC2 that is one DescribeSnapshots per create. The
/// provider joins the lookups that arrive while one is out into one call with many values of the tag's filter.
/// </summary>
public sealed class TokenLookupTests
{
    [Fact]
    public async Task LookupsMadeWhileOneIsOut_GoTogetherInTheNextCall_AndEachGetsExactlyItsOwnSnapshots()
    {
        using var release = new ManualResetEventSlim(false);
        var valuesPerDescribe = new ConcurrentQueue<string[]>();
        var holding = 0;
        using var ec2 = new ScriptedEc2
        {
            OnCall = c =>
            {
                // The completion poller's describes (by snapshot id) are not lookups.
                var filter = c.Action == "DescribeSnapshots" ? c.Parameters.SingleOrDefault(p => p.Value == "tag:" + OwnershipTags.Token).Key : null;
                if (filter is null)
                {
                    return;
                }

                valuesPerDescribe.Enqueue([.. c.Values(filter[..^5] + ".Value.")]);
                if (Interlocked.Exchange(ref holding, 1) == 0)
                {
                    // The first lookup's call is held until the others have queued behind it.
                    release.Wait(TimeSpan.FromSeconds(30));
                }
            },
        };
        using var registry = Scripted.Registry(ec2);
        var provider = registry.Provider(Scripted.Region);
        var byToken = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < 10; i++)
        {
            var tags = ImmutableSortedDictionary<string, string>.Empty.Add(OwnershipTags.Token, $"t{i}").Add("other", "x");
            byToken[$"t{i}"] = (await provider.CreateSnapshotAsync(new CreateSnapshotRequest($"vol-{i}", tags))).Id;
        }

        var first = Lookup(provider, "t0");
        await Scripted.UntilAsync(() => !valuesPerDescribe.IsEmpty, "the first lookup's call");
        var others = Enumerable.Range(1, 9).Select(i => $"t{i}").Append("t3").Append("t-unknown").Select(t => (Token: t, Found: Lookup(provider, t))).ToList();
        Assert.False(first.IsCompleted);
        release.Set();

        Assert.Equal([byToken["t0"]], (await first).Select(s => s.Id));
        foreach (var (token, found) in others)
        {
            Assert.Equal(byToken.TryGetValue(token, out var id) ? [id] : [], (await found).Select(s => s.Id));
        }

        // Eleven lookups after the first, ten distinct tokens: one more call, not eleven.
        Assert.Equal(2, valuesPerDescribe.Count);
        Assert.Equal(["t0"], valuesPerDescribe.First());
        Assert.Equal(10, valuesPerDescribe.Last().Length);
    }

    [Fact]
    public async Task AnErrorOfTheJoinedCall_ReachesEveryLookupInIt_AndTheNextLookupMakesANewCall()
    {
        var refuse = 1;
        using var ec2 = new ScriptedEc2
        {
            Intercept = c => c.Action == "DescribeSnapshots" && Volatile.Read(ref refuse) == 1
                ? ScriptedEc2.Error("UnauthorizedOperation", "scripted", HttpStatusCode.Forbidden)
                : null,
        };
        using var registry = Scripted.Registry(ec2);
        var provider = registry.Provider(Scripted.Region);

        var lookups = Enumerable.Range(0, 5).Select(i => Lookup(provider, $"t{i}")).ToList();
        foreach (var lookup in lookups)
        {
            Assert.Equal(ProviderErrorKind.Unauthorized, (await Assert.ThrowsAsync<ProviderException>(() => lookup)).Kind);
        }

        Volatile.Write(ref refuse, 0);
        Assert.Empty(await Lookup(provider, "t0"));
    }

    private static Task<ImmutableArray<Core.Inventory.SnapshotInfo>> Lookup(ISnapshotProvider provider, string token) =>
        provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key(OwnershipTags.Token, token) });
}
