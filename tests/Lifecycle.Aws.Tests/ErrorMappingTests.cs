using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using Lifecycle.Aws.Errors;
using Lifecycle.Aws.Tests.Support;
using Lifecycle.Core.Providers;
using Microsoft.Extensions.Time.Testing;

namespace Lifecycle.Aws.Tests;

public sealed class ErrorMappingTests
{
    private static readonly ImmutableSortedDictionary<string, string> NoTags = ImmutableSortedDictionary<string, string>.Empty;

    [Theory]
    [InlineData("RequestLimitExceeded", 503, ProviderErrorKind.Throttled)]
    [InlineData("EC2ThrottledException", 503, ProviderErrorKind.Throttled)]
    [InlineData("SnapshotCreationPerVolumeRateExceeded", 400, ProviderErrorKind.RetryLater)]
    [InlineData("ConcurrentSnapshotLimitExceeded", 400, ProviderErrorKind.RetryLater)]
    [InlineData("PendingSnapshotLimitExceeded", 400, ProviderErrorKind.RetryLater)]
    [InlineData("ResourceLimitExceeded", 400, ProviderErrorKind.RetryLater)]
    [InlineData("SnapshotLimitExceeded", 400, ProviderErrorKind.LimitExceeded)]
    [InlineData("InvalidSnapshot.NotFound", 400, ProviderErrorKind.NotFound)]
    [InlineData("InvalidVolume.NotFound", 400, ProviderErrorKind.NotFound)]
    [InlineData("InvalidInstanceID.NotFound", 400, ProviderErrorKind.NotFound)]
    [InlineData("IncorrectState", 400, ProviderErrorKind.IncorrectState)]
    [InlineData("InvalidSnapshot.InUse", 400, ProviderErrorKind.IncorrectState)]
    [InlineData("IncorrectInstanceState", 400, ProviderErrorKind.IncorrectState)]
    [InlineData("InvalidParameterValue", 400, ProviderErrorKind.InvalidParameter)]
    [InlineData("InvalidParameterCombination", 400, ProviderErrorKind.InvalidParameter)]
    [InlineData("MissingParameter", 400, ProviderErrorKind.InvalidParameter)]
    [InlineData("InvalidSnapshotID.Malformed", 400, ProviderErrorKind.InvalidParameter)]
    [InlineData("UnauthorizedOperation", 403, ProviderErrorKind.Unauthorized)]
    [InlineData("AuthFailure", 401, ProviderErrorKind.Unauthorized)]
    [InlineData("InternalError", 500, ProviderErrorKind.Transient)]
    [InlineData("Unavailable", 503, ProviderErrorKind.Transient)]
    [InlineData("SomethingNew", 502, ProviderErrorKind.Transient)]
    [InlineData("SomethingNew", 400, ProviderErrorKind.Unknown)]
    public void KindOf_ClassifiesEc2Codes(string code, int status, ProviderErrorKind kind) =>
        Assert.Equal(kind, Ec2Errors.KindOf(code, (HttpStatusCode)status));

    [Theory]
    [InlineData("IncorrectState", 400, ProviderErrorKind.IncorrectState, 1)]
    [InlineData("InvalidSnapshot.NotFound", 400, ProviderErrorKind.NotFound, 1)]
    [InlineData("UnauthorizedOperation", 403, ProviderErrorKind.Unauthorized, 1)]
    [InlineData("InternalError", 500, ProviderErrorKind.Transient, 3)]
    [InlineData("RequestLimitExceeded", 503, ProviderErrorKind.Throttled, 4)]
    public async Task AProviderCall_ReportsTheEc2Code_WithItsKind_AfterTheRetriesOfThatKind(string code, int status, ProviderErrorKind kind, int attempts)
    {
        using var ec2 = new ScriptedEc2 { Intercept = c => c.Action == "ModifySnapshotTier" ? ScriptedEc2.Error(code, "scripted", (HttpStatusCode)status) : null };
        using var registry = Scripted.Registry(ec2);

        var error = await Assert.ThrowsAsync<ProviderException>(() => registry.For(Scripted.Region).ArchiveSnapshotAsync("snap-0123456789abcdef0"));
        Assert.Equal((kind, code), (error.Kind, error.Code));
        Assert.Equal(attempts, ec2.Count("ModifySnapshotTier"));
        Assert.Equal(kind == ProviderErrorKind.Throttled, error.RetryAfter is not null);
    }

