using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using Lifecycle.LocalEngine;
using Microsoft.AspNetCore.Http;

namespace Lifecycle.Server.Ec2;

/// <summary>One request's context: the region of its credential scope, its parameters, the engine.</summary>
internal sealed class Ec2Call(Ec2Operations operations, string region, Ec2Parameters parameters, string endpointUrl, CancellationToken cancellationToken)
{
    public string Region { get; } = region;

    public Ec2Parameters P { get; } = parameters;

    public string EndpointUrl { get; } = endpointUrl;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public string AccountId => operations.Options.AccountId;

    /// <summary>True when the region holds data already; a read never creates a region.</summary>
    public bool RegionExists => operations.Engine.HasRegion(Region);

    /// <summary>The region's engine, created on first write.</summary>
    public LocalRegion Engine => operations.Engine.Region(Region);

    /// <summary>Refuses a <c>DryRun=true</c> call as EC2 does once the request has been checked: 412 DryRunOperation.</summary>
    public void StopIfDryRun()
    {
        if (P.Bool("DryRun") == true)
        {
            throw new Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", StatusCodes.Status412PreconditionFailed);
        }
    }
}

/// <summary>
/// The actions of the EC2 endpoint over the local engine. Each reads its parameters through <see cref="Ec2Parameters"/>
/// (errors name the parameter), stops for <c>DryRun</c>, calls the engine, and writes EC2's response shape.
/// </summary>
internal sealed partial class Ec2Operations
{
    private readonly Dictionary<string, Func<Ec2Call, XmlWriter, Task>> actions;
    private readonly ConcurrentDictionary<string, ClientTokenEntry> clientTokens = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim clientTokenGate = new(1, 1);

    public Ec2Operations(LocalEngine.LocalEngine engine, Ec2EndpointOptions options)
    {
        Engine = engine;
        Options = options;
        actions = new(StringComparer.Ordinal)
        {
            ["CreateVolume"] = CreateVolumeAsync,
            ["DescribeVolumes"] = DescribeVolumesAsync,
            ["DeleteVolume"] = DeleteVolumeAsync,
            ["AttachVolume"] = AttachVolumeAsync,
            ["DetachVolume"] = DetachVolumeAsync,
            ["DescribeInstances"] = DescribeInstancesAsync,
            ["CreateSnapshot"] = CreateSnapshotAsync,
            ["CreateSnapshots"] = CreateSnapshotsAsync,
            ["DescribeSnapshots"] = DescribeSnapshotsAsync,
            ["DeleteSnapshot"] = DeleteSnapshotAsync,
            ["CopySnapshot"] = CopySnapshotAsync,
            ["CreateTags"] = CreateTagsAsync,
            ["DeleteTags"] = DeleteTagsAsync,
            ["DescribeTags"] = DescribeTagsAsync,
            ["ModifySnapshotTier"] = ModifySnapshotTierAsync,
            ["RestoreSnapshotTier"] = RestoreSnapshotTierAsync,
            ["DescribeSnapshotTierStatus"] = DescribeSnapshotTierStatusAsync,
            ["EnableFastSnapshotRestores"] = EnableFastSnapshotRestoresAsync,
            ["DisableFastSnapshotRestores"] = DisableFastSnapshotRestoresAsync,
            ["DescribeFastSnapshotRestores"] = DescribeFastSnapshotRestoresAsync,
            ["ListSnapshotsInRecycleBin"] = ListSnapshotsInRecycleBinAsync,
            ["RestoreSnapshotFromRecycleBin"] = RestoreSnapshotFromRecycleBinAsync,
            ["DescribeRegions"] = DescribeRegionsAsync,
            ["DescribeAvailabilityZones"] = DescribeAvailabilityZonesAsync,
        };
    }

    public LocalEngine.LocalEngine Engine { get; }

    public Ec2EndpointOptions Options { get; }

    /// <summary>The actions served, for tests and messages.</summary>
    public IReadOnlyCollection<string> Actions => actions.Keys;

    /// <summary>Checks the region of the credential scope is served here (else AuthFailure, as EC2 answers a wrongly scoped credential).</summary>
    public async Task<Ec2Call> OpenCallAsync(HttpContext context, string region, Ec2Parameters parameters, CancellationToken cancellationToken)
    {
        // The configured and existing regions answer without asking for the policies' regions (a store read).
        var served = Options.Regions.Contains(region, StringComparer.Ordinal) || Engine.Regions.Contains(region, StringComparer.Ordinal)
            ? [region]
            : await ServedRegionsAsync(cancellationToken).ConfigureAwait(false);
        if (!served.Contains(region, StringComparer.Ordinal))
        {
            throw new Ec2Error("AuthFailure",
                $"Credential should be scoped to a valid region, not '{Ec2Parameters.Shorten(region)}' (served here: {string.Join(", ", served)}; add one with --regions)",
                StatusCodes.Status401Unauthorized);
        }

        var request = context.Request;
        var endpoint = $"{request.Scheme}://{request.Host.Value}{Ec2Endpoint.Path}";
        return new Ec2Call(this, region, parameters, endpoint, cancellationToken);
    }

    public Task RunAsync(string action, Ec2Call call, XmlWriter xml) =>
        actions.TryGetValue(action, out var run)
            ? run(call, xml)
            : throw new Ec2Error("InvalidAction", $"The action {Ec2Parameters.Shorten(action)} is not valid for this web service (served: {string.Join(", ", actions.Keys.Order(StringComparer.Ordinal))})");

