using System.Collections.Immutable;
using Lifecycle.Aws.Configuration;
using Lifecycle.Aws.Tests.Support;
using Lifecycle.Core.Providers;
using SnapshotInfo = Lifecycle.Core.Inventory.SnapshotInfo;
using SnapshotState = Lifecycle.Core.Inventory.SnapshotState;

namespace Lifecycle.Aws.Tests;

public sealed class RegistryTests
{
    [Fact]
    public void Options_ReportEveryProblemAtOnce()
    {
        var errors = new AwsProviderOptions
        {
            Regions = [],
            EndpointUrl = new Uri("ftp://example.test/"),
            MaxConcurrentCopiesPerRegion = 0,
            CompletionPollInterval = TimeSpan.FromMilliseconds(1),
        }.Validate();
        Assert.Equal(4, errors.Count); // no region, the URL, copies, the poll interval
        Assert.Throws<ArgumentException>(() => new AwsProviderRegistry(new AwsProviderOptions()));
    }

    [Fact]
    public void For_ARegionNotConfigured_IsNotFound_AndAConfiguredOne_IsOneProviderForTheRegistrysLifetime()
    {
        using var ec2 = new ScriptedEc2();
        using var registry = Scripted.Registry(ec2);

        Assert.Equal(ProviderErrorKind.NotFound, Assert.Throws<ProviderException>(() => registry.For("us-east-1")).Kind);
        Assert.Same(registry.For(Scripted.Region), registry.For(Scripted.Region));
        Assert.Equal(Scripted.OtherRegion, registry.For(Scripted.OtherRegion).Region);
    }

    [Fact]
    public void AProfileThatDoesNotExist_IsUnauthorized_WhenTheFirstProviderIsMade()
    {
        using var registry = new AwsProviderRegistry(new AwsProviderOptions
        {
            Regions = ["eu-west-1"],
            Profile = "lifecycle-tests-no-such-profile-" + Guid.NewGuid().ToString("N"),
        });
        Assert.Equal(ProviderErrorKind.Unauthorized, Assert.Throws<ProviderException>(() => registry.For("eu-west-1")).Kind);
    }
}

public sealed class EndpointCompletionTests
{
    [Fact]
    public async Task WaitForCompletion_OfTenSnapshotsThroughTheEndpoint_CostsAFewBatchedDescribes_NotOnePerSnapshot()
    {
        await using var f = await EndpointProviderFixture.StartAsync();
        var provider = f.Registry.For(f.Region);
        var started = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var volume = await f.CreateVolumeAsync(f.Zone, ImmutableSortedDictionary<string, string>.Empty);
            started.Add((await provider.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty))).Id);
        }

        var before = f.Calls.Count(c => c.Call.Action == "DescribeSnapshots");
        var done = await Task.WhenAll(started.Select(id => provider.WaitForCompletionAsync(id)));
        var describes = f.Calls.Count(c => c.Call.Action == "DescribeSnapshots") - before;

        Assert.All(done, s => Assert.Equal(SnapshotState.Completed, s!.State));
        // Fewer describes than snapshots (one per snapshot would be 10 in the first poll round alone), however many
        // 100 ms rounds the engine's builds take (they start once creates have settled, 150 ms after the last one).
        Assert.InRange(describes, 1, started.Count - 1);
        // The batch: one describe named several pending ids in its snapshot-id filter.
        Assert.Contains(f.Calls, c => c.Call.Action == "DescribeSnapshots"
            && c.Call.Parameters.Any(p => p.Value == "snapshot-id" && c.Call.Values(p.Key[..^".Name".Length] + ".Value.").Count() >= 2));
    }
}

public sealed class EndpointInventoryTests
{
    [Fact]
    public async Task DescribeVolumes_MarksTheBootVolumeOfItsInstance_FromDescribeInstances()
    {
        await using var f = await EndpointProviderFixture.StartAsync();
        var boot = await f.CreateVolumeAsync(f.Zone, ImmutableSortedDictionary<string, string>.Empty.Add("role", "os"), "i-0123456789abcdef0", isBoot: true);
        var data = await f.CreateVolumeAsync(f.Zone, ImmutableSortedDictionary<string, string>.Empty.Add("role", "data"), "i-0123456789abcdef0");

        var volumes = await f.Registry.For(f.Region).DescribeVolumesAsync(TagFilter.Key("role"));
        Assert.Equal((true, "i-0123456789abcdef0"), (volumes.Single(v => v.Id == boot.Id).IsBoot, volumes.Single(v => v.Id == boot.Id).InstanceId));
        Assert.False(volumes.Single(v => v.Id == data.Id).IsBoot);
        var instanceCalls = f.Calls.Where(c => c.Call.Action == "DescribeInstances").ToList();
        Assert.NotEmpty(instanceCalls);
        Assert.All(instanceCalls, c => Assert.Contains("instance-id", c.Call.Parameters.Values));
    }

