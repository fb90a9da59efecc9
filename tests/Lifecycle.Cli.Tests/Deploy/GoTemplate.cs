using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>
/// A renderer for the subset of Go templates (text/template plus Helm's functions) that deploy/helm uses, written for
/// the chart's tests because no <c>helm</c> binary is at hand: actions with <c>{{-</c>/<c>-}}</c> trimming, fields
/// (<c>.Values.a.b</c>, <c>.</c>, <c>$</c>, variables), string/number/bool literals, parenthesised pipelines,
/// <c>|</c>, <c>if</c>/<c>else if</c>/<c>else</c>, <c>range</c> (with <c>$k, $v :=</c>), and the functions
/// <c>and or not eq ne gt int default quote toYaml nindent fail</c>. Anything else (<c>with</c>, <c>include</c>,
/// <c>define</c>, an unknown function) throws, so a template outgrowing this renderer fails its test instead of
/// rendering wrongly. As in Go, <c>gt</c> refuses to compare an integer with a float (values.yaml numbers are floats
/// in Helm, <c>--set</c> integers are int64), and a field of a missing map is an error.
/// Values are JSON-like: <see cref="Dictionary{TKey,TValue}"/> of string, <see cref="List{T}"/>, string, bool,
/// long, double or null.
/// </summary>
internal sealed partial class GoTemplate
{
    private readonly List<Node> nodes;

    private GoTemplate(List<Node> nodes) => this.nodes = nodes;

    /// <summary>Thrown by the template's <c>fail</c>: Helm aborts the render with this message.</summary>
    public sealed class FailException(string message) : Exception(message);

    public static GoTemplate Parse(string text)
    {
        var tokens = Tokenize(text);
        var position = 0;
        var body = ParseList(tokens, ref position, out var terminator);
        if (terminator is not null)
        {
            throw new FormatException($"unexpected {{{{{terminator}}}}}");
        }

        return new GoTemplate(body);
    }

    public string Render(object? data)
    {
        var output = new StringBuilder();
        var scope = new Scope(data, data, new Dictionary<string, object?>());
        foreach (var node in nodes)
        {
            node.Render(output, scope);
        }

        return output.ToString();
    }

