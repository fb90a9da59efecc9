using System.Collections.Immutable;
using Lifecycle.Core.Policies;

namespace Lifecycle.Policies;

/// <summary>Collects every diagnostic of a load; nothing stops at the first error.</summary>
internal sealed class DiagnosticBag
{
    private readonly List<PolicyDiagnostic> items = [];

    public int ErrorCount { get; private set; }

    public void Error(SourceLocation location, string fieldPath, string message)
    {
        items.Add(new PolicyDiagnostic(DiagnosticSeverity.Error, location, fieldPath, message));
        ErrorCount++;
    }

    public void Warning(SourceLocation location, string fieldPath, string message) =>
        items.Add(new PolicyDiagnostic(DiagnosticSeverity.Warning, location, fieldPath, message));

    /// <summary>Sorted by file (ordinal), line, column; ties keep the order they were found in.</summary>
    public ImmutableArray<PolicyDiagnostic> ToSortedArray() =>
        [.. items
            .Distinct()
            .OrderBy(d => d.Location.File, StringComparer.Ordinal)
            .ThenBy(d => d.Location.Line)
            .ThenBy(d => d.Location.Column)];
}

/// <summary>Field paths as printed in diagnostics: <c>spec.schedules[0].retain.count</c>.</summary>
internal static class FieldPath
{
    /// <summary>Path of the file itself (size, encoding) and of a document's root.</summary>
    public const string File = "(file)";
    public const string Document = "(document)";

    public static string Child(string parent, string key)
    {
        var simple = key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or ':' or '/');
        var part = simple ? key : "[\"" + key.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"]";
        if (parent is "" or Document)
        {
            return part;
        }

        return simple ? parent + "." + part : parent + part;
    }

    public static string Index(string parent, int index) =>
        (parent is "" or Document ? "" : parent) + "[" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]";
}
