using System.Globalization;
using System.Text;

namespace Lifecycle.Policies.Interop;

/// <summary>Names of the policy language made from AWS names (DLM schedule names, backup plan and rule names).</summary>
internal static class InteropNames
{
    /// <summary>
    /// Lowercase letters, digits and single hyphens, starting with a letter, at most 63 characters
    /// ("2 weeks of daily snapshots" → "s-2-weeks-of-daily-snapshots"); <paramref name="fallback"/> when nothing is left.
    /// </summary>
    public static string ToName(string? text, string fallback)
    {
        var builder = new StringBuilder();
        foreach (var c in (text ?? "").ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                builder.Append(c);
            }
            else if (builder.Length > 0 && builder[^1] != '-')
            {
                builder.Append('-');
            }
        }

        var name = builder.ToString().Trim('-');
        if (name.Length == 0)
        {
            return fallback;
        }

        if (!char.IsAsciiLetter(name[0]))
        {
            name = "s-" + name;
        }

        return name.Length > 63 ? name[..63].TrimEnd('-') : name;
    }

    /// <summary><paramref name="name"/>, or name-2, name-3... when already taken.</summary>
    public static string Unique(string name, ISet<string> taken)
    {
        var candidate = name;
        for (var n = 2; !taken.Add(candidate); n++)
        {
            var suffix = "-" + n.ToString(CultureInfo.InvariantCulture);
            candidate = (name.Length + suffix.Length > 63 ? name[..(63 - suffix.Length)] : name) + suffix;
        }

        return candidate;
    }
}

/// <summary>Region and zone names as the policy language accepts them (eu-west-1, eu-west-1a).</summary>
public static class RegionName
{
    public static bool IsValid(string name) =>
        System.Text.RegularExpressions.Regex.IsMatch(name, Language.PolicyLanguage.NamePattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
}
