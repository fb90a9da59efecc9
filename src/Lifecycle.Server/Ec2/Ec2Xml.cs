using System.Globalization;
using System.Xml;
using Lifecycle.Core.Inventory;

namespace Lifecycle.Server.Ec2;

/// <summary>
/// EC2's response shapes: lower-camel-case elements, lists as a wrapper with one <c>&lt;item&gt;</c> per entry,
/// timestamps in ISO 8601 UTC with milliseconds, booleans in lower case; an element without a value is left out.
/// </summary>
internal static class Ec2Xml
{
    public const string Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/";

    /// <summary>
    /// A text element. Values set through other paths (the CLI, the REST API) may hold characters XML cannot carry;
    /// they are replaced rather than failing the whole answer.
    /// </summary>
    public static void Element(this XmlWriter xml, string name, string? value)
    {
        if (value is not null)
        {
            xml.WriteElementString(name, Namespace, Ec2Endpoint.XmlSafe(value));
        }
    }

    public static void Element(this XmlWriter xml, string name, long? value)
    {
        if (value is { } v)
        {
            xml.WriteElementString(name, Namespace, v.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void Element(this XmlWriter xml, string name, bool value) =>
        xml.WriteElementString(name, Namespace, value ? "true" : "false");

    public static void Element(this XmlWriter xml, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            xml.WriteElementString(name, Namespace, Timestamp(v));
        }
    }

    public static string Timestamp(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A list: the wrapper element and one item per entry (an empty wrapper for none).</summary>
    public static void List<T>(this XmlWriter xml, string name, IEnumerable<T> items, Action<XmlWriter, T> item)
    {
        xml.WriteStartElement(name, Namespace);
        foreach (var entry in items)
        {
            xml.WriteStartElement("item", Namespace);
            item(xml, entry);
            xml.WriteEndElement();
        }

        xml.WriteEndElement();
    }

    public static void TagSet(this XmlWriter xml, IReadOnlyDictionary<string, string> tags) =>
        xml.List("tagSet", tags, (x, t) =>
        {
            x.Element("key", t.Key);
            x.Element("value", t.Value);
        });

    public static string State(SnapshotState state) => state switch
    {
        SnapshotState.Pending => "pending",
        SnapshotState.Completed => "completed",
        SnapshotState.Recoverable => "recoverable",
        SnapshotState.Recovering => "recovering",
        _ => "error",
    };

    public static string Tier(StorageTier tier) => tier == StorageTier.Archive ? "archive" : "standard";

    public static string FastRestore(FastRestoreState state) => state.ToString().ToLowerInvariant();

    /// <summary>The Snapshot shape (CreateSnapshot's body, DescribeSnapshots' items); SnapshotInfo says <c>state</c> instead of <c>status</c>.</summary>
    public static void Snapshot(this XmlWriter xml, SnapshotInfo snapshot, string ownerId, bool snapshotInfoShape = false)
    {
        xml.Element("snapshotId", snapshot.Id);
        xml.Element("volumeId", snapshot.VolumeId);
        xml.Element(snapshotInfoShape ? "state" : "status", State(snapshot.State));
        if (!snapshotInfoShape && snapshot.State == SnapshotState.Error)
        {
            xml.Element("statusMessage", "the snapshot failed (see the server's log)");
        }

        xml.Element("startTime", snapshot.StartTime);
        xml.Element("progress", snapshot.Progress.ToString(CultureInfo.InvariantCulture) + "%");
        xml.Element("ownerId", ownerId);
        xml.Element("volumeSize", snapshot.VolumeSizeGiB);
        xml.Element("description", snapshot.Description ?? "");
        xml.Element("encrypted", snapshot.Encrypted);
        xml.Element("kmsKeyId", snapshot.KeyId);
        if (!snapshotInfoShape)
        {
            xml.Element("storageTier", Tier(snapshot.Tier));
            xml.Element("restoreExpiryTime", snapshot.RestoreExpiryTime);
            xml.Element("fullSnapshotSizeInBytes", snapshot.FullSizeBytes);
        }

        xml.TagSet(snapshot.Tags);
    }
}
