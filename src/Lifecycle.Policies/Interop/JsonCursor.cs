using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// Reads one JSON object of an AWS document with its JSON path. Every member read is marked; <see cref="WarnUnread"/>
/// reports each member nobody read, so nothing in the input is dropped without a located warning. A null value is
/// read as absent (as the AWS SDKs do).
/// </summary>
internal sealed class JsonCursor(JsonObject node, string path, InteropReport report)
{
    private readonly JsonObject node = node;
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    public string Path { get; } = path;

    public InteropReport Report { get; } = report;

    public bool Has(string name) => node[name] is not null;

    public string PathOf(string name) => Path + "." + name;

    /// <summary>Whether the member is the number 0 (not marked as read).</summary>
    public bool IsZero(string name) =>
        node[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<decimal>(out var number) && number == 0;

    /// <summary>Marks members as understood without mapping them (identifiers, timestamps, status).</summary>
    public void Ignore(params string[] names)
    {
        foreach (var name in names)
        {
            read.Add(name);
        }
    }

    /// <summary>The member's value (null when absent or null), marked as read; an absent required member is an error.</summary>
    public JsonNode? Take(string name, bool required = false)
    {
        read.Add(name);
        var value = node[name];
        if (value is null && required)
        {
            Report.Error(PathOf(name), "is required");
        }

        return value;
    }

    public string? String(string name, bool required = false)
    {
        switch (Take(name, required))
        {
            case null:
                return null;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                return value.GetValue<string>();
            case var other:
                Report.Error(PathOf(name), $"expected a string, got {Describe(other)}");
                return null;
        }
    }

    public int? Integer(string name, int minimum, int maximum, bool required = false)
    {
        switch (Take(name, required))
        {
            case null:
                return null;
            case JsonValue value when value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<int>(out var number):
                if (number < minimum || number > maximum)
                {
                    Report.Error(PathOf(name), $"{number} is out of range; expected {minimum} to {maximum}");
                    return null;
                }

                return number;
            case var other:
                Report.Error(PathOf(name), $"expected a whole number, got {Describe(other)}");
                return null;
        }
    }

    public bool? Boolean(string name)
    {
        switch (Take(name))
        {
            case null:
                return null;
            case JsonValue value when value.GetValueKind() is JsonValueKind.True or JsonValueKind.False:
                return value.GetValue<bool>();
            case var other:
                Report.Error(PathOf(name), $"expected true or false, got {Describe(other)}");
                return null;
        }
    }

    public JsonCursor? Object(string name, bool required = false)
    {
        switch (Take(name, required))
        {
            case null:
                return null;
            case JsonObject child:
                return new JsonCursor(child, PathOf(name), Report);
            case var other:
                Report.Error(PathOf(name), $"expected an object, got {Describe(other)}");
                return null;
        }
    }

    /// <summary>The items of an array member with their paths; an absent member is an empty list.</summary>
    public IReadOnlyList<(JsonNode? Item, string Path)> Array(string name, bool required = false)
    {
        switch (Take(name, required))
        {
            case null:
                return [];
            case JsonArray array:
                return [.. array.Select((item, i) => (item, $"{PathOf(name)}[{i.ToString(CultureInfo.InvariantCulture)}]"))];
            case var other:
                Report.Error(PathOf(name), $"expected an array, got {Describe(other)}");
                return [];
        }
    }

    public IReadOnlyList<JsonCursor> Objects(string name, bool required = false)
    {
        var cursors = new List<JsonCursor>();
        foreach (var (item, itemPath) in Array(name, required))
        {
            if (item is JsonObject child)
            {
                cursors.Add(new JsonCursor(child, itemPath, Report));
            }
            else
            {
                Report.Error(itemPath, $"expected an object, got {Describe(item)}");
            }
        }

        return cursors;
    }

    public IReadOnlyList<(string Value, string Path)> Strings(string name)
    {
        var values = new List<(string, string)>();
        foreach (var (item, itemPath) in Array(name))
        {
            if (item is JsonValue value && value.GetValueKind() == JsonValueKind.String)
            {
                values.Add((value.GetValue<string>(), itemPath));
            }
            else
            {
                Report.Error(itemPath, $"expected a string, got {Describe(item)}");
            }
        }

        return values;
    }

    /// <summary>A list of AWS tags ({"Key": ..., "Value": ...}) with the path of each.</summary>
    public IReadOnlyList<(string Key, string Value, string Path)> Tags(string name)
    {
        var tags = new List<(string, string, string)>();
        foreach (var tag in Objects(name))
        {
            var key = tag.String("Key", required: true);
            var value = tag.String("Value", required: true);
            tag.WarnUnread();
            if (key is not null && value is not null)
            {
                tags.Add((key, value, tag.Path));
            }
        }

        return tags;
    }

    /// <summary>A string-to-string map (AWS Backup's RecoveryPointTags).</summary>
    public IReadOnlyList<(string Key, string Value, string Path)> StringMap(string name)
    {
        var entries = new List<(string, string, string)>();
        if (Object(name) is not { } map)
        {
            return entries;
        }

        foreach (var (key, value) in map.node)
        {
            map.read.Add(key);
            if (value is JsonValue scalar && scalar.GetValueKind() == JsonValueKind.String)
            {
                entries.Add((key, scalar.GetValue<string>(), map.PathOf(key)));
            }
            else if (value is not null)
            {
                Report.Error(map.PathOf(key), $"expected a string, got {Describe(value)}");
            }
        }

        return entries;
    }

    /// <summary>Warns about every member not read: it has no counterpart in the policy language.</summary>
    public void WarnUnread(string? why = null)
    {
        foreach (var (name, value) in node)
        {
            if (value is not null && !read.Contains(name))
            {
                Report.Warning(PathOf(name), why ?? $"{name} has no counterpart in Lifecycle policies; not imported");
            }
        }
    }

    public static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => $"the string {Shorten(value.GetValue<string>())}",
            JsonValueKind.Number => $"the number {value.ToJsonString()}",
            JsonValueKind.True or JsonValueKind.False => $"the boolean {value.ToJsonString()}",
            _ => value.ToJsonString(),
        },
        _ => "a value",
    };

    private static string Shorten(string text) => "'" + (text.Length > 60 ? text[..57] + "..." : text) + "'";
}
