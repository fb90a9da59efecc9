using System.Collections.Concurrent;
using System.Diagnostics;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>
/// Process-wide time spent per pipeline stage (summed over threads), so <c>lifecycle bench engine --stages</c> can
/// show where a snapshot or restore spends its time. Costs two timestamp reads per stage and block.
/// </summary>
public static class StageClock
{
    private static readonly ConcurrentDictionary<string, StrongBox> Totals = new(StringComparer.Ordinal);

    private sealed class StrongBox
    {
        public long Ticks;
        public long Count;
    }

    public static long Start() => Stopwatch.GetTimestamp();

    public static void Stop(string stage, long started)
    {
        var box = Totals.GetOrAdd(stage, _ => new StrongBox());
        Interlocked.Add(ref box.Ticks, Stopwatch.GetTimestamp() - started);
        Interlocked.Increment(ref box.Count);
    }

    /// <summary>Stage totals since the last call (and resets them).</summary>
    public static IReadOnlyList<(string Stage, TimeSpan Time, long Count)> TakeAll()
    {
        var result = new List<(string, TimeSpan, long)>();
        foreach (var (stage, box) in Totals.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var ticks = Interlocked.Exchange(ref box.Ticks, 0);
            var count = Interlocked.Exchange(ref box.Count, 0);
            if (count > 0)
            {
                result.Add((stage, Stopwatch.GetElapsedTime(0, ticks), count));
            }
        }

        return result;
    }
}
