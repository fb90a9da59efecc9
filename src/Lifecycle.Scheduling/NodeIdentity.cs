using System.Globalization;

namespace Lifecycle.Scheduling;

/// <summary>The name this process records on runs, actions and token claims (host and process id, or given).</summary>
public sealed record NodeIdentity(string Name)
{
    public static NodeIdentity ForThisProcess(string? name = null) =>
        new(string.IsNullOrWhiteSpace(name)
            ? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}")
            : name);
}
