using System.Collections.Immutable;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;

namespace Lifecycle.Core.Planning;

/// <summary>Which volumes a policy's targets select: tag patterns (all keys, any listed value, * wildcards), minus exclusions.</summary>
public static class TargetMatcher
{
    /// <summary>True when the volume is in one of the policy's regions, matches every target tag and no exclusion, and still exists.</summary>
    public static bool Matches(SnapshotPolicy policy, VolumeInfo volume)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(volume);
        if (volume.State is VolumeState.Deleted or VolumeState.Deleting || !policy.Regions.Contains(volume.Region))
        {
            return false;
        }

        var targets = policy.Targets;
        foreach (var (key, patterns) in targets.Tags)
        {
            if (!volume.Tags.TryGetValue(key, out var value) || !AnyMatches(patterns, value))
            {
                return false;
            }
        }

        foreach (var (key, patterns) in targets.ExcludeTags)
        {
            if (volume.Tags.TryGetValue(key, out var value) && AnyMatches(patterns, value))
            {
                return false;
            }
        }

        return !targets.ExcludeVolumeIds.Contains(volume.Id);
    }

    private static bool AnyMatches(ImmutableArray<string> patterns, string value)
    {
        foreach (var pattern in patterns)
        {
            if (WildcardMatch(pattern, value))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Glob match where * matches any run of characters (case-sensitive, as tags are).</summary>
    public static bool WildcardMatch(string pattern, string value)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(value);
        int p = 0, v = 0, star = -1, mark = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = v;
            }
            else if (p < pattern.Length && pattern[p] == value[v])
            {
                p++;
                v++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                v = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
