using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lifecycle.Aws.Tests.Iam;

/// <summary>One authorization IAM makes: an action on one resource, with the condition keys of that moment.</summary>
public sealed record IamRequest(string Action, string Resource, ImmutableDictionary<string, ImmutableArray<string>> Context)
{
    public override string ToString() =>
        $"{Action} on {Resource} [{string.Join(", ", Context.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={string.Join("|", c.Value)}"))}]";
}

public enum IamDecision
{
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
}

/// <summary>
/// An IAM policy evaluator for the subset <c>deploy/aws/iam-policy.json</c> uses, written from the IAM policy
/// evaluation logic: explicit Deny wins, else any matching Allow, else implicit deny. Action and Resource (string or
/// list, <c>*</c> and <c>?</c> wildcards; actions case-insensitive). Condition operators StringEquals, StringNotEquals,
/// StringLike, StringNotLike, Null, with the ForAnyValue: and ForAllValues: set qualifiers; the operators of a block,
/// and the keys of an operator, are AND-ed; the values of one key are OR-ed. Anything else (NotAction, NotResource,
/// Principal, other operators, a multivalued key without a set qualifier) is refused, never guessed.
/// </summary>
public sealed class IamPolicy
{
    private static readonly HashSet<string> MultiValued = new(StringComparer.OrdinalIgnoreCase) { "aws:TagKeys" };
    private readonly ImmutableArray<Statement> statements;

    private IamPolicy(ImmutableArray<Statement> statements) => this.statements = statements;

    public static IamPolicy Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.GetProperty("Version").GetString() != "2012-10-17")
        {
            throw new NotSupportedException("policy Version must be 2012-10-17");
        }

        var list = root.GetProperty("Statement");
        var items = list.ValueKind == JsonValueKind.Array ? list.EnumerateArray().ToList() : [list];
        return new IamPolicy([.. items.Select(Statement.Parse)]);
    }

    public IamDecision Evaluate(IamRequest request)
    {
        var matching = statements.Where(s => s.Matches(request)).ToList();
        if (matching.Any(s => !s.Allow))
        {
            return IamDecision.ExplicitlyDenied;
        }

        return matching.Any(s => s.Allow) ? IamDecision.Allowed : IamDecision.ImplicitlyDenied;
    }

    /// <summary>A call is allowed when every authorization it needs is.</summary>
    public bool Allows(IEnumerable<IamRequest> authorizations) => authorizations.All(a => Evaluate(a) == IamDecision.Allowed);

    private static bool Wildcard(string pattern, string value, bool ignoreCase) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None) | RegexOptions.Singleline);

    private static ImmutableArray<string> Strings(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => [element.GetString()!],
        JsonValueKind.Array => [.. element.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new NotSupportedException($"not a string: {e}"))],
        _ => throw new NotSupportedException($"expected a string or a list of strings: {element}"),
    };

    private sealed record Statement(bool Allow, ImmutableArray<string> Actions, ImmutableArray<string> Resources, ImmutableArray<Condition> Conditions)
    {
        public static Statement Parse(JsonElement element)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is not ("Sid" or "Effect" or "Action" or "Resource" or "Condition"))
                {
                    throw new NotSupportedException($"statement element {property.Name} is not supported by this evaluator");
                }
            }

            var effect = element.GetProperty("Effect").GetString();
            var conditions = new List<Condition>();
            if (element.TryGetProperty("Condition", out var block))
            {
                foreach (var op in block.EnumerateObject())
                {
                    foreach (var key in op.Value.EnumerateObject())
                    {
                        conditions.Add(Condition.Parse(op.Name, key.Name, Strings(key.Value)));
                    }
                }
            }

            return new Statement(
                effect switch { "Allow" => true, "Deny" => false, _ => throw new NotSupportedException($"Effect {effect}") },
                Strings(element.GetProperty("Action")), Strings(element.GetProperty("Resource")), [.. conditions]);
        }

        public bool Matches(IamRequest request) =>
            Actions.Any(a => Wildcard(a, request.Action, ignoreCase: true))
            && Resources.Any(r => Wildcard(r, request.Resource, ignoreCase: false))
            && Conditions.All(c => c.Holds(request.Context));
    }

    private sealed record Condition(string Qualifier, string Operator, string Key, ImmutableArray<string> Values)
    {
        public static Condition Parse(string op, string key, ImmutableArray<string> values)
        {
            var qualifier = "";
            var name = op;
            if (op.Contains(':', StringComparison.Ordinal))
            {
                qualifier = op[..op.IndexOf(':', StringComparison.Ordinal)];
                name = op[(op.IndexOf(':', StringComparison.Ordinal) + 1)..];
                if (qualifier is not ("ForAnyValue" or "ForAllValues"))
                {
                    throw new NotSupportedException($"condition qualifier {qualifier}");
                }
            }

            if (name is not ("StringEquals" or "StringNotEquals" or "StringLike" or "StringNotLike" or "Null"))
            {
                throw new NotSupportedException($"condition operator {name}");
            }

            if (name == "Null" && qualifier.Length > 0)
            {
                throw new NotSupportedException("Null takes no set qualifier");
            }

            if (qualifier.Length == 0 && name != "Null" && MultiValued.Contains(key))
            {
                throw new NotSupportedException($"{key} is multivalued: use ForAnyValue: or ForAllValues:");
            }

            return new Condition(qualifier, name, key, values);
        }

        public bool Holds(ImmutableDictionary<string, ImmutableArray<string>> context)
        {
            var present = context.TryGetValue(Key, out var actual) && !actual.IsDefaultOrEmpty;
            if (Operator == "Null")
            {
                // "true": the key must be absent; "false": present.
                return Values.All(v => v == "true" ? !present : v == "false" ? present : throw new NotSupportedException($"Null value {v}"));
            }

            var negated = Operator is "StringNotEquals" or "StringNotLike";
            var like = Operator is "StringLike" or "StringNotLike";
            bool MatchesAny(string value) => Values.Any(p => like ? Wildcard(p, value, ignoreCase: false) : string.Equals(p, value, StringComparison.Ordinal));
            bool Single(string value) => negated ? !MatchesAny(value) : MatchesAny(value);

            return Qualifier switch
            {
                // No values: ForAnyValue is false, ForAllValues vacuously true (IAM's documented behaviour).
                "ForAnyValue" => present && actual.Any(Single),
                "ForAllValues" => !present || actual.All(Single),
                // A single-valued key that is absent fails a positive operator and satisfies a negated one.
                _ => present ? Single(actual[0]) : negated,
            };
        }
    }
}
