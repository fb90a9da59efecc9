using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifecycle.Core.Inventory;

/// <summary>The inventory file format (policies/inventory.md): camelCase JSON, enums as kebab-case strings.</summary>
public static class InventoryJson
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
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
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
            var column = (e.BytePositionInLine ?? 0) + 1;
            throw new InventoryFormatException($"{fileName}:{line}:{column}: error: {e.Path ?? "$"}: {e.Message}", e);
        }
    }

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
