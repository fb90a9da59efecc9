using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Lifecycle.Server.Ec2;

/// <summary>An EC2 filter: <c>Filter.N.Name</c> and its values <c>Filter.N.Value.M</c> (alternatives).</summary>
public sealed record Ec2Filter(string Name, ImmutableArray<string> Values);

/// <summary>
/// The parameters of one EC2 Query request (form body and query string together), with typed readers that follow
/// the <c>ec2</c> protocol: flat lists (<c>Prefix.1</c>, <c>Prefix.2</c>, …), lists of structures
/// (<c>Filter.1.Name</c>), nested lists (<c>Filter.1.Value.1</c>, <c>TagSpecification.1.Tag.2.Key</c>). Every reader
/// throws an <see cref="Ec2Error"/> naming the parameter; none reads more than the request holds.
/// </summary>
public sealed class Ec2Parameters
{
    /// <summary>Elements of one list (EC2 itself caps most lists at 1,000 or fewer).</summary>
    public const int MaxListLength = 1000;

    private readonly Dictionary<string, string> values;

    private Ec2Parameters(Dictionary<string, string> values) => this.values = values;

    public IReadOnlyDictionary<string, string> All => values;

    /// <summary>Parses form-encoded text (<c>a=1&amp;b=x+y</c>) into <paramref name="into"/>; a repeated name is an error.</summary>
    public static Ec2Parameters Parse(params string?[] encoded)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in encoded)
        {
            if (string.IsNullOrEmpty(text))
            {
                continue;
            }

            foreach (var pair in text.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var name = Decode(equals < 0 ? pair : pair[..equals]);
                var value = equals < 0 ? "" : Decode(pair[(equals + 1)..]);
                if (!name.All(System.Xml.XmlConvert.IsXmlChar) || !value.All(System.Xml.XmlConvert.IsXmlChar))
                {
                    throw Ec2Error.InvalidParameterValue($"The parameter {Shorten(new string(name.Where(System.Xml.XmlConvert.IsXmlChar).ToArray()))} holds a control character");
                }

                if (name.Length == 0)
                {
                    throw Ec2Error.InvalidParameterValue("a parameter without a name was sent");
                }

                if (!result.TryAdd(name, value))
                {
                    throw Ec2Error.InvalidParameterValue($"The parameter {Shorten(name)} was sent more than once");
                }
            }
        }

        return new Ec2Parameters(result);
    }

    public string? String(string name) => values.GetValueOrDefault(name);

    public string Required(string name) => values.TryGetValue(name, out var value) && value.Length > 0 ? value : throw Ec2Error.MissingParameter(name);

    public bool Has(string name) => values.ContainsKey(name);

    public bool? Bool(string name) => values.TryGetValue(name, out var value)
        ? value switch
        {
            "true" or "True" or "TRUE" => true,
            "false" or "False" or "FALSE" => false,
            _ => throw Ec2Error.InvalidParameterValue($"Value ({Shorten(value)}) for parameter {name} is invalid: expected true or false"),
        }
        : null;

    public int? Int(string name, int min, int max)
    {
        if (!values.TryGetValue(name, out var value))
        {
            return null;
        }

        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Shorten(value)}) for parameter {name} is invalid: expected an integer from {min} to {max}");
        }

        return number;
    }

    /// <summary>A flat list <c>Prefix.1</c>, <c>Prefix.2</c>, …: indexes must be 1..N without gaps.</summary>
    public ImmutableArray<string> List(string prefix) =>
        [.. Indexes(prefix, requireLeaf: true).Select(i => values[$"{prefix}.{i.ToString(CultureInfo.InvariantCulture)}"])];

    /// <summary>The indexes N present under <c>Prefix.N</c> (as a leaf, or as a structure <c>Prefix.N.Field</c>), checked to be 1..count.</summary>
    public IReadOnlyList<int> Indexes(string prefix, bool requireLeaf = false)
    {
        var found = new SortedSet<int>();
        var start = prefix + ".";
        foreach (var name in values.Keys)
        {
            if (!name.StartsWith(start, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = name.AsSpan(start.Length);
            var dot = rest.IndexOf('.');
            var digits = dot < 0 ? rest : rest[..dot];
            if (requireLeaf && dot >= 0)
            {
                throw Ec2Error.InvalidParameterValue($"The parameter {Shorten(name)} is not a member of the list {prefix}");
            }

            if (digits.Length == 0 || digits.Length > 4 || digits[0] == '0' || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                throw Ec2Error.InvalidParameterValue($"The parameter {Shorten(name)} has an invalid list index (expected {prefix}.1, {prefix}.2, …)");
            }

            if (index > MaxListLength)
            {
                throw Ec2Error.InvalidParameterValue($"The list {prefix} has more than {MaxListLength} members");
            }

            found.Add(index);
        }

        if (found.Count > 0 && found.Max != found.Count)
        {
            throw Ec2Error.InvalidParameterValue($"The list {prefix} skips an index: members must be numbered {prefix}.1 to {prefix}.{found.Count} without gaps");
        }

        return [.. found];
    }

    /// <summary><c>Filter.N.Name</c> / <c>Filter.N.Value.M</c>; a filter needs a name and at least one value.</summary>
    public ImmutableArray<Ec2Filter> Filters()
    {
        var filters = ImmutableArray.CreateBuilder<Ec2Filter>();
        foreach (var i in Indexes("Filter"))
        {
            var prefix = $"Filter.{i.ToString(CultureInfo.InvariantCulture)}";
            var name = Required(prefix + ".Name");
            var filterValues = List(prefix + ".Value");
            if (filterValues.IsEmpty)
            {
                throw Ec2Error.MissingParameter(prefix + ".Value.1");
            }

            filters.Add(new Ec2Filter(name, filterValues));
        }

        return filters.ToImmutable();
    }

    /// <summary>
    /// Tags of the <c>TagSpecification.N</c> entries whose <c>ResourceType</c> is <paramref name="resourceType"/>
    /// (another type is an error naming it), as one set (a key given twice is an error).
    /// </summary>
    public ImmutableSortedDictionary<string, string> TagSpecifications(string resourceType)
    {
        var tags = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var i in Indexes("TagSpecification"))
        {
            var prefix = $"TagSpecification.{i.ToString(CultureInfo.InvariantCulture)}";
            var type = Required(prefix + ".ResourceType");
            if (type != resourceType)
            {
                throw Ec2Error.InvalidParameterValue($"Value ({Shorten(type)}) for parameter {prefix}.ResourceType is invalid: this operation tags a '{resourceType}'");
            }

            foreach (var (key, value) in Tags(prefix + ".Tag", requireValue: false))
            {
                if (!tags.TryAdd(key, value ?? ""))
                {
                    throw Ec2Error.InvalidParameterValue($"The tag key '{Shorten(key)}' is given more than once in TagSpecification");
                }
            }
        }

        return tags.ToImmutable();
    }

    /// <summary><c>Prefix.N.Key</c> / <c>Prefix.N.Value</c> in order; a missing value is null (DeleteTags: any value).</summary>
    public ImmutableArray<(string Key, string? Value)> Tags(string prefix, bool requireValue)
    {
        var tags = ImmutableArray.CreateBuilder<(string, string?)>();
        foreach (var i in Indexes(prefix))
        {
            var item = $"{prefix}.{i.ToString(CultureInfo.InvariantCulture)}";
            var key = Required(item + ".Key");
            CheckTagKey(key, item + ".Key");
            var value = String(item + ".Value");
            if (value is null && requireValue)
            {
                value = "";
            }

            if (value is { Length: > 256 })
            {
                throw Ec2Error.InvalidParameterValue($"Value for parameter {item}.Value is invalid: a tag value has at most 256 characters");
            }

            tags.Add((key, value));
        }

        if (tags.Count > 50)
        {
            throw new Ec2Error("TagLimitExceeded", $"{prefix}: a resource has at most 50 tags, {tags.Count} were given");
        }

        return tags.ToImmutable();
    }

    /// <summary>EC2's key rules: 1–128 characters, and <c>aws:</c> is reserved.</summary>
    public static void CheckTagKey(string key, string parameter)
    {
        if (key.Length is 0 or > 128)
        {
            throw Ec2Error.InvalidParameterValue($"Value for parameter {parameter} is invalid: a tag key has 1 to 128 characters");
        }

        if (key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
        {
            throw Ec2Error.InvalidParameterValue($"Value ({Shorten(key)}) for parameter {parameter} is invalid: tag keys starting with 'aws:' are reserved");
        }
    }

    /// <summary>At most 64 characters of a value, for messages.</summary>
    public static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    private static string Decode(string text)
    {
        var plus = text.Replace('+', ' ');
        if (!plus.Contains('%', StringComparison.Ordinal))
        {
            return plus;
        }

        // Percent-decoding to bytes, then strict UTF-8: a bad escape or invalid UTF-8 is the caller's error.
        var bytes = new List<byte>(plus.Length);
        for (var i = 0; i < plus.Length; i++)
        {
            var c = plus[i];
            if (c == '%')
            {
                if (i + 2 >= plus.Length || !byte.TryParse(plus.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
                {
                    throw Ec2Error.InvalidParameterValue($"a parameter has an invalid percent-escape near '{Shorten(plus[i..])}'");
                }

                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            throw Ec2Error.InvalidParameterValue("a parameter is not valid UTF-8 after percent-decoding");
        }
    }
}
