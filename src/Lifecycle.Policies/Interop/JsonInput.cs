using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifecycle.Policies.Interop;

/// <summary>Reads an AWS JSON document from a file, bounded in size and depth; failures are located errors, never exceptions.</summary>
public static class JsonInput
{
    /// <summary>Largest input file read (10 MiB): a DLM policy or backup plan is a few KiB.</summary>
    public const long MaxFileBytes = 10 * 1024 * 1024;

    internal static JsonNode? Read(string file, InteropReport report)
    {
        byte[] content;
        try
        {
            var length = new FileInfo(file).Length;
            if (length > MaxFileBytes)
            {
                report.Error("$", $"the file is {length} bytes; input files are limited to {MaxFileBytes} bytes (10 MiB)");
                return null;
            }

            content = File.ReadAllBytes(file);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            report.Error("$", $"cannot read the file: {exception.Message}");
            return null;
        }

        return Parse(content, report);
    }

    internal static JsonNode? Parse(ReadOnlySpan<byte> content, InteropReport report)
    {
        if (content.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        try
        {
            var node = JsonNode.Parse(content, documentOptions: new JsonDocumentOptions { MaxDepth = 64, AllowDuplicateProperties = false });
            if (node is null)
            {
                report.Error("$", "the file holds null, not a JSON object");
            }

            return node;
        }
        catch (JsonException exception)
        {
            var where = exception.LineNumber is { } line ? $" at line {line + 1}, column {(exception.BytePositionInLine ?? 0) + 1}" : "";
            report.Error(exception.Path ?? PathAtError(content), $"not valid JSON{where}: {Trim(exception.Message)}");
            return null;
        }
    }

    /// <summary>The JSON path the reader had reached when the syntax broke (the parser's own exception names none).</summary>
    private static string PathAtError(ReadOnlySpan<byte> content)
    {
        var frames = new List<(bool IsArray, int Index, string? Property)>();
        var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            while (reader.Read())
            {
                if (frames.Count > 0 && frames[^1].IsArray && reader.TokenType is not (JsonTokenType.EndArray or JsonTokenType.Comment))
                {
                    frames[^1] = frames[^1] with { Index = frames[^1].Index + 1 };
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        frames[^1] = frames[^1] with { Property = reader.GetString() };
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        frames.Add((reader.TokenType == JsonTokenType.StartArray, -1, null));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        frames.RemoveAt(frames.Count - 1);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // the same error the parser found: frames hold where it was
        }

        // The innermost frame names the member or item being read (its own start was already pushed).
        var path = new System.Text.StringBuilder("$");
        foreach (var (isArray, index, property) in frames)
        {
            if (isArray && index >= 0)
            {
                path.Append('[').Append(index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(']');
            }
            else if (!isArray && property is not null)
            {
                path.Append('.').Append(property);
            }
        }

        return path.ToString();
    }

    private static string Trim(string message)
    {
        foreach (var tail in new[] { " Path:", " LineNumber:" })
        {
            var end = message.IndexOf(tail, StringComparison.Ordinal);
            if (end > 0)
            {
                message = message[..end];
            }
        }

        return message;
    }
}
