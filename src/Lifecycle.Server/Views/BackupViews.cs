using System.Globalization;
using System.Text;
using Lifecycle.Core.Scheduling;
using Lifecycle.Scheduling.Policies;
using Lifecycle.Scheduling.Storage;
using Lifecycle.Server.Api;
using Lifecycle.Server.Dashboard;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Lifecycle.Server.Views.ViewHtml;

namespace Lifecycle.Server.Views;

/// <summary>
/// The backup views under /views: server-rendered pages for a person (policies, volumes against their RPO, snapshots by
/// region and tier with the planner's reasons, storage and estimated cost, applied revisions), beside /hangfire and
/// linked both ways. Same tokens and sessions as /hangfire: a <c>read</c> token sees every page without a button;
/// <c>operate</c> gets run now, pause, resume and retry, each a form post with the page's anti-forgery token, carried
/// out by <see cref="PolicyOperations"/> (the REST API's own code). Lists are paged; bad parameters are a 400 whose
/// detail names the parameter.
/// </summary>
public static class BackupViews
{
    public const string Path = "/views";
    public const string PoliciesPath = Path + "/policies";
    public const string VolumesPath = Path + "/volumes";
    public const string SnapshotsPath = Path + "/snapshots";
    public const string StoragePath = Path + "/storage";
    public const string RevisionsPath = Path + "/revisions";

    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 500;
    public const int MaxRevisions = 50;
    public const int DefaultPoliciesPageSize = 50;
    public const int MaxPoliciesPageSize = 200;

    /// <summary>Actions of a policy's last run shown on the policies page; failed actions listed for a retry.</summary>
    public const int RunActionsShown = 10;
    public const int FailedActionsShown = 20;

    /// <summary>Runs of a policy read for its last result (the newest that planned actions among them shows its jobs).</summary>
    public const int RecentRuns = 5;

    private static readonly string[] Tiers = ["standard", "archive", "recycle-bin"];