    /// <summary>JSON (as from a YAML file) to the plain values the renderer works on; YAML numbers become doubles, as in Helm.</summary>
    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => FromJson(p.Value), StringComparer.Ordinal),
        JsonArray a => a.Select(FromJson).ToList(),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.TryGetValue<long>(out var l) ? (double)l : v.GetValue<double>(),
        JsonValue v => v.GetValue<string>(),
        _ => throw new NotSupportedException(node.GetType().Name),
    };

    // ---- tokens --------------------------------------------------------------------------------------------------

    private abstract record Token;

    private sealed record TextToken(string Text) : Token;

    private sealed record ActionToken(string Text) : Token;

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var index = 0;
        var trimNextText = false;
        while (index < text.Length)
        {
            var open = text.IndexOf("{{", index, StringComparison.Ordinal);
            var literal = open < 0 ? text[index..] : text[index..open];
            if (trimNextText)
            {
                literal = literal.TrimStart(' ', '\t', '\r', '\n');
            }

            if (open < 0)
            {
                tokens.Add(new TextToken(literal));
                break;
            }

            var inner = open + 2;
            if (text.Length > inner + 1 && text[inner] == '-' && text[inner + 1] is ' ' or '\t' or '\n')
            {
                literal = literal.TrimEnd(' ', '\t', '\r', '\n');
                inner += 2;
            }

            tokens.Add(new TextToken(literal));
            var close = FindClose(text, inner);
            var actionEnd = close;
            trimNextText = false;
            if (close >= 2 && text[close - 1] == '-' && text[close - 2] is ' ' or '\t' or '\n')
            {
                actionEnd = close - 2;
                trimNextText = true;
            }

            var action = text[inner..actionEnd].Trim();
            if (!(action.StartsWith("/*", StringComparison.Ordinal) && action.EndsWith("*/", StringComparison.Ordinal)))
            {
                tokens.Add(new ActionToken(action));
            }

            index = close + 2;
        }

        return tokens;
    }

    /// <summary>The index of the <c>}}</c> closing an action, skipping string literals.</summary>
    private static int FindClose(string text, int from)
    {
        for (var i = from; i < text.Length - 1; i++)
        {
            if (text[i] == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\')
                    {
                        i++;
                    }
                }
            }
            else if (text[i] == '}' && text[i + 1] == '}')
            {
                return i;
            }
        }

        throw new FormatException("unclosed action");
    }

    // ---- tree ------------------------------------------------------------------------------------------------------

    private sealed record Scope(object? Dot, object? Root, Dictionary<string, object?> Variables)
    {
        public Scope With(object? dot, IEnumerable<KeyValuePair<string, object?>> variables)
        {
            var copy = new Dictionary<string, object?>(Variables);
            foreach (var (name, value) in variables)
            {
                copy[name] = value;
            }

            return this with { Dot = dot, Variables = copy };
        }
    }

    private abstract record Node
    {
        public abstract void Render(StringBuilder output, Scope scope);
    }

    private sealed record TextNode(string Text) : Node
    {
        public override void Render(StringBuilder output, Scope scope) => output.Append(Text);
    }

    private sealed record ActionNode(Expression Pipeline) : Node
    {
        public override void Render(StringBuilder output, Scope scope) => output.Append(Print(Pipeline.Evaluate(scope)));
    }

    private sealed record IfNode(List<(Expression Condition, List<Node> Body)> Branches, List<Node>? Else) : Node
    {
        public override void Render(StringBuilder output, Scope scope)
        {
            foreach (var (condition, body) in Branches)
            {
                if (IsTrue(condition.Evaluate(scope)))
                {
                    RenderAll(body, output, scope);
                    return;
                }
            }

            if (Else is not null)
            {
                RenderAll(Else, output, scope);
            }
        }
    }

    private sealed record RangeNode(string? KeyVariable, string? ValueVariable, Expression Pipeline, List<Node> Body) : Node
    {
        public override void Render(StringBuilder output, Scope scope)
        {
            var items = Pipeline.Evaluate(scope) switch
            {
                null => [],
                List<object?> list => list.Select((v, i) => ((object?)(long)i, v)).ToList(),
                Dictionary<string, object?> map => map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => ((object?)p.Key, p.Value)).ToList(),
                var other => throw new FormatException($"range over {other.GetType().Name}"),
            };
            foreach (var (key, value) in items)
            {
                var variables = new List<KeyValuePair<string, object?>>();
                if (KeyVariable is not null && ValueVariable is not null)
                {
                    variables.Add(new(KeyVariable, key));
                    variables.Add(new(ValueVariable, value));
                }
                else if (ValueVariable is not null)
                {
                    variables.Add(new(ValueVariable, value));
                }

                RenderAll(Body, output, scope.With(value, variables));
            }
        }
    }

    private static void RenderAll(List<Node> body, StringBuilder output, Scope scope)
    {
        foreach (var node in body)
        {
            node.Render(output, scope);
        }
    }

    /// <summary>Nodes up to an <c>end</c>/<c>else</c> (returned in <paramref name="terminator"/>) or the end of input.</summary>
    private static List<Node> ParseList(List<Token> tokens, ref int position, out string? terminator)
    {
        var nodes = new List<Node>();
        while (position < tokens.Count)
        {
            var token = tokens[position++];
            if (token is TextToken text)
            {
                nodes.Add(new TextNode(text.Text));
                continue;
            }

            var action = ((ActionToken)token).Text;
            if (action == "end" || action == "else" || action.StartsWith("else if ", StringComparison.Ordinal))
            {
                terminator = action;
                return nodes;
            }

            if (action.StartsWith("if ", StringComparison.Ordinal))
            {
                var branches = new List<(Expression, List<Node>)>();
                Expression? condition = ExpressionParser.Parse(action[3..]);
                List<Node>? elseBody = null;
                while (true)
                {
                    var body = ParseList(tokens, ref position, out var end);
                    if (end is null)
                    {
                        throw new FormatException("if without end");
                    }

                    if (condition is not null)
                    {
                        branches.Add((condition, body));
                    }
                    else
                    {
                        elseBody = body;
                    }

                    if (end == "end")
                    {
                        break;
                    }

                    if (condition is null)
                    {
                        throw new FormatException("else after else");
                    }

                    condition = end == "else" ? null : ExpressionParser.Parse(end["else if ".Length..]);
                }

                nodes.Add(new IfNode(branches, elseBody));
                continue;
            }

            if (action.StartsWith("range ", StringComparison.Ordinal))
            {
                var declaration = RangeDeclaration().Match(action[6..]);
                string? keyVariable = null, valueVariable = null;
                var pipeline = action[6..];
                if (declaration.Success)
                {
                    var first = declaration.Groups["first"].Value;
                    var second = declaration.Groups["second"];
                    (keyVariable, valueVariable) = second.Success ? (first, second.Value) : (null, first);
                    pipeline = declaration.Groups["pipeline"].Value;
                }

                var body = ParseList(tokens, ref position, out var end);
                if (end != "end")
                {
                    throw new FormatException($"range ended by {end ?? "end of input"} (range/else is not supported)");
                }

                nodes.Add(new RangeNode(keyVariable, valueVariable, ExpressionParser.Parse(pipeline), body));
                continue;
            }

            var keyword = action.Split(' ', 2)[0];
            if (keyword is "with" or "define" or "template" or "block" or "include" or "tpl" or "break" or "continue")
            {
                throw new NotSupportedException($"{{{{{action}}}}}: '{keyword}' is not supported by this renderer");
            }

            nodes.Add(new ActionNode(ExpressionParser.Parse(action)));
        }

        terminator = null;
        return nodes;
    }

    [GeneratedRegex(@"^\s*(?<first>\$\w+)\s*(,\s*(?<second>\$\w+)\s*)?:=\s*(?<pipeline>.+)$")]
    private static partial Regex RangeDeclaration();

    // ---- expressions -----------------------------------------------------------------------------------------------

    private abstract record Expression
    {
        public abstract object? Evaluate(Scope scope);
    }

    private sealed record Literal(object? Value) : Expression
    {
        public override object? Evaluate(Scope scope) => Value;
    }

    /// <summary><c>.a.b</c>, <c>$.a</c>, <c>$name.a</c>: a start and a chain of field names.</summary>
    private sealed record Field(string Start, string[] Names) : Expression
    {
        public override object? Evaluate(Scope scope)
        {
            var value = Start switch
            {
                "." => scope.Dot,
                "$" => scope.Root,
                _ => scope.Variables.TryGetValue(Start, out var v) ? v : throw new FormatException($"undefined variable {Start}"),
            };
            foreach (var name in Names)
            {
                value = value switch
                {
                    Dictionary<string, object?> map => map.GetValueOrDefault(name),
                    null => throw new FormatException($"nil pointer evaluating {Start}{string.Concat(Names.Select(n => "." + n))}: no map holds '{name}'"),
                    _ => throw new FormatException($"can't evaluate field {name} in {value.GetType().Name}"),
                };
            }

            return value;
        }
    }

    /// <summary>A function call; a piped value is its last argument.</summary>
    private sealed record Call(string Function, List<Expression> Arguments) : Expression
    {
        public override object? Evaluate(Scope scope) => Invoke(Function, [.. Arguments.Select(a => a.Evaluate(scope))]);
    }

    private sealed record Pipe(Expression First, List<Call> Rest) : Expression
    {
        public override object? Evaluate(Scope scope)
        {
            var value = First.Evaluate(scope);
            foreach (var call in Rest)
            {
                value = Invoke(call.Function, [.. call.Arguments.Select(a => a.Evaluate(scope)), value]);
            }

            return value;
        }
    }

    private sealed class ExpressionParser
    {
        private readonly List<string> tokens;
        private int position;

        private ExpressionParser(List<string> tokens) => this.tokens = tokens;

        public static Expression Parse(string text)
        {
            var parser = new ExpressionParser(Lex(text));
            var expression = parser.ParsePipeline();
            if (parser.position != parser.tokens.Count)
            {
                throw new FormatException($"unexpected '{parser.tokens[parser.position]}' in '{text}'");
            }

            return expression;
        }

        private Expression ParsePipeline()
        {
            var first = ParseCommand();
            var rest = new List<Call>();
            while (Peek() == "|")
            {
                position++;
                rest.Add(ParseCommand() as Call ?? throw new FormatException("a pipe must end in a function"));
            }

            return rest.Count == 0 ? first : new Pipe(first, rest);
        }

        private Expression ParseCommand()
        {
            var head = Next();
            if (IsIdentifier(head) && head is not ("true" or "false" or "nil"))
            {
                var arguments = new List<Expression>();
                while (Peek() is { } next && next != "|" && next != ")")
                {
                    arguments.Add(ParseOperand(Next()));
                }

                return new Call(head, arguments);
            }

            var operand = ParseOperand(head);
            if (Peek() is { } extra && extra != "|" && extra != ")")
            {
                throw new FormatException($"can't give argument to non-function {head}");
            }

            return operand;
        }

        private Expression ParseOperand(string token)
        {
            if (token == "(")
            {
                var inner = ParsePipeline();
                if (Next() != ")")
                {
                    throw new FormatException("unclosed (");
                }

                return inner;
            }

            if (token.StartsWith('"'))
            {
                return new Literal(JsonSerializer.Deserialize<string>(token));
            }

            if (token is "true" or "false")
            {
                return new Literal(token == "true");
            }

            if (token == "nil")
            {
                return new Literal(null);
            }

            if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            {
                return new Literal(integer);
            }

            if (token.StartsWith('.') || token.StartsWith('$'))
            {
                var parts = token.Split('.');
                return token.StartsWith('.')
                    ? new Field(".", [.. parts.Skip(1).Where(p => p.Length > 0)])
                    : new Field(parts[0], [.. parts.Skip(1)]);
            }

            if (IsIdentifier(token))
            {
                return new Call(token, []);
            }

            throw new FormatException($"unexpected '{token}'");
        }

        private string? Peek() => position < tokens.Count ? tokens[position] : null;

        private string Next() => position < tokens.Count ? tokens[position++] : throw new FormatException("unexpected end of action");

        private static bool IsIdentifier(string token) => token.Length > 0 && char.IsLetter(token[0]) && token.All(c => char.IsLetterOrDigit(c) || c == '_');

        private static List<string> Lex(string text)
        {
            var tokens = new List<string>();
            for (var i = 0; i < text.Length;)
            {
                var c = text[i];
                if (char.IsWhiteSpace(c))
                {
                    i++;
                }
                else if (c is '(' or ')' or '|')
                {
                    tokens.Add(c.ToString());
                    i++;
                }
                else if (c == '"')
                {
                    var start = i++;
                    for (; i < text.Length && text[i] != '"'; i++)
                    {
                        if (text[i] == '\\')
                        {
                            i++;
                        }
                    }

                    tokens.Add(text[start..++i]);
                }
                else
                {
                    var start = i;
                    while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not ('(' or ')' or '|'))
                    {
                        i++;
                    }

                    tokens.Add(text[start..i]);
                }
            }

            return tokens;
        }
    }

    // ---- functions and values --------------------------------------------------------------------------------------

    private static object? Invoke(string function, object?[] arguments)
    {
        object? Only() => arguments.Length == 1 ? arguments[0] : throw new FormatException($"{function} takes 1 argument, got {arguments.Length}");
        switch (function)
        {
            case "and":
                // Go's and: the first false argument, else the last.
                return arguments.FirstOrDefault(a => !IsTrue(a), arguments.Length > 0 ? arguments[^1] : null);
            case "or":
                return arguments.FirstOrDefault(IsTrue, arguments.Length > 0 ? arguments[^1] : null);
            case "not":
                return !IsTrue(Only());
            case "eq":
                return arguments.Skip(1).Any(a => BasicEquals(arguments[0], a));
            case "ne":
                return arguments.Length == 2 ? !BasicEquals(arguments[0], arguments[1]) : throw new FormatException("ne takes 2 arguments");
            case "gt":
                return arguments.Length == 2 ? Compare(arguments[0], arguments[1]) > 0 : throw new FormatException("gt takes 2 arguments");
            case "int":
                return Only() switch
                {
                    null => 0L,
                    long l => l,
                    double d => (long)d,
                    string s => long.TryParse(s, CultureInfo.InvariantCulture, out var v) ? v : 0L,
                    bool b => b ? 1L : 0L,
                    var other => throw new FormatException($"int of {other.GetType().Name}"),
                };
            case "default":
                // Sprig: default DEFAULT VALUE; VALUE (piped) when it is set, else DEFAULT.
                return arguments.Length == 2 ? (IsTrue(arguments[1]) ? arguments[1] : arguments[0]) : throw new FormatException("default takes 2 arguments");
            case "quote":
                return string.Join(' ', arguments.Select(a => JsonSerializer.Serialize(Print(a))));
            case "toYaml":
                return ToYaml(Only()).TrimEnd('\n');
            case "nindent":
                return arguments.Length == 2 && arguments[0] is long width
                    ? "\n" + Indent(Print(arguments[1]), (int)width)
                    : throw new FormatException("nindent takes a width and a string");
            case "fail":
                throw new FailException(Print(Only()));
            default:
                throw new NotSupportedException($"function '{function}' is not supported by this renderer");
        }
    }

    private static string Indent(string text, int width) =>
        string.Join('\n', text.Split('\n').Select(line => new string(' ', width) + line));

    /// <summary>Go's truth: false, 0, nil and empty strings, lists and maps are false.</summary>
    private static bool IsTrue(object? value) => value switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        long l => l != 0,
        double d => d != 0,
        List<object?> list => list.Count > 0,
        Dictionary<string, object?> map => map.Count > 0,
        _ => true,
    };

    private static bool BasicEquals(object? left, object? right)
    {
        if (left is long && right is double || left is double && right is long)
        {
            throw new FormatException("incompatible types for comparison (int and float)");
        }

        return Equals(left, right);
    }

    private static int Compare(object? left, object? right) => (left, right) switch
    {
        (long a, long b) => a.CompareTo(b),
        (double a, double b) => a.CompareTo(b),
        (string a, string b) => string.CompareOrdinal(a, b),
        _ => throw new FormatException($"incompatible types for comparison ({left?.GetType().Name ?? "nil"} and {right?.GetType().Name ?? "nil"})"),
    };

    /// <summary>How <c>{{ X }}</c> prints a value (Helm prints a missing value as nothing).</summary>
    public static string Print(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d when d == Math.Floor(d) && Math.Abs(d) < 1e6 => ((long)d).ToString(CultureInfo.InvariantCulture),
        double d => throw new NotSupportedException($"printing the float {d} (Go would write it in %g form)"),
        _ => throw new NotSupportedException($"printing a {value.GetType().Name}"),
    };

    /// <summary>Block YAML with sorted keys, as Helm's toYaml writes it (strings quoted when they could read as anything else).</summary>
    private static string ToYaml(object? value)
    {
        var output = new StringBuilder();
        WriteYaml(output, value, 0);
        return output.ToString();
    }

    private static void WriteYaml(StringBuilder output, object? value, int indent)
    {
        var pad = new string(' ', indent);
        switch (value)
        {
            case Dictionary<string, object?> { Count: 0 }:
                output.Append(pad).Append("{}\n");
                break;
            case List<object?> { Count: 0 }:
                output.Append(pad).Append("[]\n");
                break;
            case Dictionary<string, object?> map:
                foreach (var (key, item) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    output.Append(pad).Append(YamlScalar(key)).Append(':');
                    // As go-yaml writes it: a list under a key is not indented further.
                    WriteNested(output, item, item is List<object?> ? indent - 2 : indent);
                }

                break;
            case List<object?> list:
                foreach (var item in list)
                {
                    output.Append(pad).Append('-');
                    WriteNested(output, item, indent);
                }

                break;
            default:
                output.Append(pad).Append(YamlScalar(value)).Append('\n');
                break;
        }
    }

    private static void WriteNested(StringBuilder output, object? item, int indent)
    {
        if (item is Dictionary<string, object?> { Count: > 0 } or List<object?> { Count: > 0 })
        {
            output.Append('\n');
            WriteYaml(output, item, indent + 2);
        }
        else
        {
            output.Append(' ');
            WriteYaml(output, item, 0);
        }
    }

    private static string YamlScalar(object? value) => value switch
    {
        string s when PlainSafe().IsMatch(s) && !PlainAmbiguous().IsMatch(s) => s,
        string s => JsonSerializer.Serialize(s),
        null => "null",
        _ => Print(value),
    };

    [GeneratedRegex(@"^[A-Za-z0-9_]([A-Za-z0-9_./:\-]*[A-Za-z0-9_./\-])?$")]
    private static partial Regex PlainSafe();

    [GeneratedRegex(@"^([-+]?[0-9][0-9_.eE+\-]*|true|false|yes|no|on|off|y|n|null|~)$", RegexOptions.IgnoreCase)]
    private static partial Regex PlainAmbiguous();
}
