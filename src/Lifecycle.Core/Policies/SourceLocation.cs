namespace Lifecycle.Core.Policies;

/// <summary>Where a policy (or one of its fields) was written: file path and 1-based line and column.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation None { get; } = new("<none>", 0, 0);

    public override string ToString() => $"{File}:{Line}:{Column}";
}
