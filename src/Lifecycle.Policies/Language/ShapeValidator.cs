using System.Globalization;
using System.Text.RegularExpressions;
using Lifecycle.Policies.Yaml;

namespace Lifecycle.Policies.Language;

/// <summary>
/// Checks a YAML node tree against a <see cref="Shape"/>: unknown keys, missing keys, types, ranges, patterns,
/// enums and exclusive keys. Reports every problem and remembers each rejected node, so the compiler skips it
/// instead of reporting it twice.
/// </summary>
internal sealed partial class ShapeValidator(DiagnosticBag diagnostics)
{
    private readonly HashSet<YamlNode> rejected = new(ReferenceEqualityComparer.Instance);

    public bool IsRejected(YamlNode node) => rejected.Contains(node);

    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerSyntax();

    public void Validate(YamlNode node, Shape shape, string path)
    {
        switch (shape)
        {
            case ObjectShape objectShape:
                ValidateObject(node, objectShape, path);
                break;
            case MapShape mapShape:
                ValidateMap(node, mapShape, path);
                break;
            case ArrayShape arrayShape:
                ValidateArray(node, arrayShape, path);
                break;
            case StringShape stringShape:
                ValidateString(node, stringShape, path);
                break;
            case IntegerShape integerShape:
                ValidateInteger(node, integerShape, path);
                break;
            case BooleanShape:
                if (!TryReadBoolean(node, out _))
                {
                    Reject(node, path, $"expected true or false, got {node.Describe()}");
                }

                break;
            case StringOrListShape stringOrList:
                ValidateStringOrList(node, stringOrList, path);
                break;
            case CountOrPercentShape countOrPercent:
                ValidateCountOrPercent(node, countOrPercent, path);
                break;
            default:
                throw new InvalidOperationException($"unknown shape {shape.GetType().Name}");
        }
    }

    public static bool TryReadBoolean(YamlNode node, out bool value)
    {
        value = false;
        if (node is not YamlScalar { IsPlain: true } scalar)
        {
            return false;
        }

        switch (scalar.Value)
        {
            case "true" or "True" or "TRUE":
                value = true;
                return true;
            case "false" or "False" or "FALSE":
                return true;
            default:
                return false;
        }
    }

