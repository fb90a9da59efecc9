using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Lifecycle.Core.Planning;

/// <summary>
/// The tags that make a snapshot owned by a policy. Retention only ever considers snapshots whose
/// <see cref="Policy"/> tag names the policy; nothing else is ever deleted.
/// </summary>
public static class OwnershipTags
{
    public const string Policy = "lifecycle:policy";
    public const string Schedule = "lifecycle:schedule";

    /// <summary>The scheduled fire time (UTC, ISO 8601 "yyyy-MM-ddTHH:mm:ssZ"), not the actual start time.</summary>
    public const string FireTime = "lifecycle:fire-time";

    /// <summary>The deterministic creation token; at most one snapshot per token and region exists.</summary>
    public const string Token = "lifecycle:token";

    /// <summary>application | crash.</summary>
    public const string Consistency = "lifecycle:consistency";

    /// <summary>On a cross-region copy: the source snapshot id.</summary>
    public const string SourceSnapshot = "lifecycle:source-snapshot";

    /// <summary>On a cross-region copy: the source snapshot's volume, which retention groups copies by.</summary>
    public const string SourceVolume = "lifecycle:source-volume";

    /// <summary>On a cross-region copy: the source region.</summary>
    public const string SourceRegion = "lifecycle:source-region";

    /// <summary>For an instance set: the instance id.</summary>
    public const string Instance = "lifecycle:instance";

    /// <summary>Comma-separated schedule names whose rules this snapshot carries (simultaneous schedules merge).</summary>
    public const string Schedules = "lifecycle:schedules";

    public const string Prefix = "lifecycle:";

    public static string FormatFireTime(DateTimeOffset fireTime) =>
        fireTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static bool TryParseFireTime(string? text, out DateTimeOffset fireTime) =>
        DateTimeOffset.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out fireTime);
}

/// <summary>Deterministic creation tokens (DESIGN.md: exactly-once creation).</summary>
public static class CreationToken
{
    /// <summary>
    /// Token of a snapshot creation: policy, schedule, scheduled fire time and target (volume id, or instance id for
    /// an instance set). The same inputs always give the same token.
    /// </summary>
    public static string ForCreate(string policy, string schedule, DateTimeOffset fireTime, string targetId) =>
        Hash($"create|{policy}|{schedule}|{OwnershipTags.FormatFireTime(fireTime)}|{targetId}");

    /// <summary>Token of a cross-region copy of a source snapshot to a region.</summary>
    public static string ForCopy(string sourceToken, string targetRegion) => Hash($"copy|{sourceToken}|{targetRegion}");

    private static string Hash(string text)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), digest);
        return "lc-" + Convert.ToHexStringLower(digest[..16]);
    }
}
