using System.Globalization;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using Lifecycle.Scheduling.Jobs;
using Lifecycle.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Lifecycle.Server.Dashboard;

/// <summary>One policy schedule as Quartz holds it, with the run store's word on whether its policy is paused.</summary>
/// <param name="Expression">The schedule as the policy says it: <c>cron EXPR ZONE</c>, or <c>every …</c>.</param>
/// <param name="PausedSince">When the policy was paused (the run store's pause), null when it runs.</param>
/// <param name="TriggerState">Quartz's state of the trigger (Normal, Paused, Blocked, …).</param>
public sealed record ScheduleRow(
    string Policy, string Schedule, string Expression, DateTimeOffset? NextFire, DateTimeOffset? PreviousFire,
    DateTimeOffset? PausedSince, string? PausedBy, string TriggerState)
{
    public bool Paused => PausedSince is not null;
}

/// <summary>
/// The dashboard's "Schedules" page (/hangfire/schedules): every policy schedule, read from Quartz's triggers in the
/// schedules group and the run store's pauses. Hangfire renders pages synchronously, so a dispatcher reads them first
/// and hands them to the page; every value is HTML-encoded by the page's Write.
/// </summary>
public sealed class SchedulesPage : RazorPage
{
    public const string Route = "/schedules";

    private static readonly object RowsKey = new();

    /// <summary>Every schedule trigger, by policy then schedule. A trigger removed while it is read is left out.</summary>
    public static async Task<IReadOnlyList<ScheduleRow>> ReadAsync(
        ISchedulerFactory schedulers, RunStore store, CancellationToken cancellationToken = default)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken).ConfigureAwait(false);
        var pauses = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<ScheduleRow>();
        foreach (var key in await scheduler.GetTriggerKeys(GroupMatcher<TriggerKey>.GroupEquals(JobKeys.ScheduleTriggerGroup), cancellationToken).ConfigureAwait(false))
        {
            var trigger = await scheduler.GetTrigger(key, cancellationToken).ConfigureAwait(false);
            if (trigger is null)
            {
                continue;
            }

            var state = await scheduler.GetTriggerState(key, cancellationToken).ConfigureAwait(false);
            var policy = trigger.JobKey.Name;
            var schedule = key.Name.StartsWith(policy + "/", StringComparison.Ordinal) ? key.Name[(policy.Length + 1)..] : key.Name;
            pauses.TryGetValue(policy, out var pause);
            rows.Add(new ScheduleRow(policy, schedule, Expression(trigger), trigger.NextFireTimeUtc, trigger.PreviousFireTimeUtc,
                pause?.PausedAt, pause?.PausedBy, state.ToString()));
        }

        return [.. rows.OrderBy(r => r.Policy, StringComparer.Ordinal).ThenBy(r => r.Schedule, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The schedule as the policy wrote it (the trigger's description: "cron 0 3 * * * UTC", "every 4h from 00:00");
    /// from the trigger itself when it has none (Quartz's cron dialect, or the wake-up interval).
    /// </summary>
    private static string Expression(ITrigger trigger) => trigger switch
    {
        _ when trigger.Description is { } d && (d.StartsWith("cron ", StringComparison.Ordinal) || d.StartsWith("every ", StringComparison.Ordinal)) => d,
        ICronTrigger cron => $"cron {cron.CronExpressionString} {cron.TimeZone.Id}",
        ISimpleTrigger simple => string.Create(CultureInfo.InvariantCulture, $"every {simple.RepeatInterval}"),
        _ => trigger.Description ?? trigger.GetType().Name,
    };

    public override void Execute()
    {
        Layout = new LayoutPage("Schedules");
        var rows = Context.GetHttpContext().Items[RowsKey] as IReadOnlyList<ScheduleRow> ?? [];
        WriteLiteral("<div class=\"row\"><div class=\"col-md-12\"><h1 class=\"page-header\">Schedules</h1>");
        if (rows.Count == 0)
        {
            WriteLiteral("<div class=\"alert alert-info\">No policy has a schedule.</div></div></div>");
            return;
        }

        WriteLiteral("<div class=\"table-responsive\"><table class=\"table table-striped\" id=\"schedules\"><thead><tr>"
            + "<th>Policy</th><th>Schedule</th><th>Expression</th><th>Next fire (UTC)</th><th>Previous fire (UTC)</th><th>Paused</th><th>Trigger</th>"
            + "</tr></thead><tbody>");
        foreach (var row in rows)
        {
            WriteLiteral("<tr data-schedule=\"");
            Write(row.Policy + "/" + row.Schedule);
            WriteLiteral("\"><td class=\"policy\">");
            Write(row.Policy);
            WriteLiteral("</td><td class=\"schedule\">");
            Write(row.Schedule);
            WriteLiteral("</td><td class=\"expression\"><code>");
            Write(row.Expression);
            WriteLiteral("</code></td><td class=\"next-fire\">");
            Write(Time(row.NextFire));
            WriteLiteral("</td><td class=\"previous-fire\">");
            Write(Time(row.PreviousFire));
            WriteLiteral("</td><td class=\"paused\">");
            Write(row.PausedSince is { } since ? $"paused {Time(since)} by {row.PausedBy}" : "no");
            WriteLiteral("</td><td class=\"trigger-state\">");
            Write(row.TriggerState);
            WriteLiteral("</td></tr>");
        }

        WriteLiteral("</tbody></table></div></div></div>");
    }

    /// <summary>"2026-12-06 12:00:00Z", or an en dash for never.</summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "–";

    /// <summary>Reads the rows (asynchronously, Quartz and the store are async), then renders the page in the layout.</summary>
    internal sealed class Dispatcher : IDashboardDispatcher
    {
        private static readonly IDashboardDispatcher Page = PageDispatcher();

        public async Task Dispatch(DashboardContext context)
        {
            var http = context.GetHttpContext();
            http.Items[RowsKey] = await ReadAsync(
                http.RequestServices.GetRequiredService<ISchedulerFactory>(), http.RequestServices.GetRequiredService<RunStore>(), http.RequestAborted)
                .ConfigureAwait(false);
            await Page.Dispatch(context).ConfigureAwait(false);
        }

        /// <summary>Hangfire's own page dispatcher (it assigns the page its context), taken from a private route table.</summary>
        private static IDashboardDispatcher PageDispatcher()
        {
            var routes = new Hangfire.Dashboard.RouteCollection();
            routes.AddRazorPage(Route, _ => new SchedulesPage());
            return routes.FindDispatcher(Route)?.Item1 ?? throw new InvalidOperationException("the schedules page route did not register");
        }
    }
}