    public static bool TryReadInteger(YamlNode node, out long value)
    {
        value = 0;
        return node is YamlScalar { IsPlain: true } scalar
            && IntegerSyntax().IsMatch(scalar.Value)
            && long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private void Reject(YamlNode node, string path, string message)
    {
        rejected.Add(node);
        diagnostics.Error(node.Location, path, message);
    }

    private bool ExpectMapping(YamlNode node, string path, out YamlMapping mapping)
    {
        if (node is YamlMapping m)
        {
            mapping = m;
            return true;
        }

        mapping = null!;
        Reject(node, path, $"expected a mapping, got {node.Describe()}");
        return false;
    }

    private void ValidateObject(YamlNode node, ObjectShape shape, string path)
    {
        if (!ExpectMapping(node, path, out var mapping))
        {
            return;
        }

        foreach (var entry in mapping.Entries)
        {
            var childPath = FieldPath.Child(path, entry.Key.Value);
            var property = shape.Find(entry.Key.Value);
            if (property is null)
            {
                rejected.Add(entry.Value);
                diagnostics.Error(entry.Key.Location, childPath, UnknownKeyMessage(entry.Key.Value, shape));
                continue;
            }

            Validate(entry.Value, property.Shape, childPath);
        }

        // Problems of the mapping as a whole (missing or conflicting keys) do not reject it: the compiler still
        // reads what is there, so the errors inside it are reported in the same run.
        foreach (var property in shape.Properties.Where(p => p.Required && mapping.Find(p.Name) is null))
        {
            diagnostics.Error(mapping.Location, FieldPath.Child(path, property.Name), $"required key '{property.Name}' is missing");
        }

        foreach (var group in shape.ExactlyOneOf)
        {
            var present = group.Select(mapping.Find).OfType<YamlEntry>().OrderBy(e => e.Key.Location.Line).ThenBy(e => e.Key.Location.Column).ToList();
            if (present.Count == 0)
            {
                diagnostics.Error(mapping.Location, path, $"set exactly one of {Join(group)}; none is set");
            }
            else if (present.Count > 1)
            {
                var second = present[1];
                diagnostics.Error(second.Key.Location, FieldPath.Child(path, second.Key.Value),
                    $"'{second.Key.Value}' cannot be combined with '{present[0].Key.Value}'; set exactly one of {Join(group)}");
            }
        }

        foreach (var (key, needs) in shape.Requires)
        {
            var entry = mapping.Find(key);
            if (entry is not null && mapping.Find(needs) is null)
            {
                rejected.Add(entry.Value);
                diagnostics.Error(entry.Key.Location, FieldPath.Child(path, key), $"'{key}' applies only together with '{needs}'");
            }
        }

        if (shape.AnyOf.Count > 0 && !shape.AnyOf.Any(k => mapping.Find(k) is not null))
        {
            diagnostics.Error(mapping.Location, path, $"set at least one of {Join(shape.AnyOf)}{shape.AnyOfHint}");
        }
    }

    private static string Join(IEnumerable<string> keys) => string.Join(", ", keys.Select(k => $"'{k}'"));

    private static string UnknownKeyMessage(string key, ObjectShape shape)
    {
        var names = shape.Properties.Select(p => p.Name).ToList();
        var suggestion = names
            .Select(n => (Name: n, Distance: EditDistance(key.ToLowerInvariant(), n.ToLowerInvariant())))
            .Where(c => c.Distance <= Math.Max(1, Math.Min(3, c.Name.Length / 3)))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        var hint = shape.ForeignKeys.TryGetValue(key, out var instead) ? $"; write {instead}"
            : suggestion.Name is null ? "" : $"; did you mean '{suggestion.Name}'?";
        return $"unknown key '{YamlScalar.Shorten(key)}'{hint} (allowed: {string.Join(", ", names)})";
    }

    private static int EditDistance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private void ValidateMap(YamlNode node, MapShape shape, string path)
    {
        if (!ExpectMapping(node, path, out var mapping))
        {
            return;
        }

        if (mapping.Entries.Count < shape.MinProperties)
        {
            diagnostics.Error(mapping.Location, path, $"needs at least {shape.MinProperties} {(shape.MinProperties == 1 ? "entry" : "entries")}");
        }

        if (mapping.Entries.Count > shape.MaxProperties)
        {
            diagnostics.Error(mapping.Location, path, $"has {mapping.Entries.Count} entries; at most {shape.MaxProperties} are allowed");
        }

        foreach (var entry in mapping.Entries)
        {
            var childPath = FieldPath.Child(path, entry.Key.Value);
            if (entry.Key.Value.Length > shape.MaxKeyLength)
            {
                rejected.Add(entry.Value);
                diagnostics.Error(entry.Key.Location, childPath, $"a key may have at most {shape.MaxKeyLength} characters");
                continue;
            }

            if (shape.CompiledKeyPattern is { } keyPattern && !keyPattern.IsMatch(entry.Key.Value))
            {
                rejected.Add(entry.Value);
                diagnostics.Error(entry.Key.Location, childPath, $"'{YamlScalar.Shorten(entry.Key.Value)}' is not {shape.KeyPatternHint ?? "a valid key: it must match " + shape.KeyPattern}");
                continue;
            }

            Validate(entry.Value, shape.Values, childPath);
        }
    }

    private void ValidateArray(YamlNode node, ArrayShape shape, string path)
    {
        if (node is not YamlSequence sequence)
        {
            var hint = node is YamlScalar { IsNull: false } && shape.ScalarHint is { } scalarHint ? "; " + scalarHint : "";
            Reject(node, path, $"expected a sequence, got {node.Describe()}{hint}");
            return;
        }

        // A wrong number of items is reported, but the items are still checked one by one.
        if (sequence.Items.Count < shape.MinItems)
        {
            diagnostics.Error(sequence.Location, path, shape.MinItems == 1 ? "must not be empty" : $"needs at least {shape.MinItems} items");
        }

        if (shape.MaxItems is { } max && sequence.Items.Count > max)
        {
            diagnostics.Error(sequence.Items[max].Location, FieldPath.Index(path, max), $"has {sequence.Items.Count} items; at most {max} are allowed");
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var item = sequence.Items[i];
            var itemPath = FieldPath.Index(path, i);
            Validate(item, shape.Items, itemPath);
            if (shape.UniqueItems && item is YamlScalar scalar && !rejected.Contains(item) && !seen.TryAdd(scalar.Value, i))
            {
                Reject(item, itemPath, $"'{YamlScalar.Shorten(scalar.Value)}' is listed twice (also at [{seen[scalar.Value]}])");
            }
        }
    }

    private void ValidateString(YamlNode node, StringShape shape, string path)
    {
        if (node is not YamlScalar scalar || scalar.IsNull)
        {
            Reject(node, path, $"expected a string, got {node.Describe()}");
            return;
        }

        var value = scalar.Value;
        if (shape.Enum is { } allowed)
        {
            if (!allowed.Contains(value, StringComparer.Ordinal))
            {
                Reject(node, path, allowed.Count == 1
                    ? $"must be '{allowed[0]}', got {scalar.Describe()}"
                    : $"{scalar.Describe()} is not one of: {string.Join(", ", allowed)}");
            }

            return;
        }

        if (value.Length < shape.MinLength)
        {
            Reject(node, path, "must not be empty");
            return;
        }

        if (value.Length > shape.MaxLength)
        {
            Reject(node, path, $"is {value.Length} characters long; at most {shape.MaxLength} are allowed");
            return;
        }

        if (shape.Check?.Invoke(value) is { } problem)
        {
            Reject(node, path, problem);
            return;
        }

        if (shape.CompiledPattern is { } pattern && !pattern.IsMatch(value))
        {
            Reject(node, path, $"{scalar.Describe()} is not {shape.PatternHint ?? "valid: it must match " + shape.Pattern}");
        }
    }

    private void ValidateInteger(YamlNode node, IntegerShape shape, string path)
    {
        if (!TryReadInteger(node, out var value))
        {
            var quoted = node is YamlScalar { IsPlain: false } s && IntegerSyntax().IsMatch(s.Value) ? " (quoted, so a string)" : "";
            Reject(node, path, $"expected an integer, got {node.Describe()}{quoted}");
            return;
        }

        if (value < shape.Minimum || value > shape.Maximum)
        {
            Reject(node, path, value < shape.Minimum
                ? $"must be at least {shape.Minimum}, got {value}"
                : $"must be at most {shape.Maximum}, got {value}");
        }
    }

    private void ValidateStringOrList(YamlNode node, StringOrListShape shape, string path)
    {
        if (node is YamlSequence sequence)
        {
            ValidateArray(sequence, new ArrayShape { Items = shape.Item, MinItems = 1, MaxItems = shape.MaxItems }, path);
            return;
        }

        if (node is not YamlScalar { IsNull: false })
        {
            Reject(node, path, $"expected a string or a list of strings, got {node.Describe()}");
            return;
        }

        ValidateString(node, shape.Item, path);
    }

    private void ValidateCountOrPercent(YamlNode node, CountOrPercentShape shape, string path)
    {
        if (TryReadInteger(node, out var count))
        {
            if (count < 1 || count > shape.MaxCount)
            {
                Reject(node, path, $"must be between 1 and {shape.MaxCount}, got {count}; to stop all deletions set enabled: false");
            }

            return;
        }

        if (node is YamlScalar { IsNull: false } scalar && scalar.Value.EndsWith('%'))
        {
            var number = scalar.Value[..^1];
            if (!IntegerSyntax().IsMatch(number) || !int.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var percent) || percent < 1 || percent > 100)
            {
                Reject(node, path, $"{scalar.Describe()} is not a percentage from 1% to 100%");
            }

            return;
        }

        Reject(node, path, $"expected a count or a percentage such as 10%, got {node.Describe()}");
    }
}