    [Fact]
    public async Task CreateSnapshot_AnsweredWithA500_IsNotRetriedByTheProvider_ForItMayHaveBeenMade()
    {
        using var ec2 = new ScriptedEc2 { Intercept = c => c.Action == "CreateSnapshot" ? ScriptedEc2.Error("InternalError", "boom", HttpStatusCode.InternalServerError) : null };
        using var registry = Scripted.Registry(ec2);

        var error = await Assert.ThrowsAsync<ProviderException>(() => registry.For(Scripted.Region).CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags)));
        Assert.Equal(ProviderErrorKind.Transient, error.Kind);
        Assert.Equal(1, ec2.Count("CreateSnapshot"));
    }

    [Fact]
    public async Task Throttling_ThatClears_IsRetriedBehindTheRegionsBackoff_AndSucceeds()
    {
        var throttles = 2;
        using var ec2 = new ScriptedEc2
        {
            Intercept = c => c.Action == "ModifySnapshotTier" && Interlocked.Decrement(ref throttles) >= 0
                ? ScriptedEc2.Error("RequestLimitExceeded", "slow down", HttpStatusCode.ServiceUnavailable)
                : c.Action == "ModifySnapshotTier" ? ScriptedEc2.Xml(c.Action, "<snapshotId>snap-1</snapshotId>") : null,
        };
        using var registry = Scripted.Registry(ec2);

        await registry.For(Scripted.Region).ArchiveSnapshotAsync("snap-1");
        Assert.Equal(3, ec2.Count("ModifySnapshotTier"));
    }

    [Fact]
    public async Task DeleteSnapshot_OfASnapshotAlreadyGone_IsSuccess()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2);

        await registry.For(Scripted.Region).DeleteSnapshotAsync("snap-0123456789abcdef0");
        Assert.Equal(1, ec2.Count("DeleteSnapshot"));
    }

    [Fact]
    public async Task DescribeSnapshots_OfAJustCreatedSnapshot_AsksAgainUntilEc2ListsIt()
    {
        using var ec2 = new ScriptedEc2 { HideNewSnapshotsFor = 3 };
        using var registry = Scripted.Registry(ec2);
        var provider = registry.For(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));

        var found = await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [created.Id] });
        Assert.Equal(created.Id, Assert.Single(found).Id);
        Assert.True(ec2.Count("DescribeSnapshots") >= 4, $"{ec2.Count("DescribeSnapshots")} describes");
    }

    [Fact]
    public async Task DescribeSnapshots_OfAnIdNobodyCreatedHere_IsEmptyAtOnce()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2);

        Assert.Empty(await registry.For(Scripted.Region).DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = ["snap-0123456789abcdef0"] }));
        Assert.Equal(1, ec2.Count("DescribeSnapshots"));
    }

    [Fact]
    public async Task DeleteSnapshot_OfAJustCreatedSnapshot_RetriesNotFound_InsteadOfTakingItForGone()
    {
        var notYet = 2;
        using var ec2 = new ScriptedEc2
        {
            Intercept = c => c.Action == "DeleteSnapshot" && Interlocked.Decrement(ref notYet) >= 0 ? ScriptedEc2.Error("InvalidSnapshot.NotFound", "not yet") : null,
        };
        using var registry = Scripted.Registry(ec2);
        var provider = registry.For(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));

        await provider.DeleteSnapshotAsync(created.Id);
        Assert.Empty(ec2.Snapshots);
        Assert.Equal(3, ec2.Count("DeleteSnapshot"));
    }

    [Fact]
    public async Task SnapshotCreationPerVolumeRateExceeded_IsRetryLater_WithTheInterval()
    {
        using var ec2 = new ScriptedEc2 { Intercept = c => c.Action == "CreateSnapshot" ? ScriptedEc2.Error("SnapshotCreationPerVolumeRateExceeded", "too soon") : null };
        using var registry = Scripted.Registry(ec2, o => o with { MinimumSnapshotInterval = TimeSpan.FromSeconds(15) });

        var error = await Assert.ThrowsAsync<ProviderException>(() => registry.For(Scripted.Region).CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags)));
        Assert.Equal((ProviderErrorKind.RetryLater, "SnapshotCreationPerVolumeRateExceeded"), (error.Kind, error.Code));
        Assert.Equal(TimeSpan.FromSeconds(15), error.RetryAfter);
    }

    [Fact]
    public async Task CreateSnapshot_OfOneVolume_WaitsTheMinimumIntervalSinceTheLastCreate()
    {
        // On a fake clock that moves only when the test moves it: the second create is sent when the clock has moved a
        // whole interval past the first, whatever the machine's load (a wall-clock measure also counts HTTP latency).
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-06T12:00:00Z", CultureInfo.InvariantCulture));
        var sent = new List<DateTimeOffset>();
        using var ec2 = new ScriptedEc2 { OnCall = c => { if (c.Action == "CreateSnapshot") { lock (sent) { sent.Add(clock.GetUtcNow()); } } } };
        using var registry = Scripted.Registry(ec2, o => o with { MinimumSnapshotInterval = TimeSpan.FromSeconds(15), TimeProvider = clock });
        var provider = registry.For(Scripted.Region);

        await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        var second = provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        await Scripted.UntilAsync(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            return second.IsCompleted;
        }, "the second create to be sent");
        await second;

        Assert.Equal(2, sent.Count);
        Assert.True(sent[1] - sent[0] >= TimeSpan.FromSeconds(15), $"second create after {(sent[1] - sent[0]).TotalSeconds} s of the clock");
    }

    [Fact]
    public async Task CreateSnapshot_OfAVolumeWithTooManyPendingSnapshots_IsRetryLater_WithoutCallingEc2()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2, o => o with { MaxPendingSnapshotsPerVolume = 2 });
        var provider = registry.Provider(Scripted.Region);
        await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
        await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));

        var error = await Assert.ThrowsAsync<ProviderException>(() => provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags)));
        Assert.Equal(ProviderErrorKind.RetryLater, error.Kind);
        Assert.Equal(2, ec2.Count("CreateSnapshot"));
        await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-2", NoTags));

        // Once the poller sees them complete, the volume takes creates again.
        ec2.CompleteAll();
        foreach (var s in ec2.Snapshots)
        {
            await provider.WaitForCompletionAsync(s.Id);
        }

        await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", NoTags));
    }
}

