using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Server.Hosting;

/// <summary>The policy loader behind the scheduler's parser seam: every file parsed, names unique across files.</summary>
public sealed class YamlPolicySetParser : IPolicySetParser
{
    public PolicyParseResult Parse(IReadOnlyList<PolicySource> sources)
    {
        var policies = ImmutableArray.CreateBuilder<SnapshotPolicy>();
        var diagnostics = ImmutableArray.CreateBuilder<PolicyDiagnostic>();
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var source in sources.OrderBy(s => s.Path, StringComparer.Ordinal))
        {
            var result = PolicyLoader.LoadText(source.Text, source.Path);
            diagnostics.AddRange(result.Diagnostics);
            foreach (var policy in result.Policies.Policies)
            {
                if (seen.TryGetValue(policy.Name, out var first))
                {
                    diagnostics.Add(new PolicyDiagnostic(DiagnosticSeverity.Error, policy.Source, "metadata.name",
                        $"policy name '{policy.Name}' is already defined at {first}"));
                    continue;
                }

                seen[policy.Name] = policy.Source;
                policies.Add(policy);
            }
        }

        return new PolicyParseResult(new PolicySet(policies.ToImmutable()), diagnostics.ToImmutable());
    }

    /// <summary>Reads the policy files of a directory (or one file) as sources, paths relative to it.</summary>
    public static ImmutableArray<PolicySource> ReadDirectory(string path)
    {
        var root = Directory.Exists(path) ? Path.GetFullPath(path) : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        return [.. PolicyLoader.ExpandPath(path)
            .Select(file => new PolicySource(Path.GetRelativePath(root, Path.GetFullPath(file)).Replace('\\', '/'), File.ReadAllText(file)))];
    }
}
