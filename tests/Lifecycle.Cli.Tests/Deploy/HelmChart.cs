using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>
/// deploy/helm/lifecycle rendered as <c>helm template</c> would: values.yaml, then each <c>--set</c>, then every
/// template through <see cref="GoTemplate"/>, split into YAML documents.
/// </summary>
internal static partial class HelmChart
{
    public const string ChartDirectory = "deploy/helm/lifecycle";

    /// <summary>A rendered chart: the manifests by kind (and name), parsed as YAML.</summary>
    public sealed record Rendered(IReadOnlyList<JsonObject> Manifests, string Text)
    {
        public IEnumerable<JsonObject> OfKind(string kind) => Manifests.Where(m => (string?)m["kind"] == kind);

        public JsonObject Single(string kind) => OfKind(kind).Single();
    }

    /// <summary>A <c>helm install|template</c> command line of the README: its release, namespace and <c>--set</c>s.</summary>
    public sealed record Invocation(string Line, string Release, string Namespace, IReadOnlyList<string> Sets)
    {
        public override string ToString() => Line;
    }

    public static Rendered Render(IEnumerable<string> sets, string release = "lifecycle", string @namespace = "default")
    {
        var values = Values(sets);
        var chart = (Dictionary<string, object?>)GoTemplate.FromJson(DeployFiles.Yaml(DeployFiles.Read($"{ChartDirectory}/Chart.yaml")))!;
        var data = new Dictionary<string, object?>
        {
            ["Values"] = values,
            ["Release"] = new Dictionary<string, object?> { ["Name"] = release, ["Namespace"] = @namespace, ["Service"] = "Helm" },
            ["Chart"] = new Dictionary<string, object?> { ["Name"] = chart["name"], ["Version"] = chart["version"], ["AppVersion"] = chart["appVersion"] },
        };
        var text = new StringBuilder();
        var manifests = new List<JsonObject>();
        foreach (var file in Directory.GetFiles(DeployFiles.PathOf($"{ChartDirectory}/templates"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var rendered = GoTemplate.Parse(File.ReadAllText(file)).Render(data);
            text.Append("---\n# Source: ").Append(Path.GetFileName(file)).Append('\n').Append(rendered).Append('\n');
            foreach (var document in DeployFiles.YamlDocuments(rendered))
            {
                if (document is not null)
                {
                    manifests.Add(document as JsonObject ?? throw new InvalidDataException($"{file}: a document that is not a mapping"));
                }
            }
        }

        return new Rendered(manifests, text.ToString());
    }

    /// <summary>values.yaml with <paramref name="sets"/> applied, in order.</summary>
    public static Dictionary<string, object?> Values(IEnumerable<string> sets)
    {
        var values = (Dictionary<string, object?>)GoTemplate.FromJson(DeployFiles.Yaml(DeployFiles.Read($"{ChartDirectory}/values.yaml")))!;
        foreach (var set in sets)
        {
            ApplySet(values, set);
        }

        return values;
    }

    /// <summary>
    /// Helm's <c>--set a.b=v[,c=w]</c>: dots separate keys (<c>\.</c> is a literal dot), <c>{x,y}</c> is a list;
    /// true/false are bools, null removes, digits are int64, anything else a string.
    /// </summary>
    public static void ApplySet(Dictionary<string, object?> values, string set)
    {
        foreach (var assignment in SplitOutsideBraces(set))
        {
            var equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"--set {assignment}: expected KEY=VALUE");
            }

            var keys = KeySeparator().Split(assignment[..equals]).Select(k => k.Replace("\\.", ".", StringComparison.Ordinal)).ToArray();
            var target = values;
            foreach (var key in keys[..^1])
            {
                if (target.GetValueOrDefault(key) is not Dictionary<string, object?> next)
                {
                    next = new Dictionary<string, object?>(StringComparer.Ordinal);
                    target[key] = next;
                }

                target = next;
            }

            var text = assignment[(equals + 1)..];
            object? value = text switch
            {
                "true" => true,
                "false" => false,
                "null" => null,
                _ when text.StartsWith('{') && text.EndsWith('}') => text[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => (object?)v).ToList(),
                _ when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) && !text.StartsWith('0') || text == "0" => long.Parse(text, CultureInfo.InvariantCulture),
                _ => text,
            };
            if (value is null)
            {
                target.Remove(keys[^1]);
            }
            else
            {
                target[keys[^1]] = value;
            }
        }
    }

    private static IEnumerable<string> SplitOutsideBraces(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            depth += text[i] == '{' ? 1 : text[i] == '}' ? -1 : 0;
            if (text[i] == ',' && depth == 0 && (i == 0 || text[i - 1] != '\\'))
            {
                yield return text[start..i];
                start = i + 1;
            }
        }

        yield return text[start..];
    }

    [GeneratedRegex(@"(?<!\\)\.")]
    private static partial Regex KeySeparator();

    /// <summary>
    /// Every <c>helm install</c>/<c>helm upgrade --install</c>/<c>helm template</c> command of the chart in the README's
    /// code blocks (continuation lines joined), with its <c>--set</c> values.
    /// </summary>
    public static List<Invocation> ReadmeInvocations()
    {
        var lines = DeployFiles.Read("README.md").Replace("\\\n", " ", StringComparison.Ordinal).Split('\n');
        var invocations = new List<Invocation>();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (!HelmCommand().IsMatch(line) || !line.Contains(ChartDirectory, StringComparison.Ordinal))
            {
                continue;
            }

            var words = ShellWords(line.Split(" #", 2)[0]);
            var verb = words.IndexOf(words.First(w => w is "install" or "template" or "upgrade"));
            var positional = words.Skip(verb + 1).Where((w, i) => !w.StartsWith('-')).ToList();
            var release = positional.First(w => w != "--install" && w != ChartDirectory);
            var sets = new List<string>();
            var @namespace = "default";
            for (var i = 0; i < words.Count - 1; i++)
            {
                if (words[i] is "--set" or "--set-string")
                {
                    sets.Add(words[i + 1]);
                }
                else if (words[i] is "-n" or "--namespace")
                {
                    @namespace = words[i + 1];
                }
                else if (words[i] is "-f" or "--values" or "--set-file" or "--set-json")
                {
                    throw new NotSupportedException($"README: {line}: {words[i]} is not read by this check; show the values with --set");
                }
            }

            invocations.Add(new Invocation(line, release, @namespace, sets));
        }

        return invocations;
    }

    [GeneratedRegex(@"^helm (install|template|upgrade)\b")]
    private static partial Regex HelmCommand();

    /// <summary>Words of a shell line as bash splits them: whitespace-separated, '…' and "…" quoting, backslash escapes.</summary>
    public static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote == '\'' && c != '\'' || quote == '"' && c != '"' && c != '\\')
            {
                current.Append(c);
            }
            else if (quote == '"' && c == '\\')
            {
                // In "…" a backslash escapes only $ ` " \ (bash).
                if (i + 1 < line.Length && line[i + 1] is '$' or '`' or '"' or '\\')
                {
                    i++;
                }

                current.Append(line[i]);
            }
            else if (quote is not null)
            {
                quote = null;
            }
            else if (c == '\\' && i + 1 < line.Length)
            {
                current.Append(line[++i]);
                inWord = true;
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}
