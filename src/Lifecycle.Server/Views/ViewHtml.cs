using System.Globalization;
using System.Net;
using System.Text;
using Lifecycle.Server.Dashboard;
using Lifecycle.Server.Security;

namespace Lifecycle.Server.Views;

/// <summary>
/// The views' HTML: one layout (navigation to every page and back to /hangfire, who is signed in, how old the inventory
/// is), inline CSS, no script and nothing fetched from elsewhere. Every value goes through <see cref="Encode"/>.
/// </summary>
internal static class ViewHtml
{
    /// <summary>No scripts, no external anything; forms post only here; no framing.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static readonly (string Path, string Title)[] Pages =
    [
        (BackupViews.PoliciesPath, "Policies"),
        (BackupViews.VolumesPath, "Volumes"),
        (BackupViews.SnapshotsPath, "Snapshots"),
        (BackupViews.StoragePath, "Storage and cost"),
        (BackupViews.RevisionsPath, "Revisions"),
    ];

    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#222;font-size:14px}
        header{background:#1f3a5f;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
        header a{color:#fff;text-decoration:none;padding:.2rem .4rem;border-radius:3px}header a.active{background:#3d6aa2}
        header .who{margin-left:auto;font-size:.9rem}main{padding:1rem}
        table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
        th{background:#eef2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
        .ok{color:#11691b}.late{color:#8a5a00}.stale,.failed{color:#a40000;font-weight:600}.muted{color:#666;font-size:.9rem}
        form.inline{display:inline;margin:0}button{padding:.1rem .5rem;margin:.1rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:30rem}
        .pager a,.pager span{margin-right:.6rem}.error{color:#a40000;border-left:3px solid #a40000;padding-left:.6rem}
        """;

    public static string Encode(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>A path segment, escaped for the URL and then for the attribute.</summary>
    public static string Segment(string text) => Encode(Uri.EscapeDataString(text));

    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "–";

    /// <summary>"45s", "12m 5s", "3h 20m", "4d 2h".</summary>
    public static string Span(TimeSpan? span)
    {
        if (span is not { } s)
        {
            return "–";
        }

        var sign = s < TimeSpan.Zero ? "-" : "";
        s = s.Duration();
        return sign + (s.TotalMinutes < 1 ? $"{(int)s.TotalSeconds}s"
            : s.TotalHours < 1 ? $"{s.Minutes}m {s.Seconds}s"
            : s.TotalDays < 1 ? $"{(int)s.TotalHours}h {s.Minutes}m"
            : $"{(int)s.TotalDays}d {s.Hours}h");
    }

    public static string Number(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Money(decimal dollars) => "$" + dollars.ToString("N2", CultureInfo.InvariantCulture);

    public static string GiB(long bytes) => ((double)bytes / InventoryView.GiB).ToString("N2", CultureInfo.InvariantCulture);

    /// <summary>The page around <paramref name="body"/>.</summary>
    public static string Layout(string title, string activePath, ViewUser user, InventoryView? inventory, DateTimeOffset now, StringBuilder body)
    {
        var html = new StringBuilder(body.Length + 2048);
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<meta name=\"referrer\" content=\"same-origin\"><title>").Append(Encode(title)).Append(" · Lifecycle</title><style>")
            .Append(Style).Append("</style></head><body><header><strong>Lifecycle</strong><nav>");
        foreach (var (path, name) in Pages)
        {
            html.Append("<a href=\"").Append(path).Append('"').Append(path == activePath ? " class=\"active\" aria-current=\"page\"" : "")
                .Append('>').Append(Encode(name)).Append("</a>");
        }

        html.Append("<a href=\"").Append(HangfireDashboard.Path).Append("\" id=\"to-hangfire\">Jobs (Hangfire) ↗</a></nav><span class=\"who\">");
        if (user.Name is not null)
        {
            html.Append("signed in as <strong id=\"signed-in-as\">").Append(Encode(user.Name)).Append("</strong> (<span id=\"scope\">")
                .Append(Encode(user.Scope.Name())).Append("</span>) · <a href=\"").Append(SignInEndpoints.Path).Append("\">sign out</a>");
        }

        html.Append("</span></header><main><h1>").Append(Encode(title)).Append("</h1>");
        if (inventory is not null)
        {
            html.Append("<p class=\"muted\" id=\"inventory-age\">Inventory read at ").Append(Time(inventory.Taken)).Append(" (")
                .Append(Span(now - inventory.Taken)).Append(" ago, in ").Append(Span(inventory.ReadDuration))
                .Append("); it is read again in the background when it is older than ")
                .Append(Span(InventoryViewCache.MaxAge)).Append(" and a page is opened.</p>");
            foreach (var note in inventory.Notes)
            {
                html.Append("<p class=\"error note\">").Append(Encode(note)).Append("</p>");
            }
        }

        html.Append(body).Append("</main></body></html>");
        return html.ToString();
    }

    /// <summary>A small form that posts to <paramref name="action"/> with the anti-forgery token (and hidden fields).</summary>
    public static void Button(StringBuilder html, ViewUser user, string action, string label, string id, params (string Name, string Value)[] fields)
    {
        html.Append("<form class=\"inline\" method=\"post\" action=\"").Append(action).Append("\">")
            .Append("<input type=\"hidden\" name=\"").Append(Encode(user.AntiforgeryField)).Append("\" value=\"").Append(Encode(user.AntiforgeryToken)).Append("\">");
        foreach (var (name, value) in fields)
        {
            html.Append("<input type=\"hidden\" name=\"").Append(Encode(name)).Append("\" value=\"").Append(Encode(value)).Append("\">");
        }

        html.Append("<button type=\"submit\" id=\"").Append(Encode(id)).Append("\">").Append(Encode(label)).Append("</button></form>");
    }

    /// <summary>Previous/next links of a paged list (the query keeps its other parameters).</summary>
    public static void Pager(StringBuilder html, string path, string query, int page, int size, int total)
    {
        var pages = Math.Max(1, (total + size - 1) / size);
        html.Append("<p class=\"pager\">");
        if (page > 1)
        {
            html.Append("<a rel=\"prev\" href=\"").Append(path).Append('?').Append(Encode(query)).Append(query.Length == 0 ? "page=" : "&amp;page=").Append(page - 1).Append("&amp;size=").Append(size).Append("\">← previous</a>");
        }

        html.Append("<span>page ").Append(page).Append(" of ").Append(Number(pages)).Append(" (").Append(Number(total)).Append(" rows, ").Append(size).Append(" a page)</span>");
        if (page < pages)
        {
            html.Append("<a rel=\"next\" href=\"").Append(path).Append('?').Append(Encode(query)).Append(query.Length == 0 ? "page=" : "&amp;page=").Append(page + 1).Append("&amp;size=").Append(size).Append("\">next →</a>");
        }

        html.Append("</p>");
    }
}

/// <summary>Who is looking, and the anti-forgery token their forms carry (null below operate: no forms).</summary>
internal sealed record ViewUser(string? Name, AccessScope Scope, string? AntiforgeryField, string? AntiforgeryToken)
{
    public bool CanOperate => Scope >= AccessScope.Operate && AntiforgeryToken is not null;
}
