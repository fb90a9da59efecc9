using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using Lifecycle.Core.Policies;
using Lifecycle.Core.Providers;
using Lifecycle.Scheduling.Telemetry;

namespace Lifecycle.Scheduling.Tests;

/// <summary>The provider decorator counts every call attempt, its errors and its throttles by operation, and changes nothing else.</summary>
public sealed class InstrumentedProviderTests
{
    [Fact]
    public async Task ProviderCalls_AreCountedByOperation_WithErrorsAndThrottles_AndTheInnerOutcomePassesThrough()
    {
        var fake = new FakeProvider("im-a");
        fake.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.Throttled, "RequestLimitExceeded", "slow down"));
        fake.CreateFailures.Enqueue(new ProviderException(ProviderErrorKind.LimitExceeded, "SnapshotLimitExceeded", "too many"));
        var registry = new InstrumentedEngineRegistry(fake);
        var provider = registry.For(EngineKind.Local).For("im-a");
        Assert.Same(provider, registry.For(EngineKind.Local).For("im-a"));
        Assert.Equal(ProviderErrorKind.NotFound, Assert.Throws<ProviderException>(() => registry.For(EngineKind.Local).For("no-such-region")).Kind);
        var seen = new ConcurrentQueue<(string Instrument, long Value, string Operation)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == LifecycleMetrics.MeterName && instrument.Name.StartsWith("provider_", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "operation")
                {
                    seen.Enqueue((instrument.Name, value, (string)tag.Value!));
                }
            }
        });
        listener.Start();

        var request = new CreateSnapshotRequest("vol-1", ImmutableSortedDictionary<string, string>.Empty);
        var throttled = await Assert.ThrowsAsync<ProviderException>(() => provider.CreateSnapshotAsync(request));
        Assert.Equal(ProviderErrorKind.Throttled, throttled.Kind);
        var limited = await Assert.ThrowsAsync<ProviderException>(() => provider.CreateSnapshotAsync(request));
        Assert.Equal("SnapshotLimitExceeded", limited.Code);
        var created = await provider.CreateSnapshotAsync(request);
        Assert.Single(await provider.DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [created.Id] }));

        long Sum(string instrument, string operation) => seen.Where(s => s.Instrument == instrument && s.Operation == operation).Sum(s => s.Value);
        Assert.Equal(3, Sum("provider_calls", "CreateSnapshot"));
        Assert.Equal(2, Sum("provider_errors", "CreateSnapshot"));
        Assert.Equal(1, Sum("provider_throttles", "CreateSnapshot"));
        Assert.Equal(1, Sum("provider_calls", "DescribeSnapshots"));
        Assert.Equal(0, Sum("provider_errors", "DescribeSnapshots"));
        Assert.Equal(3, fake.CreateCalls);
    }
}