/// <summary>What goes on the wire: the inventory reads only what it asks for, in pages; copies carry their key.</summary>
public sealed class WireTests
{
    [Fact]
    public async Task DescribeSnapshots_AsksForOwnSnapshotsOnly_FiltersTagsOnTheServer_AndFollowsEveryPage()
    {
        var calls = new System.Collections.Concurrent.ConcurrentQueue<Ec2Call>();
        using var ec2 = new ScriptedEc2
        {
            Intercept = c =>
            {
                if (c.Action != "DescribeSnapshots")
                {
                    return null;
                }

                calls.Enqueue(c);
                var page = c.Parameters.GetValueOrDefault("NextToken");
                var id = page is null ? "snap-00000000000000001" : page == "p2" ? "" : "snap-00000000000000002";
                var item = id.Length == 0 ? "" : $"<item><snapshotId>{id}</snapshotId><volumeId>vol-1</volumeId><status>completed</status><startTime>2026-12-01T00:00:00.000Z</startTime><progress>100%</progress></item>";
                var next = page is null ? "<nextToken>p2</nextToken>" : page == "p2" ? "<nextToken>p3</nextToken>" : "";
                return ScriptedEc2.Xml(c.Action, $"<snapshotSet>{item}</snapshotSet>{next}");
            },
        };
        using var registry = Scripted.Registry(ec2);
        var filter = new TagFilter(ImmutableSortedDictionary<string, ImmutableArray<string>>.Empty.Add("env", ["prod", "dev"]).Add("backup", []));

        var found = await registry.For(Scripted.Region).DescribeSnapshotsAsync(new SnapshotQuery { Tags = filter, VolumeIds = ["vol-1"] });

        Assert.Equal(["snap-00000000000000001", "snap-00000000000000002"], found.Select(s => s.Id).Order());
        Assert.Equal(3, calls.Count); // an empty middle page with a token is followed, not taken for the end
        Assert.All(calls, c =>
        {
            Assert.Equal("self", c.Parameters["Owner.1"]);
            Assert.Equal("1000", c.Parameters["MaxResults"]);
            var filters = c.Parameters.Where(p => p.Key.EndsWith(".Name", StringComparison.Ordinal)).ToDictionary(p => p.Value, p => c.Values(p.Key[..^5] + ".Value.").ToList());
            Assert.Equal(["backup"], filters["tag-key"]);
            Assert.Equal(["prod", "dev"], filters["tag:env"]);
            Assert.Equal(["vol-1"], filters["volume-id"]);
        });
    }

