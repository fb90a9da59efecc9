using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Execution;

namespace Lifecycle.Scheduling.Tests;

/// <summary>
/// The stored form of an action is read back by every later version of the server (an action queued before an upgrade
/// runs after it): its JSON must not change with how it is produced, and payloads written before must still read.
/// </summary>
public sealed class ActionPayloadTests
{
    private static readonly PlannedAction Full = new()
    {
        Kind = ActionKind.EnableFastRestore,
        Policy = "db",
        Engine = EngineKind.Local,
        Schedule = "daily",
        Region = "eu-west-1",
        VolumeIds = ["vol-1", "vol-2"],
        InstanceId = "i-1",
        ExcludeBootVolume = true,
        ExcludeVolumeIds = ["vol-3"],
        SnapshotId = "snap-1",
        SourceRegion = "eu-central-1",
        Zones = ["eu-west-1a", "eu-west-1b"],
        FireTime = new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero),
        Token = "tok",
        Tags = ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:policy", "db").Add("team", "data"),
        Encrypted = true,
        KeyId = "alias/backup",
        AdoptedFrom = "policy-0123",
        Schedules = ["daily", "weekly"],
        Reason = "fast restore for daily",
    };

    [Fact]
    public void TheStoredFormIsTheSameAsReflectionWritesIt_ForEveryField()
    {
        var reflection = new JsonSerializerOptions(SchedulingJson.Options) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

        Assert.Equal(JsonSerializer.Serialize(Full, reflection), ActionPayload.Serialize(Full));
        Assert.Equal(JsonSerializer.Serialize(Full with { Engine = null, Schedule = null, KeyId = null }, reflection),
            ActionPayload.Serialize(Full with { Engine = null, Schedule = null, KeyId = null }));
    }

    [Fact]
    public void AnActionReadsBackAsItWasWritten()
    {
        var read = ActionPayload.Deserialize(ActionPayload.Serialize(Full));

        Assert.Equal(ActionPayload.Serialize(Full), ActionPayload.Serialize(read));
        Assert.Equal(ActionKind.EnableFastRestore, read.Kind);
        Assert.Equal(new[] { "vol-1", "vol-2" }, read.VolumeIds);
        Assert.Equal("data", read.Tags["team"]);
        Assert.Equal(Full.FireTime, read.FireTime);
    }

    [Fact]
    public void APayloadWrittenByAnEarlierVersionStillReads()
    {
        // As the reflection-based options wrote it: camelCase, kebab-case enums, nulls left out, no engine field.
        const string stored = """
            {"kind":"create","policy":"web","region":"eu-west-1","volumeIds":["vol-9"],"excludeBootVolume":false,"excludeVolumeIds":[],
             "zones":[],"fireTime":"2026-11-30T12:00:00+00:00","token":"t-9","tags":{"lifecycle:policy":"web"},"encrypted":false,
             "schedules":["hourly"],"reason":"due"}
            """;

        var read = ActionPayload.Deserialize(stored);

        Assert.Equal(ActionKind.Create, read.Kind);
        Assert.Null(read.Engine);
        Assert.Equal("web", read.Policy);
        Assert.Equal(new[] { "vol-9" }, read.VolumeIds);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero), read.FireTime);
        Assert.Equal("web", read.Tags["lifecycle:policy"]);
        Assert.Equal(new[] { "hourly" }, read.Schedules);
    }

    [Fact]
    public void ThePayloadsMetadataIsCompiled_NotBuiltByReflectionAtFirstUse()
    {
        Assert.Same(SchedulingJsonContext.Default, SchedulingJson.Options.GetTypeInfo(typeof(PlannedAction)).OriginatingResolver);
    }
}
