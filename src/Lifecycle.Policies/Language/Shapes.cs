using System.Text.RegularExpressions;

namespace Lifecycle.Policies.Language;

/// <summary>
/// The shape of one value in the policy language. <see cref="PolicyLanguage"/> describes the whole language with
/// these in one place; the same description drives decoding (<see cref="ShapeValidator"/>) and the published
/// JSON Schema (<see cref="Schema.JsonSchemaGenerator"/>), so they cannot drift apart.
/// </summary>
internal abstract class Shape
{
    /// <summary>When set, the JSON Schema puts this shape under definitions/ and refers to it by name.</summary>
    public string? Name { get; init; }

    public string? Description { get; init; }

    /// <summary>How the shape reads in a type error: "a mapping", "an integer".</summary>
    public abstract string Expected { get; }
}

/// <summary>A mapping with a fixed set of keys; unknown keys are errors.</summary>
internal sealed class ObjectShape : Shape
{
    public required IReadOnlyList<Property> Properties { get; init; }

    /// <summary>Groups of keys of which exactly one must be present (every/cron, exec/http).</summary>
    public IReadOnlyList<string[]> ExactlyOneOf { get; init; } = [];

    /// <summary>Key → the key it needs beside it (startAt needs every).</summary>
    public IReadOnlyList<(string Key, string Needs)> Requires { get; init; } = [];

    /// <summary>At least one of these keys must be present (retain: count, age or buckets).</summary>
    public IReadOnlyList<string> AnyOf { get; init; } = [];

    /// <summary>Added to the "set at least one of" message.</summary>
    public string? AnyOfHint { get; init; }

    /// <summary>Keys people bring from elsewhere (Amazon DLM's names) → what to write here instead.</summary>
    public IReadOnlyDictionary<string, string> ForeignKeys { get; init; } = new Dictionary<string, string>();

    public Property? Find(string name) => Properties.FirstOrDefault(p => p.Name == name);

    public override string Expected => "a mapping";
}

/// <summary>One key of an <see cref="ObjectShape"/>; <see cref="Default"/> is documentation (the compiler applies it).</summary>
internal sealed record Property(string Name, Shape Shape, string Description, bool Required = false, object? Default = null);

/// <summary>A mapping from free-form string keys (tag keys) to values of one shape.</summary>
internal sealed class MapShape : Shape
{
    public required Shape Values { get; init; }

    public int MinProperties { get; init; }

    public int MaxProperties { get; init; } = 50;

    public int MaxKeyLength { get; init; } = 128;

    /// <summary>Regular expression every key must match (JSON Schema propertyNames.pattern); null: any key.</summary>
    public string? KeyPattern { get; init; }

    /// <summary>What the key pattern means, for the error message.</summary>
    public string? KeyPatternHint { get; init; }

    private Regex? keyRegex;

    public Regex? CompiledKeyPattern => KeyPattern is null ? null : keyRegex ??= new Regex(KeyPattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    public override string Expected => "a mapping";
}

internal sealed class ArrayShape : Shape
{
    public required Shape Items { get; init; }

    public int MinItems { get; init; }

    public int? MaxItems { get; init; }

    /// <summary>Items are scalars that must be distinct.</summary>
    public bool UniqueItems { get; init; }

    /// <summary>Added to the type error when a single string is written where the list belongs.</summary>
    public string? ScalarHint { get; init; }

    public override string Expected => "a sequence";
}

/// <summary>A string; plain scalars that look like numbers or booleans are accepted as their text.</summary>
internal sealed class StringShape : Shape
{
    /// <summary>Regular expression for the JSON Schema and for the decoder.</summary>
    public string? Pattern { get; init; }

    /// <summary>What the pattern means, for the error message ("a lowercase name ...").</summary>
    public string? PatternHint { get; init; }

    public IReadOnlyList<string>? Enum { get; init; }

    public int MinLength { get; init; }

    public int MaxLength { get; init; } = 1024;

    /// <summary>Extra semantic check (duration, time zone, cron); returns an error message or null.</summary>
    public Func<string, string?>? Check { get; init; }

    /// <summary>A JSON Schema "format" or "const" does not fit here; this is the schema's example values.</summary>
    public IReadOnlyList<string> Examples { get; init; } = [];

    private Regex? regex;

    public override string Expected => "a string";

    public Regex? CompiledPattern => Pattern is null ? null : regex ??= new Regex(Pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}

internal sealed class IntegerShape : Shape
{
    public long Minimum { get; init; }

    public long Maximum { get; init; } = int.MaxValue;

    public override string Expected => "an integer";
}

internal sealed class BooleanShape : Shape
{
    public override string Expected => "true or false";
}

/// <summary>Either a string or a non-empty list of strings (tag match values: a list means any of).</summary>
internal sealed class StringOrListShape : Shape
{
    public required StringShape Item { get; init; }

    public int MaxItems { get; init; } = 50;

    public override string Expected => "a string or a list of strings";
}

/// <summary>An integer count or a "N%" percentage (maxDeletesPerRun).</summary>
internal sealed class CountOrPercentShape : Shape
{
    public int MaxCount { get; init; } = 100_000;

    public override string Expected => "a count or a percentage such as 10%";
}