    [Fact]
    public async Task CopySnapshot_SendsEveryRequestTag_AndTheCopysOwnKey()
    {
        Ec2Call? copy = null;
        var sourceLookups = 0;
        using var ec2 = new ScriptedEc2
        {
            OnCall = c =>
            {
                if (c.Action == "CopySnapshot")
                {
                    copy = c;
                }
                else if (c.Action == "DescribeSnapshots" && c.Region == Scripted.Region)
                {
                    Interlocked.Increment(ref sourceLookups);
                }
            },
        };
        using var registry = Scripted.Registry(ec2);
        var tags = ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:policy", "p").Add("lifecycle:source-volume", "vol-9").Add("lifecycle:token", "t");

        var result = await registry.For(Scripted.OtherRegion).CopySnapshotAsync(new CopySnapshotRequest(Scripted.Region, "snap-1", tags, Encrypted: true, KeyId: "alias/dr"));

        Assert.NotNull(copy);
        Assert.Equal(("true", "alias/dr", "snap-1", Scripted.Region), (copy.Parameters["Encrypted"], copy.Parameters["KmsKeyId"], copy.Parameters["SourceSnapshotId"], copy.Parameters["SourceRegion"]));
        Assert.Equal("snapshot", copy.Parameters["TagSpecification.1.ResourceType"]);
        var sent = copy.Values("TagSpecification.1.Tag.").ToList();
        foreach (var (key, value) in tags.Add("lifecycle:source-snapshot", "snap-1").Add("lifecycle:source-region", Scripted.Region))
        {
            Assert.Contains(key, sent);
            Assert.Contains(value, sent);
        }

        // The executor's source-volume tag spares the lookup in the source region (the completion poller describes the copy
        // in the destination region, whenever its first check comes).
        Assert.Equal(0, sourceLookups);
        Assert.Equal(("snap-1", Scripted.Region), (result.SourceSnapshotId, result.SourceRegion));
    }

    [Fact]
    public async Task DescribeSnapshots_OfAJustCreatedSnapshotOnceSeenAndThenDeleted_IsEmptyAtOnce()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2, o => o with { EventualConsistencyWindow = TimeSpan.FromMinutes(5) });
        var provider = registry.For(Scripted.Region);
        var created = await provider.CreateSnapshotAsync(new CreateSnapshotRequest("vol-1", ImmutableSortedDictionary<string, string>.Empty));
        Assert.Single(await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [created.Id] }));
        await provider.DeleteSnapshotAsync(created.Id);

        Assert.Empty(await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [created.Id] }).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