    [Fact]
    public async Task DescribeSnapshots_FillsArchivedAt_ForArchivedSnapshotsOnly_FromOneTierStatusCall()
    {
        await using var f = await EndpointProviderFixture.StartAsync();
        var provider = f.Registry.For(f.Region);
        var volume = await f.CreateVolumeAsync(f.Zone, ImmutableSortedDictionary<string, string>.Empty);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var started = await provider.CreateSnapshotAsync(new CreateSnapshotRequest(volume.Id, ImmutableSortedDictionary<string, string>.Empty.Add("n", $"{i}")));
            ids.Add((await f.WaitForSnapshotAsync(f.Region, started.Id)).Id);
        }

        await provider.ArchiveSnapshotAsync(ids[0]);
        await provider.ArchiveSnapshotAsync(ids[1]);
        var before = f.Calls.Count(c => c.Call.Action == "DescribeSnapshotTierStatus");

        var all = await provider.DescribeSnapshotsAsync(new SnapshotQuery { VolumeIds = [volume.Id] });
        Assert.All(all.Where(s => ids[..2].Contains(s.Id)), s => Assert.NotNull(s.ArchivedAt));
        Assert.Null(all.Single(s => s.Id == ids[2]).ArchivedAt);
        var tierCalls = f.Calls.Where(c => c.Call.Action == "DescribeSnapshotTierStatus").Skip(before).ToList();
        var tierCall = Assert.Single(tierCalls);
        Assert.Equal(ids[..2].Order(), tierCall.Call.Values("Filter.1.Value.").Order());
    }
}

public sealed class EndpointFaultTests
{
    [Fact]
    public async Task CreatesAndCopies_CompleteOncePerRequest_WhenTheEndpointThrottlesAndFails()
    {
        // A third of all calls throttled, a tenth failing with 500: the provider's own retries carry every call through.
        await using var f = await EndpointProviderFixture.StartAsync(
            tweak: o => o with { ThrottleBaseDelay = TimeSpan.FromMilliseconds(5), MaxThrottleDelay = TimeSpan.FromMilliseconds(50), ThrottleRetries = 10 },
            endpoint: o => o with { ThrottleShare = 0.3, ErrorShare = 0.1 });
        var volumes = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            volumes.Add((await f.Engine.Region(f.Region).CreateVolumeAsync(f.Zone, LocalEngine.LocalRegion.BlockSize, f.Scoped.Scoped(ImmutableSortedDictionary<string, string>.Empty))).Id);
        }

        var provider = f.Registry.For(f.Region);
        var target = f.Registry.For(f.OtherRegion);
        var snapshots = new List<string>();
        for (var i = 0; i < volumes.Count; i++)
        {
            var tags = ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:token", $"create-{i}");
            var created = await LikeTheExecutorAsync(provider, tags, () => provider.CreateSnapshotAsync(new CreateSnapshotRequest(volumes[i], tags)));
            Assert.Equal(SnapshotState.Completed, (await provider.WaitForCompletionAsync(created.Id))!.State);
            snapshots.Add(created.Id);
        }

        for (var i = 0; i < snapshots.Count; i++)
        {
            var tags = ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:token", $"copy-{i}");
            var copy = await LikeTheExecutorAsync(target, tags, () => target.CopySnapshotAsync(new CopySnapshotRequest(f.Region, snapshots[i], tags)));
            Assert.Equal(SnapshotState.Completed, (await target.WaitForCompletionAsync(copy.Id))!.State);
        }

        Assert.Equal(4, (await f.Engine.Region(f.Region).DescribeSnapshotsAsync()).Length);
        Assert.Equal(4, (await f.Engine.Region(f.OtherRegion).DescribeSnapshotsAsync()).Length);
        Assert.Contains(f.Calls, c => c.Call.Action == "CreateSnapshot");
    }

    /// <summary>What the executor does with a failed create: look the token up before every retry.</summary>
    private static async Task<SnapshotInfo> LikeTheExecutorAsync(ISnapshotProvider provider, ImmutableSortedDictionary<string, string> tags, Func<Task<SnapshotInfo>> create)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (attempt > 0 && (await provider.DescribeSnapshotsAsync(new SnapshotQuery { Tags = TagFilter.Key("lifecycle:token", tags["lifecycle:token"]) })).FirstOrDefault() is { } found)
                {
                    return found;
                }

                return await create();
            }
            catch (ProviderException e) when (e.IsRetryable && attempt < 20)
            {
            }
        }
    }
}

public sealed class CredentialsTests
{
    [Fact]
    public void ARoleArn_AssumesTheRole_WithTheConfiguredCredentialsAsSource()
    {
        var source = new Amazon.Runtime.BasicAWSCredentials("AKIAAAAAAAAAAAAAAAAA", "secret");
        var options = new AwsProviderOptions { Regions = ["eu-west-1"], Credentials = source, RoleArn = "arn:aws:iam::123456789012:role/lifecycle" };

        var assumed = Assert.IsType<Amazon.Runtime.AssumeRoleAWSCredentials>(AwsProviderRegistry.ResolveCredentials(options));
        Assert.Equal(("arn:aws:iam::123456789012:role/lifecycle", "lifecycle"), (assumed.RoleArn, assumed.RoleSessionName));
        Assert.Same(source, assumed.SourceCredentials);
        Assert.Same(source, AwsProviderRegistry.ResolveCredentials(options with { RoleArn = null }));
    }
}
