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
            report.Error(exception.Path ?? "$", $"not valid JSON{where}: {FirstSentence(exception.Message)}");
            return null;
        }
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(" Path:", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message;
    }
}
