namespace Lifecycle.Server.Security;

/// <summary>
/// What a bearer token may do. Scopes are ordered: <see cref="Operate"/> includes <see cref="Read"/>, and
/// <see cref="Admin"/> includes both.
/// </summary>
public enum AccessScope
{
    /// <summary>Every GET: policies, runs, actions, revisions, audit, snapshots.</summary>
    Read = 1,

    /// <summary>Day-to-day operation: trigger, pause, resume, retry.</summary>
    Operate = 2,

    /// <summary>Apply policy sets, the engine endpoints, and everything else.</summary>
    Admin = 3,
}

public static class AccessScopes
{
    /// <summary>The authorization policy name of a scope (also its spelling in the tokens file).</summary>
    public static string Name(this AccessScope scope) => scope switch
    {
        AccessScope.Read => "read",
        AccessScope.Operate => "operate",
        AccessScope.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, null),
    };

    public static bool TryParse(string? text, out AccessScope scope)
    {
        scope = text switch
        {
            "read" => AccessScope.Read,
            "operate" => AccessScope.Operate,
            "admin" => AccessScope.Admin,
            _ => 0,
        };
        return scope != 0;
    }

    /// <summary>The claim type that carries a caller's scope.</summary>
    public const string ClaimType = "lifecycle:scope";
}
