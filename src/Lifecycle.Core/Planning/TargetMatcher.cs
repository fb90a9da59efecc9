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

    /// <summary>The policy's selector prepared for matching many volumes (same answers as <see cref="Matches"/>).</summary>
    public static CompiledTargets Compile(SnapshotPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new CompiledTargets(policy);
    }

    /// <summary>A policy's target selector flattened into arrays: matching 10,000 volumes against 50 policies stays cheap.</summary>
    public sealed class CompiledTargets
    {
        private readonly HashSet<string> regions;
        private readonly (string Key, string[] Patterns)[] required;
        private readonly (string Key, string[] Patterns)[] excluded;
        private readonly HashSet<string> excludedIds;

        internal CompiledTargets(SnapshotPolicy policy)
        {
            regions = policy.Regions.ToHashSet(StringComparer.Ordinal);
            required = [.. policy.Targets.Tags.Select(t => (t.Key, t.Value.ToArray()))];
            excluded = [.. policy.Targets.ExcludeTags.Select(t => (t.Key, t.Value.ToArray()))];
            excludedIds = policy.Targets.ExcludeVolumeIds.ToHashSet(StringComparer.Ordinal);
        }

        public bool Matches(VolumeInfo volume)
        {
            ArgumentNullException.ThrowIfNull(volume);
            if (volume.State is VolumeState.Deleted or VolumeState.Deleting || !regions.Contains(volume.Region))
            {
                return false;
            }

            foreach (var (key, patterns) in required)
            {
                if (!volume.Tags.TryGetValue(key, out var value) || !AnyMatches(patterns, value))
                {
                    return false;
                }
            }

            foreach (var (key, patterns) in excluded)
            {
                if (volume.Tags.TryGetValue(key, out var value) && AnyMatches(patterns, value))
                {
                    return false;
                }
            }

            return !excludedIds.Contains(volume.Id);
        }
    }

    private static bool AnyMatches(string[] patterns, string value)
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