    public static void Map(IEndpointRouteBuilder app)
    {
        var read = new AuthorizeAttribute(AccessScope.Read.Name()) { AuthenticationSchemes = BrowserSessions.BearerOrSession };
        var operate = new AuthorizeAttribute(AccessScope.Operate.Name()) { AuthenticationSchemes = BrowserSessions.BearerOrSession };
        app.MapGet(Path, PoliciesAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapGet(PoliciesPath, PoliciesAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapGet(VolumesPath, VolumesAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapGet(SnapshotsPath, SnapshotsAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapGet(StoragePath, StorageAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapGet(RevisionsPath, RevisionsAsync).RequireAuthorization(read).ExcludeFromDescription();
        app.MapPost(PoliciesPath + "/{name}/trigger", (HttpContext c, string name) => ActAsync(c, (ops, form, actor, ct) => ops.TriggerAsync(name, form.Schedule, actor, ct)))
            .RequireAuthorization(operate).WithMetadata(new FormPostsAccepted()).ExcludeFromDescription();
        app.MapPost(PoliciesPath + "/{name}/pause", (HttpContext c, string name) => ActAsync(c, (ops, _, actor, ct) => ops.SetPausedAsync(name, pause: true, actor, ct)))
            .RequireAuthorization(operate).WithMetadata(new FormPostsAccepted()).ExcludeFromDescription();
        app.MapPost(PoliciesPath + "/{name}/resume", (HttpContext c, string name) => ActAsync(c, (ops, _, actor, ct) => ops.SetPausedAsync(name, pause: false, actor, ct)))
            .RequireAuthorization(operate).WithMetadata(new FormPostsAccepted()).ExcludeFromDescription();
        app.MapPost(Path + "/actions/{id}/retry", (HttpContext c, string id) => ActAsync(c, (ops, _, actor, ct) => ops.RetryAsync(id, actor, ct)))
            .RequireAuthorization(operate).WithMetadata(new FormPostsAccepted()).ExcludeFromDescription();
    }

    // ---- pages ---------------------------------------------------------------------------------------

    private static async Task PoliciesAsync(HttpContext context)
    {
        if (!TryInt(context, "page", 1, 1, 10_000_000, out var page, out var bad) || !TryInt(context, "size", DefaultPoliciesPageSize, 1, MaxPoliciesPageSize, out var size, out bad))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, bad!).ConfigureAwait(false);
            return;
        }

        var services = context.RequestServices;
        var set = await services.GetRequiredService<AppliedPolicies>().GetAsync(context.RequestAborted).ConfigureAwait(false);
        var inventory = await services.GetRequiredService<InventoryViewCache>().GetAsync(context.RequestAborted).ConfigureAwait(false);
        var body = await PoliciesBodyAsync(set, inventory, services.GetRequiredService<RunStore>(), User(context), Now(context), page, size, context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, "Policies", PoliciesPath, inventory, body).ConfigureAwait(false);
    }

    /// <summary>The policies page's body (the benchmark renders it directly too).</summary>
    internal static async Task<StringBuilder> PoliciesBodyAsync(
        AppliedPolicySet set, InventoryView inventory, RunStore store, ViewUser user, DateTimeOffset now, int page, int size, CancellationToken cancellationToken)
    {
        var pauses = await store.ListPausesAsync(cancellationToken).ConfigureAwait(false);
        var html = new StringBuilder();
        if (set.Revision is { } revision)
        {
            html.Append("<p>Revision <strong>").Append(revision.Seq).Append("</strong> ").Append(Encode(revision.Revision ?? "")).Append(" by ")
                .Append(Encode(revision.Author ?? "–")).Append(" at ").Append(Time(revision.AppliedAt)).Append(" (<a href=\"").Append(RevisionsPath).Append("\">revisions</a>)</p>");
        }

        if (set.Policies.Policies.IsEmpty)
        {
            html.Append("<p>No policy is applied.</p>");
        }
        else
        {
            // Each policy costs two indexed store reads (its newest runs, and the actions of one): a page of them.
            Pager(html, PoliciesPath, "", page, size, set.Policies.Policies.Length);
            html.Append("<table id=\"policies\"><thead><tr><th>Policy</th><th>Engine, regions</th><th>Targets matched</th><th>Schedules and next fires (UTC)</th>")
                .Append("<th>Last result</th><th>Paused</th><th>Compliance</th><th>Snapshots</th></tr></thead><tbody>");
            foreach (var policy in set.Policies.Policies.OrderBy(p => p.Name, StringComparer.Ordinal).Skip((int)Math.Min(int.MaxValue, (long)(page - 1) * size)).Take(size))
            {
                var stats = inventory.Policies.GetValueOrDefault(policy.Name);
                var pause = pauses.GetValueOrDefault(policy.Name);
                // The newest run, and the newest that planned actions (a follow-up with nothing to do often comes last).
                var runs = await store.ListRunsAsync(new RunFilter { Policy = policy.Name, Limit = RecentRuns }, cancellationToken).ConfigureAwait(false);
                var last = runs.FirstOrDefault();
                var acting = runs.FirstOrDefault(r => r.ActionsPlanned > 0);
                html.Append("<tr data-policy=\"").Append(Encode(policy.Name)).Append("\"><td class=\"name\"><strong>").Append(Encode(policy.Name)).Append("</strong>");
                if (!policy.Enabled)
                {
                    html.Append(" <em>(disabled)</em>");
                }

                if (policy.Description is { } description)
                {
                    html.Append("<br><span class=\"muted\">").Append(Encode(description)).Append("</span>");
                }

                html.Append("</td><td>").Append(Encode(policy.Engine.ToString().ToLowerInvariant())).Append(": ").Append(Encode(string.Join(", ", policy.Regions))).Append("</td>")
                    .Append("<td class=\"num matched\">").Append(stats is null ? "–" : Number(stats.MatchedVolumes)).Append("</td><td>");
                foreach (var schedule in policy.Schedules)
                {
                    var calendar = ScheduleCalendar.For(schedule.Trigger);
                    var next = calendar.NextAfter(now);
                    var after = next is { } n ? calendar.NextAfter(n) : null;
                    html.Append("<div class=\"schedule\" data-schedule=\"").Append(Encode(schedule.Name)).Append("\"><strong>").Append(Encode(schedule.Name)).Append("</strong> <code>")
                        .Append(Encode(PolicyScheduler.Describe(schedule.Trigger))).Append("</code>: <span class=\"next-fire\">").Append(Time(next)).Append("</span>, ")
                        .Append(Time(after));
                    if (user.CanOperate && policy.Enabled)
                    {
                        html.Append(' ');
                        Button(html, user, $"{PoliciesPath}/{Segment(policy.Name)}/trigger", "Run now", $"run-{policy.Name}-{schedule.Name}", ("schedule", schedule.Name));
                    }

                    html.Append("</div>");
                }

                html.Append("</td><td class=\"last-result\">");
                if (last is null)
                {
                    html.Append("no run yet");
                }
                else
                {
                    html.Append("<span class=\"run-state ").Append(Encode(last.State)).Append("\">").Append(Encode(last.State)).Append("</span> · ")
                        .Append(Encode(last.Kind)).Append(last.Schedule is null ? "" : " " + Encode(last.Schedule)).Append(" at ").Append(Time(last.StartedAt))
                        .Append(", ").Append(last.ActionsPlanned).Append(" action(s)");
                    if (last.Message is { Length: > 0 } message)
                    {
                        html.Append("<br><span class=\"muted\">").Append(Encode(message.Length > 300 ? message[..300] + "…" : message)).Append("</span>");
                    }

                    var actions = acting is null ? [] : await store.ListActionsAsync(new ActionFilter { RunId = acting.Id, Limit = RunActionsShown }, cancellationToken).ConfigureAwait(false);
                    if (acting is not null && actions.Count > 0)
                    {
                        html.Append("<div class=\"acting-run\" data-kind=\"").Append(Encode(acting.Kind)).Append("\">actions of the ").Append(Encode(acting.Kind))
                            .Append(" run at ").Append(Time(acting.StartedAt)).Append(":</div><ul class=\"run-actions\">");
                        foreach (var action in actions)
                        {
                            html.Append("<li data-action=\"").Append(Encode(action.Id)).Append("\">").Append(Encode(action.Kind)).Append(' ')
                                .Append(Encode(string.Join(",", action.VolumeIds))).Append(": <span class=\"action-state ").Append(Encode(action.State)).Append("\">")
                                .Append(Encode(action.State)).Append("</span>");
                            if (action.Job is { } job)
                            {
                                html.Append(" · <a class=\"job\" href=\"").Append(HangfireDashboard.Path).Append("/jobs/details/").Append(Segment(job)).Append("\">job ")
                                    .Append(Encode(job)).Append("</a>");
                            }

                            html.Append("</li>");
                        }

                        html.Append("</ul>");
                    }
                }

                html.Append("</td><td class=\"paused\">");
                html.Append(pause is null ? "<span class=\"pause-state\">no</span>" : $"<span class=\"pause-state\">paused</span> {Time(pause.PausedAt)} by {Encode(pause.PausedBy)}");
                if (user.CanOperate)
                {
                    html.Append(' ');
                    if (pause is null)
                    {
                        Button(html, user, $"{PoliciesPath}/{Segment(policy.Name)}/pause", "Pause", $"pause-{policy.Name}");
                    }
                    else
                    {
                        Button(html, user, $"{PoliciesPath}/{Segment(policy.Name)}/resume", "Resume", $"resume-{policy.Name}");
                    }
                }

                html.Append("</td><td class=\"compliance\">");
                if (stats is null || stats.MatchedVolumes == 0)
                {
                    html.Append("no volume matched");
                }
                else
                {
                    var good = stats.WithinRpo + stats.Late;
                    html.Append("<span class=\"").Append(stats.Stale == 0 ? "ok" : "stale").Append("\"><span class=\"compliant\">").Append(Number(good)).Append("</span> of ")
                        .Append(Number(stats.MatchedVolumes)).Append("</span> within 2 × RPO (").Append(Span(stats.Rpo)).Append(")");
                    if (stats.Late > 0)
                    {
                        html.Append(", ").Append(Number(stats.Late)).Append(" late");
                    }

                    html.Append("; <a href=\"").Append(VolumesPath).Append("?policy=").Append(Segment(policy.Name)).Append("\">volumes</a>");
                }

                html.Append("</td><td class=\"num snapshots\">").Append(stats is null ? "–" : Number(stats.Snapshots)).Append("</td></tr>");
            }

            html.Append("</tbody></table>");
        }

        var failed = await store.ListActionsAsync(new ActionFilter { State = ActionStates.Failed, Limit = FailedActionsShown }, cancellationToken).ConfigureAwait(false);
        html.Append("<h2>Failed actions</h2>");
        if (failed.Count == 0)
        {
            html.Append("<p id=\"no-failed-actions\">None.</p>");
        }
        else
        {
            html.Append("<p class=\"muted\">The newest ").Append(FailedActionsShown).Append("; all of them: <code>GET /api/v1/actions?state=failed</code>.</p>")
                .Append("<table id=\"failed-actions\"><thead><tr><th>Action</th><th>Policy</th><th>Kind</th><th>Volumes</th><th>Attempts</th><th>Finished</th><th>Error</th><th></th></tr></thead><tbody>");
            foreach (var action in failed)
            {
                html.Append("<tr data-action=\"").Append(Encode(action.Id)).Append("\"><td><code>").Append(Encode(action.Id)).Append("</code></td><td>").Append(Encode(action.Policy))
                    .Append("</td><td>").Append(Encode(action.Kind)).Append("</td><td>").Append(Encode(string.Join(", ", action.VolumeIds))).Append("</td><td class=\"num\">")
                    .Append(action.Attempts).Append("</td><td>").Append(Time(action.FinishedAt)).Append("</td><td class=\"failed\">")
                    .Append(Encode(action.Error is { Length: > 300 } e ? e[..300] + "…" : action.Error)).Append("</td><td>");
                if (user.CanOperate)
                {
                    Button(html, user, $"{Path}/actions/{Segment(action.Id)}/retry", "Retry", $"retry-{action.Id}");
                }

                html.Append("</td></tr>");
            }

            html.Append("</tbody></table>");
        }

        return html;
    }

    private static async Task VolumesAsync(HttpContext context)
    {
        if (!TryPaging(context, out var page, out var size, out var bad) || !TryQuery(context, "policy", out var policy, out bad))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, bad!).ConfigureAwait(false);
            return;
        }

        var inventory = await context.RequestServices.GetRequiredService<InventoryViewCache>().GetAsync(context.RequestAborted).ConfigureAwait(false);
        if (policy is not null && !inventory.VolumesByPolicy.ContainsKey(policy))
        {
            await FailAsync(context, StatusCodes.Status404NotFound, $"policy: '{Clip(policy)}' is not applied (or not yet in the inventory read at {Time(inventory.Taken)})").ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, "Volumes", VolumesPath, inventory, VolumesBody(inventory, policy, page, size, Now(context))).ConfigureAwait(false);
    }

    internal static StringBuilder VolumesBody(InventoryView inventory, string? policy, int page, int size, DateTimeOffset now)
    {
        var (start, count) = policy is null ? (0, inventory.Volumes.Length) : inventory.VolumesByPolicy[policy];
        var html = new StringBuilder();
        html.Append("<p>Each policy's target volumes with their newest completed snapshot. RPO: the shortest interval between two fires of the policy's schedules; ")
            .Append("<span class=\"ok\">ok</span> within it, <span class=\"late\">late</span> within twice it, <span class=\"stale\">stale</span> beyond (the stale-backup alert's line). Stale first.</p>")
            .Append("<form method=\"get\" action=\"").Append(VolumesPath).Append("\"><label>Policy <select name=\"policy\"><option value=\"\">all</option>");
        foreach (var name in inventory.VolumesByPolicy.Keys.Order(StringComparer.Ordinal))
        {
            html.Append("<option").Append(name == policy ? " selected" : "").Append(" value=\"").Append(Encode(name)).Append("\">").Append(Encode(name)).Append("</option>");
        }

        html.Append("</select></label> <button type=\"submit\">Show</button></form>");
        // An empty policy parameter means all; paging keeps the filter.
        var query = policy is null ? "policy=" : "policy=" + Uri.EscapeDataString(policy);
        Pager(html, VolumesPath, query, page, size, count);
        html.Append("<table id=\"volumes\"><thead><tr><th>Policy</th><th>Region</th><th>Volume</th><th>Newest snapshot (UTC)</th><th>Age</th><th>RPO</th><th>Status</th></tr></thead><tbody>");
        var from = start + Math.Min(count, (page - 1) * size);
        var to = start + Math.Min(count, page * size);
        for (var i = from; i < to; i++)
        {
            var v = inventory.Volumes[i];
            TimeSpan? age = v.NewestSnapshot is { } t ? now - t : null;
            html.Append("<tr data-volume=\"").Append(Encode(v.VolumeId)).Append("\" data-policy=\"").Append(Encode(v.Policy)).Append("\"><td>").Append(Encode(v.Policy)).Append("</td><td>")
                .Append(Encode(v.Region)).Append("</td><td><code>").Append(Encode(v.VolumeId)).Append("</code></td><td class=\"newest\">").Append(Time(v.NewestSnapshot))
                .Append("</td><td class=\"num\">").Append(Span(age)).Append("</td><td class=\"num\">").Append(Span(v.Rpo)).Append("</td><td class=\"status ")
                .Append(Encode(v.Status)).Append("\">").Append(Encode(v.Status)).Append("</td></tr>");
        }

        html.Append("</tbody></table>");
        return html;
    }

    private static async Task SnapshotsAsync(HttpContext context)
    {
        if (!TryPaging(context, out var page, out var size, out var bad)
            || !TryQuery(context, "region", out var region, out bad)
            || !TryQuery(context, "tier", out var tier, out bad))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, bad!).ConfigureAwait(false);
            return;
        }

