using System.Collections.Frozen;
using System.Globalization;

namespace Lifecycle.Core.Diagnostics;

/// <summary>
/// Named points in the code where a test can make the process wait, so that a SIGKILL lands at an exact step (for
/// example in the middle of a copy) instead of racing a step that takes milliseconds. Configured only through the
/// environment variable <c>LIFECYCLE_FAILPOINTS</c>: <c>name=sleep(ms)[;name=sleep(ms)...]</c>. Unset, every point
/// is a no-op that costs one dictionary lookup.
/// </summary>
public static class Failpoints
{
    public const string EnvironmentVariable = "LIFECYCLE_FAILPOINTS";

    private static readonly Lazy<FrozenDictionary<string, TimeSpan>> Configured =
        new(() => Parse(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    /// <summary>Waits as configured for <paramref name="name"/>; returns at once when the point is not configured.</summary>
    public static Task HitAsync(string name, CancellationToken cancellationToken = default) =>
        Configured.Value.TryGetValue(name, out var delay) ? Task.Delay(delay, cancellationToken) : Task.CompletedTask;

    /// <summary>Parses a failpoint specification; throws <see cref="FormatException"/> naming the bad entry.</summary>
    public static FrozenDictionary<string, TimeSpan> Parse(string? specification)
    {
        var points = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var entry in (specification ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            var action = equals < 0 ? "" : entry[(equals + 1)..].Trim();
            if (equals <= 0 || !action.StartsWith("sleep(", StringComparison.Ordinal) || !action.EndsWith(')')
                || !int.TryParse(action["sleep(".Length..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
            {
                throw new FormatException($"{EnvironmentVariable}: '{entry}' is not name=sleep(milliseconds)");
            }

            points[entry[..equals].Trim()] = TimeSpan.FromMilliseconds(milliseconds);
        }

        return points.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
