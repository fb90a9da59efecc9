using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Reflection;
using Lifecycle.Aws.Tests.Iam;
using Lifecycle.Aws.Tests.Support;
using Lifecycle.Provider.Conformance;

namespace Lifecycle.Aws.Tests;

/// <summary>The evaluator on small policies: each operator, the set qualifiers and deny precedence.</summary>
public sealed class IamEvaluatorTests
{
    private static IamRequest Request(string action, string resource, params (string Key, string[] Values)[] context) =>
        new(action, resource, context.ToImmutableDictionary(c => c.Key, c => c.Values.ToImmutableArray(), StringComparer.OrdinalIgnoreCase));

    private static IamPolicy Policy(string condition, string effect = "Allow") => IamPolicy.Parse($$"""
        { "Version": "2012-10-17", "Statement": [ { "Effect": "{{effect}}", "Action": "ec2:Delete*", "Resource": "arn:aws:ec2:*::snapshot/*", "Condition": {{condition}} } ] }
        """);

    [Theory]
    [InlineData("""{ "StringEquals": { "ec2:ResourceTag/p": ["a", "b"] } }""", "b", true)]
    [InlineData("""{ "StringEquals": { "ec2:ResourceTag/p": "a" } }""", "A", false)]
    [InlineData("""{ "StringEquals": { "ec2:ResourceTag/p": "a" } }""", null, false)]
    [InlineData("""{ "StringNotEquals": { "ec2:ResourceTag/p": "a" } }""", null, true)]
    [InlineData("""{ "StringLike": { "ec2:ResourceTag/p": "?*" } }""", "x", true)]
    [InlineData("""{ "StringLike": { "ec2:ResourceTag/p": "?*" } }""", "", false)]
    [InlineData("""{ "StringLike": { "ec2:ResourceTag/p": "pol-*" } }""", "pol-1", true)]
    [InlineData("""{ "Null": { "ec2:ResourceTag/p": "false" } }""", "x", true)]
    [InlineData("""{ "Null": { "ec2:ResourceTag/p": "false" } }""", null, false)]
    [InlineData("""{ "Null": { "ec2:ResourceTag/p": "true" } }""", null, true)]
    public void SingleValuedConditions(string condition, string? tag, bool allowed)
    {
        var context = tag is null ? [] : new[] { ("ec2:ResourceTag/p", new[] { tag }) };
        Assert.Equal(allowed, Policy(condition).Evaluate(Request("ec2:DeleteSnapshot", "arn:aws:ec2:eu-west-1::snapshot/snap-1", context)) == IamDecision.Allowed);
    }

    [Theory]
    [InlineData("ForAnyValue:StringEquals", new[] { "a", "z" }, true)]
    [InlineData("ForAnyValue:StringEquals", new[] { "z" }, false)]
    [InlineData("ForAnyValue:StringEquals", new string[0], false)]
    [InlineData("ForAllValues:StringEquals", new[] { "a", "b" }, true)]
    [InlineData("ForAllValues:StringEquals", new[] { "a", "z" }, false)]
    [InlineData("ForAllValues:StringEquals", new string[0], true)]
    [InlineData("ForAllValues:StringLike", new[] { "a1", "b2" }, false)]
    public void SetQualifiers_OnTagKeys(string op, string[] keys, bool allowed)
    {
        var policy = Policy($$"""{ "{{op}}": { "aws:TagKeys": ["a", "b"] } }""");
        var context = keys.Length == 0 ? [] : new[] { ("aws:TagKeys", keys) };
        Assert.Equal(allowed, policy.Evaluate(Request("ec2:DeleteSnapshot", "arn:aws:ec2:eu-west-1::snapshot/snap-1", context)) == IamDecision.Allowed);
    }

    [Fact]
    public void AnExplicitDeny_WinsOverAnAllow_AndNoMatchIsAnImplicitDeny()
    {
        var policy = IamPolicy.Parse("""
            { "Version": "2012-10-17", "Statement": [
              { "Effect": "Allow", "Action": "EC2:*", "Resource": "*" },
              { "Effect": "Deny", "Action": "ec2:DeleteSnapshot", "Resource": "arn:aws:ec2:*::snapshot/snap-?" } ] }
            """);
        Assert.Equal(IamDecision.ExplicitlyDenied, policy.Evaluate(Request("ec2:DeleteSnapshot", "arn:aws:ec2:eu-west-1::snapshot/snap-1")));
        Assert.Equal(IamDecision.Allowed, policy.Evaluate(Request("ec2:DeleteSnapshot", "arn:aws:ec2:eu-west-1::snapshot/snap-12")));
        Assert.Equal(IamDecision.ImplicitlyDenied, IamPolicy.Parse("""{ "Version": "2012-10-17", "Statement": [] }""").Evaluate(Request("ec2:DescribeSnapshots", "*")));
    }

