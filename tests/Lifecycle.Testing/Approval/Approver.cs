using System.Text;
using Xunit.Sdk;

namespace Lifecycle.Testing.Approval;

/// <summary>
/// Approval testing of our own (Verify.Xunit cannot be restored here): compares output with FILE.approved.EXT next to
/// the test data. On a mismatch it writes FILE.received.EXT and fails with a line diff; with LIFECYCLE_APPROVE=1 it
/// writes the approved file instead (then read it: an approved file is a reviewed expectation, not a recording).
/// </summary>
public static class Approver
{
    /// <param name="received">The output.</param>
    /// <param name="approvedPath">The approved file.</param>
    /// <param name="approve">Accept the output; null: LIFECYCLE_APPROVE=1 decides.</param>
    public static void Verify(string received, string approvedPath, bool? approve = null)
    {
        ArgumentNullException.ThrowIfNull(received);
        ArgumentNullException.ThrowIfNull(approvedPath);
        received = received.Replace("\r\n", "\n", StringComparison.Ordinal);
        var receivedPath = approvedPath.Replace(".approved.", ".received.", StringComparison.Ordinal);
        if (approve ?? Environment.GetEnvironmentVariable("LIFECYCLE_APPROVE") == "1")
        {
            File.WriteAllText(approvedPath, received, new UTF8Encoding(false));
            File.Delete(receivedPath);
            return;
        }

        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).Replace("\r\n", "\n", StringComparison.Ordinal) : null;
        if (approved == received)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, received, new UTF8Encoding(false));
        var message = new StringBuilder();
        message.Append(approved is null ? "no approved file " : "output differs from ").Append(approvedPath).Append('\n');
        message.Append("received: ").Append(receivedPath).Append(" (LIFECYCLE_APPROVE=1 accepts it after review)\n");
        if (approved is not null)
        {
            message.Append(Diff(approved.Split('\n'), received.Split('\n')));
        }

        throw new XunitException(message.ToString());
    }

    /// <summary>A unified-style line diff (LCS), with 2 lines of context, at most 60 lines shown.</summary>
    public static string Diff(string[] expected, string[] actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        if ((long)expected.Length * actual.Length > 25_000_000)
        {
            var first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i]);
            return $"first difference at line {first + 1}:\n- {expected.ElementAtOrDefault(first)}\n+ {actual.ElementAtOrDefault(first)}\n";
        }

        var lcs = new int[expected.Length + 1, actual.Length + 1];
        for (var i = expected.Length - 1; i >= 0; i--)
        {
            for (var j = actual.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = expected[i] == actual[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var lines = new List<(char Op, int Line, string Text)>();
        int a = 0, b = 0;
        while (a < expected.Length || b < actual.Length)
        {
            if (a < expected.Length && b < actual.Length && expected[a] == actual[b])
            {
                lines.Add((' ', a + 1, expected[a]));
                a++;
                b++;
            }
            else if (b < actual.Length && (a == expected.Length || lcs[a, b + 1] >= lcs[a + 1, b]))
            {
                lines.Add(('+', b + 1, actual[b++]));
            }
            else
            {
                lines.Add(('-', a + 1, expected[a++]));
            }
        }

        var text = new StringBuilder();
        var shown = 0;
        for (var i = 0; i < lines.Count && shown < 60; i++)
        {
            var near = Enumerable.Range(Math.Max(0, i - 2), Math.Min(lines.Count, i + 3) - Math.Max(0, i - 2)).Any(k => lines[k].Op != ' ');
            if (near)
            {
                text.Append(lines[i].Op).Append(' ').Append(lines[i].Line.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(5)).Append(": ").Append(lines[i].Text).Append('\n');
                shown++;
            }
        }

        return text.ToString();
    }
}
