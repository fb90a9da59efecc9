using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Lifecycle.Policies.Language;

namespace Lifecycle.Policies.Schema;

/// <summary>
/// Writes the JSON Schema (draft-07, what yaml-language-server reads) of policy language v1 from the one language
/// description in <see cref="PolicyLanguage"/>. Deterministic output: the committed
/// policies/lifecycle-policy.schema.json must equal it byte for byte.
/// </summary>
internal static class JsonSchemaGenerator
{
    public const string SchemaId = "https://lifecycle.dev/schemas/lifecycle-policy-v1.json";

    public static string Generate()
    {
        var definitions = new SortedDictionary<string, Shape>(StringComparer.Ordinal);
        Collect(PolicyLanguage.Document, definitions, isRoot: true);

        using var stream = new MemoryStream();
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, NewLine = "\n" };
        using (var writer = new Utf8JsonWriter(stream, options))
        {
            writer.WriteStartObject();
            writer.WriteString("$schema", "http://json-schema.org/draft-07/schema#");
            writer.WriteString("$id", SchemaId);
            writer.WriteString("title", "Lifecycle snapshot policy (lifecycle/v1)");
            WriteBody(writer, PolicyLanguage.Document);
            writer.WriteStartObject("definitions");
            foreach (var (name, shape) in definitions)
            {
                writer.WriteStartObject(name);
                WriteBody(writer, shape);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void Collect(Shape shape, SortedDictionary<string, Shape> definitions, bool isRoot = false)
    {
        if (!isRoot && shape.Name is { } name)
        {
            if (definitions.TryGetValue(name, out var existing))
            {
                if (!ReferenceEquals(existing, shape))
                {
                    throw new InvalidOperationException($"two shapes are named '{name}'");
                }

                return;
            }

            definitions.Add(name, shape);
        }

        IEnumerable<Shape> children = shape switch
        {
            ObjectShape o => o.Properties.Select(p => p.Shape),
            MapShape m => [m.Values],
            ArrayShape a => [a.Items],
            StringOrListShape s => [s.Item],
            _ => [],
        };
        foreach (var child in children)
        {
            Collect(child, definitions);
        }
    }

    private static void WriteShape(Utf8JsonWriter writer, Shape shape, string? description = null, object? defaultValue = null)
    {
        writer.WriteStartObject();
        if (shape.Name is { } name)
        {
            writer.WriteString("$ref", "#/definitions/" + name);
            if (description is not null)
            {
                writer.WriteString("description", description);
            }
        }
        else
        {
            WriteBody(writer, shape, description);
        }

        if (defaultValue is not null)
        {
            writer.WritePropertyName("default");
            JsonSerializer.Serialize(writer, defaultValue);
        }

        writer.WriteEndObject();
    }

    private static void WriteBody(Utf8JsonWriter writer, Shape shape, string? description = null)
    {
        if ((description ?? shape.Description) is { } text)
        {
            writer.WriteString("description", text);
        }

        switch (shape)
        {
            case ObjectShape o:
                WriteObject(writer, o);
                break;
            case MapShape m:
                writer.WriteString("type", "object");
                if (m.MinProperties > 0)
                {
                    writer.WriteNumber("minProperties", m.MinProperties);
                }

                writer.WriteNumber("maxProperties", m.MaxProperties);
                writer.WriteStartObject("propertyNames");
                writer.WriteNumber("minLength", 1);
                writer.WriteNumber("maxLength", m.MaxKeyLength);
                if (m.KeyPattern is { } keyPattern)
                {
                    writer.WriteString("pattern", keyPattern);
                }

                writer.WriteEndObject();
                writer.WritePropertyName("additionalProperties");
                WriteShape(writer, m.Values);
                break;
            case ArrayShape a:
                writer.WriteString("type", "array");
                writer.WritePropertyName("items");
                WriteShape(writer, a.Items);
                if (a.MinItems > 0)
                {
                    writer.WriteNumber("minItems", a.MinItems);
                }

                if (a.MaxItems is { } max)
                {
                    writer.WriteNumber("maxItems", max);
                }

                if (a.UniqueItems)
                {
                    writer.WriteBoolean("uniqueItems", true);
                }

                break;
            case StringShape s:
                WriteString(writer, s);
                break;
            case IntegerShape i:
                writer.WriteString("type", "integer");
                writer.WriteNumber("minimum", i.Minimum);
                writer.WriteNumber("maximum", i.Maximum);
                break;
            case BooleanShape:
                writer.WriteString("type", "boolean");
                break;
            case StringOrListShape sl:
                writer.WriteStartArray("oneOf");
                WriteShape(writer, sl.Item);
                writer.WriteStartObject();
                writer.WriteString("type", "array");
                writer.WritePropertyName("items");
                WriteShape(writer, sl.Item);
                writer.WriteNumber("minItems", 1);
                writer.WriteNumber("maxItems", sl.MaxItems);
                writer.WriteEndObject();
                writer.WriteEndArray();
                break;
            case CountOrPercentShape cp:
                writer.WriteStartArray("oneOf");
                writer.WriteStartObject();
                writer.WriteString("type", "integer");
                writer.WriteNumber("minimum", 1);
                writer.WriteNumber("maximum", cp.MaxCount);
                writer.WriteEndObject();
                writer.WriteStartObject();
                writer.WriteString("type", "string");
                writer.WriteString("pattern", PolicyLanguage.PercentPattern);
                writer.WriteEndObject();
                writer.WriteEndArray();
                break;
            default:
                throw new InvalidOperationException($"unknown shape {shape.GetType().Name}");
        }
    }

    private static void WriteString(Utf8JsonWriter writer, StringShape s)
    {
        writer.WriteString("type", "string");
        if (s.Enum is { } values)
        {
            writer.WriteStartArray("enum");
            foreach (var value in values)
            {
                writer.WriteStringValue(value);
            }

            writer.WriteEndArray();
            return;
        }

        if (s.MinLength > 0)
        {
            writer.WriteNumber("minLength", s.MinLength);
        }

        writer.WriteNumber("maxLength", s.MaxLength);
        if (s.Pattern is { } pattern)
        {
            writer.WriteString("pattern", pattern);
        }

        if (s.Examples.Count > 0)
        {
            writer.WriteStartArray("examples");
            foreach (var example in s.Examples)
            {
                writer.WriteStringValue(example);
            }

            writer.WriteEndArray();
        }
    }

    private static void WriteObject(Utf8JsonWriter writer, ObjectShape o)
    {
        writer.WriteString("type", "object");
        writer.WriteStartObject("properties");
        foreach (var property in o.Properties)
        {
            writer.WritePropertyName(property.Name);
            WriteShape(writer, property.Shape, property.Description, property.Default);
        }

        writer.WriteEndObject();
        var required = o.Properties.Where(p => p.Required).ToList();
        if (required.Count > 0)
        {
            writer.WriteStartArray("required");
            foreach (var property in required)
            {
                writer.WriteStringValue(property.Name);
            }

            writer.WriteEndArray();
        }

        writer.WriteBoolean("additionalProperties", false);
        var alternatives = o.ExactlyOneOf.Select(group => (Keyword: "oneOf", Keys: (IReadOnlyList<string>)group)).ToList();
        if (o.AnyOf.Count > 0)
        {
            alternatives.Add(("anyOf", o.AnyOf));
        }

        if (alternatives.Count == 1)
        {
            WriteRequiredAlternatives(writer, alternatives[0].Keyword, alternatives[0].Keys);
        }
        else if (alternatives.Count > 1)
        {
            writer.WriteStartArray("allOf");
            foreach (var (keyword, keys) in alternatives)
            {
                writer.WriteStartObject();
                WriteRequiredAlternatives(writer, keyword, keys);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        if (o.Requires.Count > 0)
        {
            writer.WriteStartObject("dependencies");
            foreach (var (key, needs) in o.Requires)
            {
                writer.WriteStartArray(key);
                writer.WriteStringValue(needs);
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }
    }

    private static void WriteRequiredAlternatives(Utf8JsonWriter writer, string keyword, IReadOnlyList<string> keys)
    {
        writer.WriteStartArray(keyword);
        foreach (var key in keys)
        {
            writer.WriteStartObject();
            writer.WriteStartArray("required");
            writer.WriteStringValue(key);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
