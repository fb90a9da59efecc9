using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Scheduling.Policies;

/// <summary>
/// Turns policy file texts into a validated set. Scheduling knows no YAML: the host plugs in the policy loader.
/// Must be deterministic, so every node parses a stored revision to the same set.
/// </summary>
public interface IPolicySetParser
{
    PolicyParseResult Parse(IReadOnlyList<PolicySource> sources);
}

/// <summary>The parsed set and every diagnostic, already formatted <c>FILE:LINE:COLUMN: error: FIELD: message</c>.</summary>
public sealed record PolicyParseResult(PolicySet Policies, ImmutableArray<PolicyDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}
