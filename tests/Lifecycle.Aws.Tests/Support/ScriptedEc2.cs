using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security;
using System.Text;
using System.Web;
using Amazon.Runtime;

namespace Lifecycle.Aws.Tests.Support;

/// <summary>One EC2 request as it went over the wire: the action and its form parameters.</summary>
public sealed record Ec2Call(string Region, string Action, IReadOnlyDictionary<string, string> Parameters)
{
    public IEnumerable<string> Values(string prefix) =>
        Parameters.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value);

    public static async Task<Ec2Call> ReadAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var form = HttpUtility.ParseQueryString(body);
        var parameters = form.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => form[k] ?? "", StringComparer.Ordinal);
        return new Ec2Call(RegionOf(request), parameters.GetValueOrDefault("Action", ""), parameters);
    }

    /// <summary>The signing region from the SigV4 credential scope (…/date/region/ec2/aws4_request).</summary>
    public static string RegionOf(HttpRequestMessage request)
    {
        var auth = request.Headers.TryGetValues("Authorization", out var values) ? string.Join(",", values) : "";
        var start = auth.IndexOf("Credential=", StringComparison.Ordinal);
        var scope = start < 0 ? [] : auth[start..].Split(',')[0].Split('/');
        return scope.Length >= 3 ? scope[2] : "";
    }
}

/// <summary>Hands the SDK an HttpClient over a given handler (the SDK's seam for transport: AmazonEC2Config.HttpClientFactory).</summary>
public sealed class HandlerClientFactory(HttpMessageHandler handler) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(handler, disposeHandler: false);

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
}

/// <summary>
/// A scripted EC2 in memory for the tests of the provider's own behaviour (retries, limits, batching): snapshots that
/// stay pending until the test completes them, and an <see cref="Intercept"/> hook that answers a call with an error.
/// It counts every call by action.
/// </summary>
public sealed class ScriptedEc2 : HttpMessageHandler
{
    private readonly ConcurrentDictionary<string, FakeSnapshot> snapshots = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> counts = new(StringComparer.Ordinal);
    private int nextId;

    /// <summary>Return a response to answer the call instead of the fake (e.g. an error); null lets the fake answer.</summary>
    public Func<Ec2Call, HttpResponseMessage?>? Intercept { get; set; }

    /// <summary>Called for each call before it is answered (under no lock).</summary>
    public Action<Ec2Call>? OnCall { get; set; }

    /// <summary>Snapshots that a describe does not list yet (eventual consistency), by id.</summary>
    public ConcurrentDictionary<string, int> HiddenForDescribes { get; } = new(StringComparer.Ordinal);

    /// <summary>New snapshots are hidden from the next N describes that ask for them.</summary>
    public int HideNewSnapshotsFor { get; set; }

    public int Count(string action) => counts.GetValueOrDefault(action);

    public IReadOnlyCollection<FakeSnapshot> Snapshots => [.. snapshots.Values];

    public int PendingCopies => snapshots.Values.Count(s => s.IsCopy && s.State == "pending");

    public void Complete(string id) => snapshots[id].State = "completed";

    public void CompleteAll()
    {
        foreach (var s in snapshots.Values)
        {
            s.State = "completed";
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var call = await Ec2Call.ReadAsync(request, cancellationToken).ConfigureAwait(false);
        counts.AddOrUpdate(call.Action, 1, (_, n) => n + 1);
        OnCall?.Invoke(call);
        if (Intercept?.Invoke(call) is { } scripted)
        {
            return scripted;
        }

        return call.Action switch
        {
            "CreateSnapshot" => Created(call, isCopy: false),
            "CopySnapshot" => Created(call, isCopy: true),
            "DescribeSnapshots" => Describe(call),
            "DescribeSnapshotTierStatus" => Xml(call.Action, "<snapshotTierStatusSet/>"),
            "DescribeFastSnapshotRestores" => Xml(call.Action, "<fastSnapshotRestoreSet/>"),
            "DeleteSnapshot" => snapshots.TryRemove(call.Parameters["SnapshotId"], out _)
                ? Xml(call.Action, "<return>true</return>")
                : Error("InvalidSnapshot.NotFound", "no such snapshot"),
            "DescribeVolumes" => Xml(call.Action, "<volumeSet/>"),
            _ => Error("InvalidAction", $"the fake does not know {call.Action}"),
        };
    }

    private HttpResponseMessage Created(Ec2Call call, bool isCopy)
    {
        var id = $"snap-{Interlocked.Increment(ref nextId):x17}";
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in call.Parameters.Keys.Where(k => k.StartsWith("TagSpecification.1.Tag.", StringComparison.Ordinal) && k.EndsWith(".Key", StringComparison.Ordinal)))
        {
            tags[call.Parameters[key]] = call.Parameters.GetValueOrDefault(key[..^4] + ".Value", "");
        }

        var snapshot = new FakeSnapshot(id, isCopy ? "vol-ffffffff" : call.Parameters["VolumeId"], isCopy, tags);
        snapshots[id] = snapshot;
        if (HideNewSnapshotsFor > 0)
        {
            HiddenForDescribes[id] = HideNewSnapshotsFor;
        }

        return isCopy ? Xml(call.Action, $"<snapshotId>{id}</snapshotId>") : Xml(call.Action, Fields(snapshot));
    }

