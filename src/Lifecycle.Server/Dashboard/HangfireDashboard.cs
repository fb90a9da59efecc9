using Hangfire;
using Hangfire.Dashboard;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// /hangfire: Hangfire's dashboard on our tokens (<see cref="DashboardAccess"/>), with the Schedules page, a menu item
/// to the backup views (/views, which link back; "Back to site" leads there too), without the storage's connection
/// string, and with failed jobs stored without stack traces (<see cref="FailedStateRedaction"/>).
/// </summary>
public static class HangfireDashboard
{
    public const string Path = "/hangfire";

    private static int registered;

    /// <summary>
    /// Maps the dashboard: ASP.NET authorization lets in a read token (bearer or session, 401/403 as every route), and
    /// the dashboard's own filter checks the same again; its form posts (commands, stats) need the anti-forgery token.
    /// </summary>
    public static IEndpointConventionBuilder MapLifecycleDashboard(this IEndpointRouteBuilder endpoints)
    {
        RegisterExtensions();
        var options = new DashboardOptions
        {
            AppPath = Views.BackupViews.PoliciesPath,
            DashboardTitle = "Lifecycle",
            DisplayStorageConnectionString = false,
            Authorization = [],
            AsyncAuthorization = [new DashboardAccess()],
            IsReadOnlyFunc = DashboardAccess.IsReadOnly,
            IgnoreAntiforgeryToken = false,
        };
        return endpoints.MapHangfireDashboard(Path, options)
            .RequireAuthorization(new AuthorizeAttribute(AccessScope.Read.Name()) { AuthenticationSchemes = BrowserSessions.BearerOrSession })
            .WithMetadata(new FormPostsAccepted());
    }

    /// <summary>
    /// Hangfire's route table, menu and global filters are process-wide: the Schedules page, its menu item and the
    /// failed-state filter are added once, however many servers a process builds (the tests build several).
    /// </summary>
    public static void RegisterExtensions()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1)
        {
            return;
        }

        GlobalJobFilters.Filters.Add(new FailedStateRedaction(), FailedStateRedaction.Order);
        DashboardRoutes.Routes.Add(SchedulesPage.Route, new SchedulesPage.Dispatcher());
        NavigationMenu.Items.Add(page => new MenuItem("Schedules", page.Url.To(SchedulesPage.Route))
        {
            Active = page.RequestPath.StartsWith(SchedulesPage.Route, StringComparison.OrdinalIgnoreCase),
        });

        // The backup views live beside the dashboard, outside it (an absolute path, not one under /hangfire).
        NavigationMenu.Items.Add(_ => new MenuItem("Backup views", Views.BackupViews.PoliciesPath));
    }
}