    /// <summary><see cref="Ec2EndpointOptions.Regions"/>, the regions that exist, and <see cref="Ec2EndpointOptions.MoreRegions"/>.</summary>
    internal async Task<IReadOnlyList<string>> ServedRegionsAsync(CancellationToken cancellationToken)
    {
        var regions = new SortedSet<string>(Options.Regions, StringComparer.Ordinal);
        regions.UnionWith(Engine.Regions);
        if (Options.MoreRegions is { } more)
        {
            regions.UnionWith(await more(cancellationToken).ConfigureAwait(false));
        }

        return [.. regions.Where(r => RegionName().IsMatch(r))];
    }

    // ---- shared checks ----

    /// <summary>The zones of a region, as EC2 names them: <c>&lt;region&gt;a</c>, <c>b</c>, <c>c</c>.</summary>
    internal static ImmutableArray<string> Zones(string region) => [region + "a", region + "b", region + "c"];

    private static string Zone(Ec2Call call, string value, string parameter) =>
        Zones(call.Region).Contains(value, StringComparer.Ordinal)
            ? value
            : throw new Ec2Error("InvalidZone.NotFound",
                $"Value ({Ec2Parameters.Shorten(value)}) for parameter {parameter} is invalid: the zones of {call.Region} are {string.Join(", ", Zones(call.Region))}");

    private static string SnapshotId(string value, string parameter) =>
        SnapshotIdPattern().IsMatch(value) ? value : throw new Ec2Error("InvalidSnapshotID.Malformed", $"Invalid id: \"{Ec2Parameters.Shorten(value)}\" (expecting \"snap-...\") in {parameter}");

    private static string VolumeId(string value, string parameter) =>
        VolumeIdPattern().IsMatch(value) ? value : throw new Ec2Error("InvalidVolumeID.Malformed", $"Invalid id: \"{Ec2Parameters.Shorten(value)}\" (expecting \"vol-...\") in {parameter}");

    private static string InstanceId(string value, string parameter) =>
        InstanceIdPattern().IsMatch(value) ? value : throw new Ec2Error("InvalidInstanceID.Malformed", $"Invalid id: \"{Ec2Parameters.Shorten(value)}\" (expecting \"i-...\") in {parameter}");

    private static string? Description(Ec2Call call) =>
        call.P.String("Description") is { Length: > 255 }
            ? throw Ec2Error.InvalidParameterValue("Value for parameter Description is invalid: at most 255 characters")
            : call.P.String("Description");

    /// <summary>
    /// <c>MaxResults</c> within the action's bounds (with <paramref name="capAbove"/>, larger values are capped to it,
    /// as EC2 does for DescribeVolumes); refused together with ids, as EC2 does.
    /// </summary>
    private static int? MaxResults(Ec2Call call, int min, int max, bool idsGiven, string idsName, bool capAbove = false)
    {
        var value = call.P.Int("MaxResults", min, capAbove ? int.MaxValue : max) is { } n ? Math.Min(n, max) : (int?)null;
        if (value is not null && idsGiven)
        {
            throw Ec2Error.InvalidParameterCombination($"The parameter MaxResults cannot be used with the parameter {idsName}");
        }

        return value;
    }

    /// <summary>Refuses a filter name the action does not know, as EC2 does.</summary>
    private static Ec2Error UnknownFilter(Ec2Filter filter, params string[] known) =>
        Ec2Error.InvalidParameterValue($"The filter '{Ec2Parameters.Shorten(filter.Name)}' is invalid (filters here: {string.Join(", ", known)})");

    // ---- pagination tokens: opaque, tied to the action, validated ----

    private static string EncodeToken(string action, string lastKey) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"lc1\n{action}\n{lastKey}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The last key of the page before, or null without a token; a token not issued for this action is refused.</summary>
    private static string? DecodeToken(Ec2Call call, string action)
    {
        var token = call.P.String("NextToken");
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        try
        {
            var base64 = token.Replace('-', '+').Replace('_', '/');
            base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(base64)).Split('\n', 3);
            if (parts.Length == 3 && parts[0] == "lc1" && parts[1] == action && parts[2].Length > 0)
            {
                return parts[2];
            }
        }
        catch (FormatException)
        {
            // refused below
        }

        throw new Ec2Error("InvalidPaginationToken", $"The parameter NextToken ({Ec2Parameters.Shorten(token)}) is not a token this endpoint issued for {action}; start the listing again without it");
    }

    /// <summary>A page of an in-memory, key-ordered list: the items after the token, and the next token when more follow.</summary>
    private static (List<T> Items, string? NextToken) Page<T>(Ec2Call call, string action, IEnumerable<T> items, Func<T, string> key, int? maxResults)
    {
        var after = DecodeToken(call, action);
        var ordered = items.OrderBy(key, StringComparer.Ordinal).Where(i => after is null || string.CompareOrdinal(key(i), after) > 0);
        if (maxResults is not { } max)
        {
            return (ordered.ToList(), null);
        }

        var page = ordered.Take(max + 1).ToList();
        if (page.Count <= max)
        {
            return (page, null);
        }

        page.RemoveAt(max);
        return (page, EncodeToken(action, key(page[^1])));
    }

    private static void NextToken(XmlWriter xml, string? token) => xml.Element("nextToken", token);

    private sealed record ClientTokenEntry(string Fingerprint, string VolumeId, DateTimeOffset CreatedAt);

    [GeneratedRegex("^snap-[0-9a-zA-Z]{1,40}$")]
    private static partial Regex SnapshotIdPattern();

    [GeneratedRegex("^vol-[0-9a-zA-Z]{1,40}$")]
    private static partial Regex VolumeIdPattern();

    [GeneratedRegex("^i-[0-9a-zA-Z]{1,40}$")]
    private static partial Regex InstanceIdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex RegionName();
}