    private HttpResponseMessage Describe(Ec2Call call)
    {
        var ids = Filter(call, "snapshot-id");
        var tagFilters = call.Parameters.Where(p => p.Key.StartsWith("Filter.", StringComparison.Ordinal) && p.Key.EndsWith(".Name", StringComparison.Ordinal)
                && p.Value.StartsWith("tag:", StringComparison.Ordinal))
            .Select(p => (Key: p.Value[4..], Values: call.Values(p.Key[..^5] + ".Value.").ToHashSet(StringComparer.Ordinal))).ToList();
        var listed = snapshots.Values.Where(s => ids is null || ids.Contains(s.Id))
            .Where(s => tagFilters.All(f => s.Tags.TryGetValue(f.Key, out var value) && f.Values.Contains(value))).Where(s =>
        {
            if (ids is not null && HiddenForDescribes.TryGetValue(s.Id, out var left) && left > 0)
            {
                HiddenForDescribes[s.Id] = left - 1;
                return false;
            }

            return true;
        });
        return Xml(call.Action, "<snapshotSet>" + string.Concat(listed.Select(s => "<item>" + Fields(s) + "</item>")) + "</snapshotSet>");
    }

    private static HashSet<string>? Filter(Ec2Call call, string name)
    {
        var index = call.Parameters.FirstOrDefault(p => p.Key.StartsWith("Filter.", StringComparison.Ordinal) && p.Key.EndsWith(".Name", StringComparison.Ordinal) && p.Value == name).Key;
        return index is null ? null : [.. call.Values(index[..^5] + ".Value.")];
    }

    private static string Fields(FakeSnapshot s) =>
        $"<snapshotId>{s.Id}</snapshotId><volumeId>{s.VolumeId}</volumeId><status>{s.State}</status>" +
        $"<startTime>{s.StartTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}</startTime>" +
        $"<progress>{(s.State == "pending" ? "0%" : "100%")}</progress><ownerId>123456789012</ownerId><volumeSize>8</volumeSize><encrypted>false</encrypted>" +
        $"<storageTier>standard</storageTier><tagSet>{string.Concat(s.Tags.Select(t => $"<item><key>{SecurityElement.Escape(t.Key)}</key><value>{SecurityElement.Escape(t.Value)}</value></item>"))}</tagSet>";

    public static HttpResponseMessage Xml(string action, string inner) => new(HttpStatusCode.OK)
    {
        Content = new StringContent(
            $"<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId>{inner}</{action}Response>", Encoding.UTF8, "text/xml"),
    };

    public static HttpResponseMessage Error(string code, string message, HttpStatusCode status = HttpStatusCode.BadRequest) => new(status)
    {
        Content = new StringContent(
            $"<Response><Errors><Error><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
            Encoding.UTF8, "text/xml"),
    };
}

public sealed class FakeSnapshot(string id, string volumeId, bool isCopy, IReadOnlyDictionary<string, string> tags)
{
    public string Id { get; } = id;

    public string VolumeId { get; } = volumeId;

    public bool IsCopy { get; } = isCopy;

    public IReadOnlyDictionary<string, string> Tags { get; } = tags;

    public DateTime StartTime { get; } = DateTime.UtcNow;

    public volatile string State = "pending";
}
