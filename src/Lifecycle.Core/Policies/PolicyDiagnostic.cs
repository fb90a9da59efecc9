namespace Lifecycle.Core.Policies;

public enum DiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>
/// A located problem in a policy. Printed exactly as <c>FILE:LINE:COLUMN: error: FIELD.PATH: message</c>
/// (or <c>warning:</c>), the format `lifecycle validate` and every other command use.
/// </summary>
public sealed record PolicyDiagnostic(DiagnosticSeverity Severity, SourceLocation Location, string FieldPath, string Message)
{
    public override string ToString() =>
        $"{Location}: {(Severity == DiagnosticSeverity.Error ? "error" : "warning")}: {FieldPath}: {Message}";
}
