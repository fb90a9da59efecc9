namespace Lifecycle.Core.Planning;

/// <summary>
/// The tags Amazon Data Lifecycle Manager sets on every snapshot it creates. A policy with <c>adopt:</c> recognises the
/// snapshots of the DLM policy it replaces by them (see <see cref="Policies.DlmAdoption"/>).
/// </summary>
public static class DlmTags
{
    /// <summary>The DLM policy that created the snapshot ("policy-0123456789abcdef0").</summary>
    public const string PolicyId = "aws:dlm:lifecycle-policy-id";

    /// <summary>The name of the DLM schedule that created it.</summary>
    public const string ScheduleName = "aws:dlm:lifecycle-schedule-name";

    /// <summary>What a DLM policy id looks like: "policy-" and 17 lowercase hex digits (as the DLM API returns them).</summary>
    public const string PolicyIdPattern = "^policy-[0-9a-f]{17}$";
}
