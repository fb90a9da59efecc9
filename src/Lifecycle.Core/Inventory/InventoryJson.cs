using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Lifecycle.Core.Inventory;

/// <summary>The inventory file format (policies/inventory.md): camelCase JSON, enums as kebab-case strings.</summary>
public static partial class InventoryJson
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = true,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            AllowTrailingCommas = false,
        };
        // The inventory's own enums name the bad value and the allowed ones; any other enum keeps the plain converter.
        options.Converters.Add(new InventoryEnumConverter<VolumeState>());
        options.Converters.Add(new InventoryEnumConverter<SnapshotState>());
        options.Converters.Add(new InventoryEnumConverter<StorageTier>());
        options.Converters.Add(new InventoryEnumConverter<FastRestoreState>());
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { OmitEmptyInstanceTags } };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>Volumes not attached to a tagged instance (all of the local engine's) are written without "instanceTags": {}.</summary>
    private static void OmitEmptyInstanceTags(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Type != typeof(VolumeInfo))
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.Name == "instanceTags")
            {
                property.ShouldSerialize = static (_, value) => value is System.Collections.ICollection { Count: > 0 };
            }
        }
    }

    /// <summary>Reads an inventory; throws <see cref="InventoryFormatException"/> naming the line and field on bad input.</summary>
    public static async Task<Inventory> ReadAsync(Stream stream, string fileName, CancellationToken cancellationToken = default)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<Inventory>(stream, Options, cancellationToken).ConfigureAwait(false)
                ?? throw new InventoryFormatException($"{fileName}:1:1: error: inventory: the file is empty or null");
        }
        catch (JsonException e)
        {
            var line = (e.LineNumber ?? 0) + 1;
            // The reader stands after a bad value; point at its start (the value, as policy errors do).
            var column = Math.Max(0, (e.BytePositionInLine ?? 0) - ((e as InventoryValueException)?.ValueBytes ?? 0)) + 1;
            throw new InventoryFormatException($"{fileName}:{line}:{column}: error: {FieldPath(e.Path)}: {Reason(e.Message)}", e);
        }
    }

    /// <summary>"$.snapshots[3].tier" as the docs write it: "snapshots[3].tier" ("inventory" for the whole file).</summary>
    private static string FieldPath(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "inventory" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;

    /// <summary>
    /// The reason without what the location already says: System.Text.Json appends "Path: … | LineNumber: … |
    /// BytePositionInLine: …" to its own messages, and names .NET types where the reader wants keys.
    /// </summary>
    private static string Reason(string message)
    {
        var suffix = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (suffix >= 0 && message.IndexOf("| LineNumber:", suffix, StringComparison.Ordinal) >= 0)
        {
            message = message[..suffix];
        }

        if (UnknownMember().Match(message) is { Success: true } unknown)
        {
            return $"unknown key '{unknown.Groups["key"].Value}' (allowed: {AllowedKeys(unknown.Groups["type"].Value)})";
        }

        if (MissingRequired().Match(message) is { Success: true } missing)
        {
            return $"missing required key(s) {missing.Groups["keys"].Value}";
        }

        return message;
    }

    private static string AllowedKeys(string typeName)
    {
        var type = typeof(Inventory).Assembly.GetType(typeName);
        return type is null ? "see policies/inventory.md" : string.Join(", ", Options.GetTypeInfo(type).Properties.Select(p => p.Name));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^The JSON property '(?<key>.*)' could not be mapped to any \.NET member contained in type '(?<type>[^']+)'\.$")]
    private static partial System.Text.RegularExpressions.Regex UnknownMember();

    [System.Text.RegularExpressions.GeneratedRegex(@"^JSON deserialization for type '[^']+' was missing required properties(?: including)?: (?<keys>.+?)\.?$")]
    private static partial System.Text.RegularExpressions.Regex MissingRequired();

    public static Inventory Read(string json, string fileName = "<inventory>")
    {
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json));
        return ReadAsync(stream, fileName).GetAwaiter().GetResult();
    }

    public static Task WriteAsync(Stream stream, Inventory inventory, CancellationToken cancellationToken = default) =>
        JsonSerializer.SerializeAsync(stream, inventory, Options, cancellationToken);

    public static string Write(Inventory inventory) => JsonSerializer.Serialize(inventory, Options);
}

/// <summary>An inventory file that cannot be read; the message is FILE:LINE:COLUMN: error: PATH: reason.</summary>
public sealed class InventoryFormatException : Exception
{
    public InventoryFormatException(string message) : base(message) { }

    public InventoryFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// An inventory enum as a kebab-case string. A bad value is an error that names it and the allowed values
/// ("'frozen' is not one of standard, archive"); numbers are refused (policies/inventory.md).
/// </summary>
internal sealed class InventoryEnumConverter<T> : JsonConverter<T>
    where T : struct, Enum
{
    private readonly Dictionary<string, T> byName = new(StringComparer.Ordinal);
    private readonly Dictionary<T, string> names = [];
    private readonly string allowed;

    public InventoryEnumConverter()
    {
        foreach (var value in Enum.GetValues<T>())
        {
            var name = JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());
            byName[name] = value;
            names[value] = name;
        }

        allowed = string.Join(", ", names.Values);
    }

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new InventoryValueException($"expected a string, one of {allowed}", ValueBytes(ref reader));
        }

        var text = reader.GetString()!;
        return byName.TryGetValue(text, out var value) ? value : throw new InventoryValueException($"'{text}' is not one of {allowed}", ValueBytes(ref reader));
    }

    /// <summary>The bytes of the current value as written (quotes included), to locate its start.</summary>
    private static long ValueBytes(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
        {
            return 0;
        }

        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        return reader.TokenType == JsonTokenType.String ? length + 2 : length;
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(names.TryGetValue(value, out var name) ? name : JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString()));
    }
}

/// <summary>A bad inventory value; <see cref="ValueBytes"/> says how far back the value starts from the reader's position.</summary>
internal sealed class InventoryValueException(string message, long valueBytes) : JsonException(message)
{
    public long ValueBytes { get; } = valueBytes;
}
