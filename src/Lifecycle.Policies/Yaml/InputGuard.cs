using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Lifecycle.Core.Policies;

namespace Lifecycle.Policies.Yaml;

/// <summary>
/// Checks a policy file before any YAML parsing: size, encoding, binary content and tab indentation. Each problem is
/// one located error; a file that fails here is not parsed at all.
/// </summary>
internal static class InputGuard
{
    /// <summary>Largest policy file accepted (1 MiB); a large policy set is a few tens of KiB.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>Most tab-indentation errors listed for one file; the rest would only repeat the message.</summary>
    private const int MaxTabErrors = 10;

    /// <summary>Decodes UTF-8 bytes (a BOM is allowed); null when the file is rejected.</summary>
    public static string? Decode(ReadOnlySpan<byte> content, string file, DiagnosticBag diagnostics)
    {
        if (content.Length > MaxFileBytes)
        {
            diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File,
                $"the file is {content.Length} bytes; policy files are limited to {MaxFileBytes} bytes (1 MiB)");
            return null;
        }

        if (content.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        var chars = ArrayPool<char>.Shared.Rent(Math.Max(1, content.Length));
        try
        {
            var status = Utf8.ToUtf16(content, chars, out var bytesRead, out var charsWritten, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
            {
                var location = LocationAt(chars.AsSpan(0, charsWritten), charsWritten, file);
                diagnostics.Error(location, FieldPath.File,
                    $"the file is not valid UTF-8 (byte 0x{content[bytesRead]:X2} at offset {bytesRead})");
                return null;
            }

            return new string(chars, 0, charsWritten);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>Checks decoded text; false when the file is rejected (errors already reported).</summary>
    public static bool Check(string text, string file, DiagnosticBag diagnostics)
    {
        if (Encoding.UTF8.GetByteCount(text) > MaxFileBytes)
        {
            diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File,
                $"the file is larger than {MaxFileBytes} bytes (1 MiB), the limit for a policy file");
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var binary = (c < ' ' && c is not '\t' and not '\n' and not '\r') || c == '\u007F' || c is '\uFFFE' or '\uFFFF' or '\uFFFD'
                || (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) && !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1])));
            if (binary)
            {
                diagnostics.Error(LocationAt(text, i, file), FieldPath.File,
                    $"the file contains the control or invalid character U+{(int)c:X4}; is it a binary file?");
                return false;
            }
        }

        if (IsBlank(text))
        {
            diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File,
                "the file is empty; expected at least one SnapshotPolicy document");
            return false;
        }

        return CheckIndentation(text, file, diagnostics);
    }

    private static bool CheckIndentation(string text, string file, DiagnosticBag diagnostics)
    {
        var errors = 0;
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] != '\n')
            {
                continue;
            }

            // Leading whitespace of this line: a tab there is indentation (YAML forbids it; editors hide it).
            var j = lineStart;
            while (j < i && text[j] is ' ' or '\t')
            {
                j++;
            }

            var blank = j >= i || text[j] is '\r' or '#';
            var tab = text.IndexOf('\t', lineStart, j - lineStart);
            if (!blank && tab >= 0 && errors < MaxTabErrors)
            {
                diagnostics.Error(new SourceLocation(file, line, tab - lineStart + 1), FieldPath.File,
                    "a tab is used for indentation; YAML indentation must use spaces");
                errors++;
            }

            line++;
            lineStart = i + 1;
        }

        return errors == 0;
    }

    private static bool IsBlank(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length > 0 && !line.StartsWith('#') && line != "---" && line != "...")
            {
                return false;
            }
        }

        return true;
    }

    private static SourceLocation LocationAt(ReadOnlySpan<char> text, int index, string file)
    {
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < index && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }

        return new SourceLocation(file, line, index - lineStart + 1);
    }
}
