using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lifecycle.Cli.Commands;
using YamlDotNet.RepresentationModel;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>The repository's deploy/ files and the README, and what the checks need to read them.</summary>
internal static partial class DeployFiles
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Lifecycle.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no Lifecycle.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Every YAML document of <paramref name="text"/> as JSON (YAML 1.2 core scalars, aliases and merge keys resolved).</summary>
    public static List<JsonNode?> YamlDocuments(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents.Select(d => ToJson(d.RootNode))];
    }

    public static JsonNode? Yaml(string text) => YamlDocuments(text).Single();

    /// <summary>
    /// A YAML node as JSON: a plain scalar is null, a bool, an integer or a number when it reads as one (YAML 1.2's
    /// core schema), a quoted one is a string; <c>&lt;&lt;</c> merges a mapping (or a list of them) under the keys
    /// already present, as Compose does.
    /// </summary>
    public static JsonNode? ToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                return Scalar(scalar);
            case YamlSequenceNode sequence:
                return new JsonArray([.. sequence.Children.Select(ToJson)]);
            case YamlMappingNode mapping:
                var result = new JsonObject();
                var merged = new List<YamlMappingNode>();
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? "";
                    if (name == "<<" && ((YamlScalarNode)key).Style == YamlDotNet.Core.ScalarStyle.Plain)
                    {
                        merged.AddRange(value is YamlSequenceNode list ? list.Children.Cast<YamlMappingNode>() : [(YamlMappingNode)value]);
                        continue;
                    }

                    if (result.ContainsKey(name))
                    {
                        throw new InvalidDataException($"duplicate key '{name}' at {key.Start}");
                    }

                    result[name] = ToJson(value);
                }

                foreach (var source in merged)
                {
                    foreach (var (name, value) in ((JsonObject)ToJson(source)!).ToList())
                    {
                        if (!result.ContainsKey(name))
                        {
                            result[name] = value?.DeepClone();
                        }
                    }
                }

                return result;
            default:
                throw new NotSupportedException($"YAML node {node.NodeType} at {node.Start}");
        }
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style != YamlDotNet.Core.ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(text.Equals("true", StringComparison.OrdinalIgnoreCase));
        }

        if (IntegerPattern().IsMatch(text))
        {
            return JsonValue.Create(long.Parse(text, CultureInfo.InvariantCulture));
        }

        if (FloatPattern().IsMatch(text))
        {
            return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
        }

        return JsonValue.Create(text);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    /// <summary>
    /// <paramref name="arguments"/> (what follows <c>serve</c>) parsed by the real <c>lifecycle serve</c> command:
    /// the parser's errors (an unknown option, a missing value, …) and every <c>--name</c> that is no option of it;
    /// none when every option is real.
    /// </summary>
    public static IReadOnlyList<string> ServeParseErrors(IReadOnlyList<string> arguments)
    {
        // The parser alone is not enough: an option that takes several values per token (--regions, --allowed-hosts)
        // swallows a following unknown --flag as one of its values. So every --name must also be an option's name.
        var known = ServeOptionNames();
        var unknown = arguments.Where(a => a.StartsWith("--", StringComparison.Ordinal))
            .Select(a => a.Split('=', 2)[0])
            .Where(name => !known.Contains(name))
            .Select(name => $"'{name}' is not an option of lifecycle serve");
        return [.. ServeCommand.Create().Parse(arguments).Errors.Select(e => e.Message), .. unknown];
    }

    /// <summary>The option names of <c>lifecycle serve</c>, from its command definition.</summary>
    public static IReadOnlySet<string> ServeOptionNames() =>
        ServeCommand.Create().Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The value of <c>--name=VALUE</c> or <c>--name VALUE</c> options in <paramref name="arguments"/>, in order.</summary>
    public static List<string> OptionValues(IReadOnlyList<string> arguments, string name)
    {
        var values = new List<string>();
        for (var i = 0; i < arguments.Count; i++)
        {
            if (arguments[i].StartsWith(name + "=", StringComparison.Ordinal))
            {
                values.Add(arguments[i][(name.Length + 1)..]);
            }
            else if (arguments[i] == name && i + 1 < arguments.Count)
            {
                values.Add(arguments[i + 1]);
            }
        }

        return values;
    }

    public static string? OptionValue(IReadOnlyList<string> arguments, string name) => OptionValues(arguments, name).SingleOrDefault();
}
