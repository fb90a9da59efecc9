using Lifecycle.Core.Policies;

namespace Lifecycle.Policies.Interop;

/// <summary>
/// One finding of an import or export, located in the document it is about: a JSON path for AWS input
/// (<c>$.Policy.PolicyDetails.Schedules[0].ShareRules</c>), a field path of the policy file for an export
/// (<c>spec.schedules[1].retain.buckets</c>). A warning still produces output; an error does not. JSON has no line
/// and column to give here, so this is not a <see cref="PolicyDiagnostic"/>.
/// </summary>
public sealed record InteropDiagnostic(DiagnosticSeverity Severity, string File, string Path, string Message)
{
    public override string ToString() =>
        $"{File}: {Path}: {(Severity == DiagnosticSeverity.Error ? "error" : "warning")}: {Message}";
}

/// <summary>Collects the findings of one document.</summary>
internal sealed class InteropReport(string file)
{
    private readonly List<InteropDiagnostic> items = [];

    public string File { get; } = file;

    public IReadOnlyList<InteropDiagnostic> Items => items;

    public bool HasErrors => ErrorCount > 0;

    public int ErrorCount => items.Count(i => i.Severity == DiagnosticSeverity.Error);

    public void Warning(string path, string message) => items.Add(new(DiagnosticSeverity.Warning, File, path, message));

    public void Error(string path, string message) => items.Add(new(DiagnosticSeverity.Error, File, path, message));
}
