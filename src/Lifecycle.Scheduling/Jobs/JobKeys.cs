using Quartz;

namespace Lifecycle.Scheduling.Jobs;

/// <summary>Names of our Quartz jobs (one per policy) and triggers (one per schedule): all that lives in Quartz.</summary>
public static class JobKeys
{
    public const string PolicyGroup = "policies";
    public const string ScheduleTriggerGroup = "schedules";

    /// <summary>Job data key: why a policy job runs (<see cref="PolicyRunMode"/>).</summary>
    public const string Mode = "mode";

    /// <summary>Job data key on a schedule trigger: the schedule name.</summary>
    public const string Schedule = "schedule";

    public static JobKey Policy(string policy) => new(policy, PolicyGroup);

    public static TriggerKey ScheduleTrigger(string policy, string schedule) => new($"{policy}/{schedule}", ScheduleTriggerGroup);
}

/// <summary>Why a policy job runs.</summary>
public static class PolicyRunMode
{
    /// <summary>A schedule fired: creates first; the rest follows once they complete.</summary>
    public const string Fire = "fire";

    /// <summary>Triggered by hand (API, CLI): same as a fire.</summary>
    public const string Manual = "manual";

    /// <summary>On server start: catch up a missed fire (at most one create per schedule and volume).</summary>
    public const string Startup = "startup";

    /// <summary>The creates of a run completed: copies, archive moves, fast restore, deletions.</summary>
    public const string FollowUp = "follow-up";

    /// <summary>The periodic reconcile pass: everything but creates.</summary>
    public const string Reconcile = "reconcile";

    public static bool MayCreate(string mode) => mode is Fire or Manual or Startup;
}