    [Fact]
    public void Parse_RefusesWhatItDoesNotEvaluate()
    {
        Assert.Throws<NotSupportedException>(() => Policy("""{ "DateGreaterThan": { "aws:CurrentTime": "2020-01-01T00:00:00Z" } }"""));
        Assert.Throws<NotSupportedException>(() => Policy("""{ "StringEquals": { "aws:TagKeys": "a" } }"""));
        Assert.Throws<NotSupportedException>(() => IamPolicy.Parse("""
            { "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "NotAction": "ec2:*", "Resource": "*" } ] }
            """));
    }
}

/// <summary>
/// <c>deploy/aws/iam-policy.json</c> against every EC2 call the provider made during a conformance run (recorded on
/// the wire, with the tags each target had at that moment in the engine), and against the calls it must refuse.
/// </summary>
public sealed class IamPolicyTests
{
    private static readonly IamPolicy Document = IamPolicy.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "iam-policy.json")));

    // The suite's resources carry no lifecycle:policy (the product protects a policy's newest snapshot on every path, and
    // the suite deletes newest snapshots), so "as the executor sends them" adds what the executor always sets.
    private static RecordedCall Owned(RecordedCall recorded)
    {
        var parameters = new Dictionary<string, string>(recorded.Call.Parameters, StringComparer.Ordinal);
        if (recorded.Call.Action is "CreateSnapshot" or "CreateSnapshots" or "CopySnapshot" or "CreateVolume")
        {
            parameters["TagSpecification.1.Tag.98.Key"] = "lifecycle:policy";
            parameters["TagSpecification.1.Tag.98.Value"] = "nightly";
            parameters["TagSpecification.1.Tag.99.Key"] = "lifecycle:token";
            parameters["TagSpecification.1.Tag.99.Value"] = "t-1";
        }

        var owned = recorded.ResourceTags.ToDictionary(t => t.Key, t => (ImmutableSortedDictionary<string, string>?)(t.Value ?? ImmutableSortedDictionary<string, string>.Empty).SetItem("lifecycle:policy", "nightly"));
        return new RecordedCall(recorded.Call with { Parameters = parameters }, owned);
    }

    private static async Task<IReadOnlyList<RecordedCall>> RunConformanceSuiteAsync()
    {
        var calls = new ConcurrentQueue<RecordedCall>();
        var suite = new RecordingConformanceRun(calls);
        var facts = typeof(ProviderConformanceTests).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.GetCustomAttribute<FactAttribute>() is not null).ToList();
        Assert.True(facts.Count >= 15, $"{facts.Count} facts found");
        foreach (var fact in facts)
        {
            await (Task)fact.Invoke(suite, null)!;
        }

        return [.. calls];
    }

    [Fact]
    public async Task EveryCallOfTheConformanceRun_IsAllowed_OnResourcesAPolicyOwns_AndDeniedOnOthers()
    {
        var calls = await RunConformanceSuiteAsync();
        var actions = calls.Select(c => c.Call.Action).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string>(StringComparer.Ordinal)
        {
            "DescribeVolumes", "DescribeSnapshots", "DescribeSnapshotTierStatus", "CreateSnapshot", "CreateSnapshots", "CopySnapshot", "DeleteSnapshot",
            "ModifySnapshotTier", "RestoreSnapshotTier", "EnableFastSnapshotRestores", "CreateVolume", "CreateTags", "ListSnapshotsInRecycleBin",
            "RestoreSnapshotFromRecycleBin",
        }, actions);

        var notGranted = new List<string>();
        foreach (var call in calls)
        {
            var owned = Ec2Authorizations.Of(Owned(call));
            // By design: the product never tags a volume after creating it (only the suite does).
            var byDesign = call.Call.Action == "CreateTags" && call.Call.Values("ResourceId.").All(id => id.StartsWith("vol-", StringComparison.Ordinal));
            if (Document.Allows(owned) == byDesign)
            {
                notGranted.Add($"{call.Call.Action}: {string.Join("; ", owned.Where(a => Document.Evaluate(a) != IamDecision.Allowed))}");
            }

            // As recorded (no ownership tags anywhere): reads pass, every change is refused.
            var asRecorded = Document.Allows(Ec2Authorizations.Of(call));
            var isRead = call.Call.Action.StartsWith("Describe", StringComparison.Ordinal) || call.Call.Action.StartsWith("List", StringComparison.Ordinal);
            if (asRecorded != isRead)
            {
                notGranted.Add($"as recorded, {call.Call.Action} was {(asRecorded ? "allowed" : "denied")}");
            }
        }

        Assert.True(notGranted.Count == 0, $"{notGranted.Count} of {calls.Count} calls:\n" + string.Join("\n", notGranted.Distinct().Take(20)));
    }

    private static RecordedCall Call(string action, IReadOnlyDictionary<string, string> parameters, params (string Id, ImmutableSortedDictionary<string, string>? Tags)[] targets) =>
        new(new Ec2Call("eu-west-1", action, parameters), targets.ToDictionary(t => t.Id, t => t.Tags));

    private static readonly ImmutableSortedDictionary<string, string> OwnedTags = ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:policy", "nightly");

    [Fact]
    public void DeletingASnapshotNoPolicyOwns_IsDenied_AndOneItOwns_Allowed()
    {
        var delete = new Dictionary<string, string> { ["SnapshotId"] = "snap-1" };
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("DeleteSnapshot", delete, ("snap-1", ImmutableSortedDictionary<string, string>.Empty.Add("team", "db"))))));
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("DeleteSnapshot", delete, ("snap-1", ImmutableSortedDictionary<string, string>.Empty.Add("lifecycle:policy", ""))))));
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("DeleteSnapshot", delete, ("snap-1", OwnedTags)))));
    }

    [Fact]
    public void CreatingWithoutTheOwnershipTags_IsDenied()
    {
        var bare = new Dictionary<string, string> { ["VolumeId"] = "vol-1" };
        var onlyPolicy = new Dictionary<string, string>(bare) { ["TagSpecification.1.Tag.1.Key"] = "lifecycle:policy", ["TagSpecification.1.Tag.1.Value"] = "nightly" };
        var both = new Dictionary<string, string>(onlyPolicy) { ["TagSpecification.1.Tag.2.Key"] = "lifecycle:token", ["TagSpecification.1.Tag.2.Value"] = "t" };
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CreateSnapshot", bare, ("vol-1", null)))));
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CreateSnapshot", onlyPolicy, ("vol-1", null)))));
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("CreateSnapshot", both, ("vol-1", null)))));
    }

    [Fact]
    public void CopyingASnapshotNoPolicyOwns_IsExplicitlyDenied_EvenWithTheTags()
    {
        var copy = new Dictionary<string, string>
        {
            ["SourceRegion"] = "eu-west-1", ["SourceSnapshotId"] = "snap-1",
            ["TagSpecification.1.Tag.1.Key"] = "lifecycle:policy", ["TagSpecification.1.Tag.1.Value"] = "nightly",
            ["TagSpecification.1.Tag.2.Key"] = "lifecycle:token", ["TagSpecification.1.Tag.2.Value"] = "t",
        };
        var foreign = Ec2Authorizations.Of(Call("CopySnapshot", copy, ("snap-1", ImmutableSortedDictionary<string, string>.Empty)));
        Assert.Contains(foreign, a => Document.Evaluate(a) == IamDecision.ExplicitlyDenied);
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("CopySnapshot", copy, ("snap-1", OwnedTags)))));
    }

    [Fact]
    public void TaggingAnExistingSnapshotIntoAPolicy_IsDenied()
    {
        var adopt = new Dictionary<string, string> { ["ResourceId.1"] = "snap-1", ["Tag.1.Key"] = "lifecycle:policy", ["Tag.1.Value"] = "nightly" };
        var label = new Dictionary<string, string> { ["ResourceId.1"] = "snap-1", ["Tag.1.Key"] = "note", ["Tag.1.Value"] = "x" };
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CreateTags", adopt, ("snap-1", ImmutableSortedDictionary<string, string>.Empty)))));
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CreateTags", adopt, ("snap-1", OwnedTags)))));
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("CreateTags", label, ("snap-1", OwnedTags)))));
    }

    [Fact]
    public void AnAdoptedDlmSnapshot_MayBeDeletedAndArchived_ButNotTaggedIntoAPolicy_NorCopied()
    {
        var dlm = ImmutableSortedDictionary<string, string>.Empty.Add("aws:dlm:lifecycle-policy-id", "policy-0123456789abcdef0");
        var delete = new Dictionary<string, string> { ["SnapshotId"] = "snap-1" };
        var archive = new Dictionary<string, string> { ["SnapshotId"] = "snap-1", ["StorageTier"] = "archive" };
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("DeleteSnapshot", delete, ("snap-1", dlm)))));
        Assert.True(Document.Allows(Ec2Authorizations.Of(Call("ModifySnapshotTier", archive, ("snap-1", dlm)))));
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("DeleteSnapshot", delete,
            ("snap-1", ImmutableSortedDictionary<string, string>.Empty.Add("aws:dlm:lifecycle-policy-id", ""))))));

        var adopt = new Dictionary<string, string> { ["ResourceId.1"] = "snap-1", ["Tag.1.Key"] = "lifecycle:policy", ["Tag.1.Value"] = "nightly" };
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CreateTags", adopt, ("snap-1", dlm)))));
        var copy = new Dictionary<string, string>
        {
            ["SourceRegion"] = "eu-west-1", ["SourceSnapshotId"] = "snap-1",
            ["TagSpecification.1.Tag.1.Key"] = "lifecycle:policy", ["TagSpecification.1.Tag.1.Value"] = "nightly",
            ["TagSpecification.1.Tag.2.Key"] = "lifecycle:token", ["TagSpecification.1.Tag.2.Value"] = "t",
        };
        Assert.False(Document.Allows(Ec2Authorizations.Of(Call("CopySnapshot", copy, ("snap-1", dlm)))));
    }

    private sealed class RecordingConformanceRun(ConcurrentQueue<RecordedCall> calls) : ProviderConformanceTests
    {
        protected override async Task<IProviderFixture> CreateFixtureAsync() => await EndpointProviderFixture.StartAsync(calls);
    }
}