        if (tier is not null && !Tiers.Contains(tier))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, $"tier: '{Clip(tier)}' is not one of {string.Join(", ", Tiers)}").ConfigureAwait(false);
            return;
        }

        var inventory = await context.RequestServices.GetRequiredService<InventoryViewCache>().GetAsync(context.RequestAborted).ConfigureAwait(false);
        if (region is not null && !inventory.SnapshotGroups.Any(g => g.Region == region))
        {
            await FailAsync(context, StatusCodes.Status404NotFound,
                $"region: '{Clip(region)}' holds no snapshot of the applied policies (regions with some: {string.Join(", ", inventory.SnapshotGroups.Select(g => g.Region).Distinct())})").ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, "Snapshots", SnapshotsPath, inventory, SnapshotsBody(inventory, region, tier, page, size, Now(context))).ConfigureAwait(false);
    }

    internal static StringBuilder SnapshotsBody(InventoryView inventory, string? region, string? tier, int page, int size, DateTimeOffset now)
    {
        var html = new StringBuilder();
        html.Append("<p>The applied policies' snapshots by region and tier (and those their recycle bins hold), newest first, with the planner's decision and its reasons.</p>")
            .Append("<table id=\"snapshot-groups\"><thead><tr><th>Region</th><th>Tier</th><th>Snapshots</th></tr></thead><tbody>");
        foreach (var g in inventory.SnapshotGroups)
        {
            html.Append("<tr data-region=\"").Append(Encode(g.Region)).Append("\" data-tier=\"").Append(Encode(g.Tier)).Append("\"><td>").Append(Encode(g.Region)).Append("</td><td>")
                .Append(Encode(g.Tier)).Append("</td><td class=\"num count\"><a href=\"").Append(SnapshotsPath).Append("?region=").Append(Segment(g.Region)).Append("&amp;tier=")
                .Append(Segment(g.Tier)).Append("\">").Append(Number(g.Count)).Append("</a></td></tr>");
        }

        html.Append("</tbody></table>");
        var selected = inventory.SnapshotGroups.Where(g => (region is null || g.Region == region) && (tier is null || g.Tier == tier)).ToList();
        var total = selected.Sum(g => g.Count);
        html.Append("<h2>").Append(Encode(region ?? "every region")).Append(" · ").Append(Encode(tier ?? "every tier")).Append("</h2>");
        var query = $"region={Uri.EscapeDataString(region ?? "")}&tier={Uri.EscapeDataString(tier ?? "")}";
        Pager(html, SnapshotsPath, query, page, size, total);
        html.Append("<table id=\"snapshots\"><thead><tr><th>Snapshot</th><th>Region</th><th>Tier</th><th>Volume</th><th>Policy</th><th>Started (UTC)</th><th>Age</th><th>State</th>")
            .Append("<th>GiB billed</th><th>Fast restore</th><th>Recycle bin</th><th>Planner</th></tr></thead><tbody>");

        // The rows of page N are a slice across the selected groups (each a contiguous slice of the sorted rows).
        var skip = (page - 1) * size;
        var left = size;
        foreach (var g in selected)
        {
            if (left == 0)
            {
                break;
            }

            if (skip >= g.Count)
            {
                skip -= g.Count;
                continue;
            }

            var end = Math.Min(g.Count, skip + left);
            for (var i = g.Start + skip; i < g.Start + end; i++)
            {
                Row(html, inventory.Snapshots[i], now);
            }

            left -= end - skip;
            skip = 0;
        }

        html.Append("</tbody></table>");
        return html;

        static void Row(StringBuilder html, SnapshotRow row, DateTimeOffset now)
        {
            var s = row.Snapshot;
            html.Append("<tr data-snapshot=\"").Append(Encode(s.Id)).Append("\"><td><code>").Append(Encode(s.Id)).Append("</code></td><td>").Append(Encode(s.Region)).Append("</td><td>")
                .Append(Encode(row.TierLabel)).Append("</td><td><code>").Append(Encode(s.VolumeId)).Append("</code></td><td>").Append(Encode(row.Policy ?? "–")).Append("</td><td>")
                .Append(Time(s.StartTime)).Append("</td><td class=\"num\">").Append(Span(now - s.StartTime)).Append("</td><td>").Append(Encode(s.State.ToString().ToLowerInvariant()))
                .Append("</td><td class=\"num\">").Append(GiB(row.BilledBytes)).Append("</td><td class=\"fast-restore\">");
            if (s.FastRestore.IsEmpty)
            {
                html.Append('–');
            }
            else
            {
                var first = true;
                foreach (var (zone, state) in s.FastRestore)
                {
                    html.Append(first ? "" : ", ").Append(Encode(zone)).Append(": ").Append(Encode(state.ToString().ToLowerInvariant()));
                    first = false;
                }
            }

            html.Append("</td><td>").Append(row.RecycleBinExit is { } exit ? "until " + Time(exit) : "–").Append("</td><td class=\"planner\">")
                .Append(row.Verdict is { } verdict ? "<strong>" + Encode(verdict.ToString().ToLowerInvariant()) + "</strong>: " : "").Append(Encode(row.Reasons.IsDefaultOrEmpty ? "" : string.Join("; ", row.Reasons))).Append("</td></tr>");
        }
    }

    private static async Task StorageAsync(HttpContext context)
    {
        var inventory = await context.RequestServices.GetRequiredService<InventoryViewCache>().GetAsync(context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, "Storage and cost", StoragePath, inventory, StorageBody(inventory)).ConfigureAwait(false);
    }

    internal static StringBuilder StorageBody(InventoryView inventory)
    {
        var p = inventory.Prices;
        var html = new StringBuilder();
        html.Append("<p>Stored bytes of the applied policies' snapshots and the estimated monthly cost at the simulator's prices (<code>lifecycle simulate</code>): standard ")
            .Append(Encode(Money4(p.StandardPerGbMonth))).Append("/GB-month (incremental bytes), archive ").Append(Encode(Money4(p.ArchivePerGbMonth)))
            .Append("/GB-month (full copies), fast snapshot restore ").Append(Encode(Money4(p.FastRestorePerSnapshotZoneHour))).Append(" per snapshot-zone-hour (")
            .Append(InventoryView.HoursPerMonth.ToString(CultureInfo.InvariantCulture)).Append(" hours a month); restoring from the archive costs ")
            .Append(Encode(Money4(p.ArchiveRestorePerGb))).Append("/GB, not included. The recycle bin is billed as the standard tier. Where an engine does not report a snapshot's bytes, its volume's size counts.</p>")
            .Append("<table id=\"storage\"><thead><tr><th>Region</th><th>Tier</th><th>Snapshots</th><th>GiB</th><th>$/GB-month</th><th>Monthly cost</th></tr></thead><tbody>");
        foreach (var row in inventory.Storage)
        {
            html.Append("<tr data-region=\"").Append(Encode(row.Region)).Append("\" data-tier=\"").Append(Encode(row.Tier)).Append("\"><td>").Append(Encode(row.Region)).Append("</td><td>")
                .Append(Encode(row.Tier)).Append("</td><td class=\"num count\">").Append(Number(row.Snapshots)).Append("</td><td class=\"num gib\">").Append(GiB(row.Bytes))
                .Append("</td><td class=\"num\">").Append(Encode(Money4(row.PricePerGbMonth))).Append("</td><td class=\"num cost\">").Append(Money(row.MonthlyCost)).Append("</td></tr>");
        }

        foreach (var row in inventory.FastRestore)
        {
            html.Append("<tr data-region=\"").Append(Encode(row.Region)).Append("\" data-tier=\"fast-restore\"><td>").Append(Encode(row.Region)).Append("</td><td>fast restore</td><td class=\"num count\">")
                .Append(Number(row.SnapshotZones)).Append(" snapshot-zones</td><td></td><td class=\"num\">").Append(Encode(Money4(row.PricePerZoneHour))).Append("/h</td><td class=\"num cost\">")
                .Append(Money(row.MonthlyCost)).Append("</td></tr>");
        }

        var total = inventory.Storage.Sum(r => r.MonthlyCost) + inventory.FastRestore.Sum(r => r.MonthlyCost);
        html.Append("</tbody><tfoot><tr><th colspan=\"2\">Total</th><td class=\"num\">").Append(Number(inventory.Storage.Sum(r => r.Snapshots))).Append("</td><td class=\"num\">")
            .Append(GiB(inventory.Storage.Sum(r => r.Bytes))).Append("</td><td></td><td class=\"num\" id=\"total-cost\">").Append(Money(total)).Append("</td></tr></tfoot></table>");
        return html;

        static string Money4(decimal d) => "$" + d.ToString("0.####", CultureInfo.InvariantCulture);
    }

    private static async Task RevisionsAsync(HttpContext context)
    {
        if (!TryInt(context, "limit", 10, 1, MaxRevisions, out var limit, out var bad))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, bad!).ConfigureAwait(false);
            return;
        }

        var store = context.RequestServices.GetRequiredService<RunStore>();
        var body = await RevisionsBodyAsync(store, limit, context.RequestAborted).ConfigureAwait(false);
        await WriteAsync(context, "Applied revisions", RevisionsPath, null, body).ConfigureAwait(false);
    }

    internal static async Task<StringBuilder> RevisionsBodyAsync(RunStore store, int limit, CancellationToken cancellationToken)
    {
        var revisions = await store.ListRevisionsAsync(limit, cancellationToken).ConfigureAwait(false);
        var html = new StringBuilder();
        html.Append("<p>The newest ").Append(limit).Append(" applied revisions (at most ").Append(MaxRevisions).Append(": <code>?limit=</code>), newest first, each with the diff it made.</p>");
        if (revisions.Count == 0)
        {
            html.Append("<p>Nothing was applied yet.</p>");
        }

        foreach (var r in revisions)
        {
            html.Append("<section class=\"revision\" data-seq=\"").Append(r.Seq).Append("\"><h2>Revision ").Append(r.Seq).Append(r.Revision is null ? "" : " · " + Encode(r.Revision))
                .Append("</h2><p>by <strong class=\"author\">").Append(Encode(r.Author ?? "–")).Append("</strong> at <span class=\"applied-at\">").Append(Time(r.AppliedAt))
                .Append("</span> on ").Append(Encode(r.AppliedByNode)).Append("; policies: ").Append(Encode(string.Join(", ", r.PolicyNames))).Append("</p><pre class=\"diff\">")
                .Append(Encode(r.Diff.Length > 100_000 ? r.Diff[..100_000] + "\n… (cut at 100,000 characters; GET /api/v1/revisions has it all)" : r.Diff)).Append("</pre></section>");
        }

        return html;
    }

    // ---- actions -------------------------------------------------------------------------------------

    private sealed record ActionForm(string? Schedule);

    /// <summary>
    /// A button's post: a url-encoded form with the page's anti-forgery token, carried out by <see cref="PolicyOperations"/>
    /// as the REST API would; then back to the policies page (303), or the refusal with its detail.
    /// </summary>
    private static async Task ActAsync(HttpContext context, Func<PolicyOperations, ActionForm, string, CancellationToken, Task<OperationOutcome>> act)
    {
        if (!context.Request.HasFormContentType)
        {
            await FailAsync(context, StatusCodes.Status415UnsupportedMediaType,
                $"Content-Type: '{Clip(context.Request.ContentType ?? "(none)")}': the views' buttons post a form (application/x-www-form-urlencoded) with '{BrowserSessions.AntiforgeryFieldName}'")
                .ConfigureAwait(false);
            return;
        }

        if (!await context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context).ConfigureAwait(false))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest,
                $"form field '{BrowserSessions.AntiforgeryFieldName}' is missing or stale: load {PoliciesPath} and use its button").ConfigureAwait(false);
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var schedules = form["schedule"];
        if (schedules.Count > 1 || schedules.Count == 1 && string.IsNullOrEmpty(schedules[0]))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "form field 'schedule': give it once, with a schedule's name (or leave it out for every schedule)").ConfigureAwait(false);
            return;
        }

        var outcome = await act(context.RequestServices.GetRequiredService<PolicyOperations>(), new ActionForm(schedules.Count == 1 ? schedules[0] : null), context.Actor(), context.RequestAborted)
            .ConfigureAwait(false);
        if (!outcome.Succeeded)
        {
            await FailAsync(context, outcome.Status, outcome.Detail ?? outcome.Title ?? "refused").ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = PoliciesPath;
    }

    // ---- plumbing ------------------------------------------------------------------------------------

    private static DateTimeOffset Now(HttpContext context) => context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();

    /// <summary>The caller, and for operate an anti-forgery token for the page's forms.</summary>
    private static ViewUser User(HttpContext context)
    {
        var scope = BrowserSessions.ScopeOf(context.User) ?? AccessScope.Read;
        if (scope < AccessScope.Operate)
        {
            return new ViewUser(context.User.Identity?.Name, scope, null, null);
        }

        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        return new ViewUser(context.User.Identity?.Name, scope, tokens.FormFieldName, tokens.RequestToken);
    }

    private static async Task WriteAsync(HttpContext context, string title, string path, InventoryView? inventory, StringBuilder body)
    {
        var user = User(context);
        var html = Layout(title, path, user, inventory, Now(context), body);
        context.Response.StatusCode = StatusCodes.Status200OK;
        Headers(context);
        await context.Response.WriteAsync(html, context.RequestAborted).ConfigureAwait(false);
    }

    private static void Headers(HttpContext context)
    {
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.XFrameOptions = "DENY";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
    }

    /// <summary>A refusal: a problem whose detail names the field, or for a browser the same detail on a page.</summary>
    private static async Task FailAsync(HttpContext context, int status, string detail)
    {
        if (!context.Request.Headers.Accept.Any(a => a is not null && a.Contains("text/html", StringComparison.OrdinalIgnoreCase)))
        {
            await Problems.Write(context, status, status == StatusCodes.Status404NotFound ? "Not found" : status == StatusCodes.Status409Conflict ? "Conflict" : "Bad request", detail)
                .ConfigureAwait(false);
            return;
        }

        var body = new StringBuilder().Append("<p class=\"error\" role=\"alert\" id=\"error\">").Append(Encode(detail)).Append("</p><p><a href=\"").Append(PoliciesPath).Append("\">Back to the policies</a></p>");
        var html = Layout($"HTTP {status}", "", new ViewUser(context.User.Identity?.Name, BrowserSessions.ScopeOf(context.User) ?? AccessScope.Read, null, null), null, Now(context), body);
        context.Response.StatusCode = status;
        Headers(context);
        await context.Response.WriteAsync(html, context.RequestAborted).ConfigureAwait(false);
    }

    private static bool TryPaging(HttpContext context, out int page, out int size, out string? bad)
    {
        size = 0;
        return TryInt(context, "page", 1, 1, 10_000_000, out page, out bad) && TryInt(context, "size", DefaultPageSize, 1, MaxPageSize, out size, out bad);
    }

    /// <summary>An optional integer parameter within [min, max]; an empty value is the default.</summary>
    private static bool TryInt(HttpContext context, string name, int fallback, int min, int max, out int value, out string? bad)
    {
        value = fallback;
        bad = null;
        if (!TryQuery(context, name, out var text, out bad))
        {
            return false;
        }

        if (text is null)
        {
            return true;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) || value < min || value > max)
        {
            bad = $"{name}: '{Clip(text)}' is not a whole number from {min} to {Number(max)}";
            return false;
        }

        return true;
    }

    /// <summary>An optional text parameter (given at most once; empty is absent).</summary>
    private static bool TryQuery(HttpContext context, string name, out string? value, out string? bad)
    {
        var values = context.Request.Query[name];
        value = values.Count == 1 && values[0] is { Length: > 0 } v ? v : null;
        bad = values.Count > 1 ? $"{name}: given {values.Count} times" : value is { Length: > 256 } ? $"{name}: at most 256 characters" : null;
        return bad is null;
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
