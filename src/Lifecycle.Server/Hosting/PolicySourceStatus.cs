namespace Lifecycle.Server.Hosting;

/// <summary>
/// Where this server's policies come from and whether that source is healthy. Directory mode (<c>--policies DIR</c>):
/// the directory is the truth and API applies are refused. API mode: the last revision applied through the API (or the
/// CLI's apply) is the truth and survives restarts. Thread-safe; read by /healthz and GET /api/v1/policies.
/// </summary>
public sealed class PolicySourceStatus
{
    public const string DirectoryMode = "directory";
    public const string ApiMode = "api";

    private readonly object gate = new();
    private PolicySourceView view;

    public PolicySourceStatus(ServerOptions options)
    {
        view = options.PoliciesDirectory is null
            ? new PolicySourceView(ApiMode, null, PolicySourceStates.Ok, null, null)
            : new PolicySourceView(DirectoryMode, Path.GetFullPath(options.PoliciesDirectory), PolicySourceStates.Pending, null, null);
    }

    public PolicySourceView Current
    {
        get
        {
            lock (gate)
            {
                return view;
            }
        }
    }

    public bool IsDirectoryMode => Current.Mode == DirectoryMode;

    /// <summary>Records the outcome of reading and applying the source; returns true when the state or error changed.</summary>
    public bool Report(string state, string? error, DateTimeOffset at)
    {
        lock (gate)
        {
            var changed = view.State != state || view.Error != error;
            view = view with { State = state, Error = error, CheckedAt = at };
            return changed;
        }
    }
}

/// <summary>The policy source as shown by the API and /healthz. <see cref="Error"/> is set unless the state is ok or pending.</summary>
public sealed record PolicySourceView(string Mode, string? Path, string State, string? Error, DateTimeOffset? CheckedAt)
{
    public bool IsBroken => State is not (PolicySourceStates.Ok or PolicySourceStates.Pending);
}

/// <summary>States of a policy source.</summary>
public static class PolicySourceStates
{
    /// <summary>The source's content is the applied revision.</summary>
    public const string Ok = "ok";

    /// <summary>Not read yet (start), or a concurrent apply on another node: tried again at the next poll.</summary>
    public const string Pending = "pending";

    /// <summary>The directory does not exist (a git-sync swap in progress, an unmounted ConfigMap).</summary>
    public const string Missing = "missing";

    /// <summary>The directory has no policy files, or none of them defines a policy.</summary>
    public const string Empty = "empty";

    /// <summary>The directory or a file in it cannot be read.</summary>
    public const string Unreadable = "unreadable";

    /// <summary>A file has errors: the set is not applied.</summary>
    public const string Invalid = "invalid";

    /// <summary>The set is destructive (removes policies or deletes too much) and was not applied.</summary>
    public const string Refused = "refused";
}
