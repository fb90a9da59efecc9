using Lifecycle.Core.Policies;

namespace Lifecycle.Policies.Yaml;

/// <summary>
/// A node of a parsed YAML document with the place it was written. The tree is built by <see cref="YamlTreeReader"/>
/// from parser events (never from YamlDotNet's object model), so every limit on hostile input is ours.
/// An alias is the very node its anchor names (shared, not copied); <see cref="Size"/> counts the expanded size.
/// </summary>
internal abstract class YamlNode(SourceLocation location)
{
    public SourceLocation Location { get; } = location;

    /// <summary>Number of nodes in this subtree with every alias expanded.</summary>
    public abstract int Size { get; }

    /// <summary>"a mapping", "a sequence", "a string": used in type errors.</summary>
    public abstract string Describe();
}

internal sealed class YamlScalar(SourceLocation location, string value, bool isPlain) : YamlNode(location)
{
    public string Value { get; } = value;

    /// <summary>Written without quotes: only plain scalars can be null, booleans or numbers (YAML 1.2 core schema).</summary>
    public bool IsPlain { get; } = isPlain;

    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override int Size => 1;

    public override string Describe() => IsNull ? "null" : $"'{Shorten(Value)}'";

    internal static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";
}

internal sealed class YamlSequence(SourceLocation location, IReadOnlyList<YamlNode> items) : YamlNode(location)
{
    private readonly int size = 1 + items.Sum(i => i.Size);

    public IReadOnlyList<YamlNode> Items { get; } = items;

    public override int Size => size;

    public override string Describe() => "a sequence";
}

/// <summary>One key/value pair of a mapping; the key is always a scalar.</summary>
internal sealed record YamlEntry(YamlScalar Key, YamlNode Value);

internal sealed class YamlMapping(SourceLocation location, IReadOnlyList<YamlEntry> entries) : YamlNode(location)
{
    private readonly int size = 1 + entries.Sum(e => 1 + e.Value.Size);

    /// <summary>Entries in document order; keys are unique (duplicates are reported and dropped by the reader).</summary>
    public IReadOnlyList<YamlEntry> Entries { get; } = entries;

    public override int Size => size;

    public YamlEntry? Find(string key)
    {
        foreach (var entry in Entries)
        {
            if (entry.Key.Value == key)
            {
                return entry;
            }
        }

        return null;
    }

    public override string Describe() => "a mapping";
}

/// <summary>One document of a file: its root node.</summary>
internal sealed record YamlDocument(YamlNode Root, int Index);
