using Hangfire.Dashboard;
using Lifecycle.Server.Security;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// Who sees /hangfire, on our tokens (a bearer header or a session from /signin): any token with <c>read</c> sees the
/// pages; only <c>operate</c> (or <c>admin</c>) gets the dashboard writable, with its requeue and delete buttons, and
/// Hangfire refuses a command from a read-only dashboard whether or not a button was shown.
/// <para>
/// There is no anonymous access, from loopback either (Hangfire's default). The server's recommended exposure is a
/// TLS-terminating proxy on the same host, which makes every request a loopback request, and one that does not set
/// X-Forwarded-For would hand the dashboard to anyone; a token costs a local user one paste.
/// </para>
/// </summary>
public sealed class DashboardAccess : IDashboardAsyncAuthorizationFilter
{
    public Task<bool> AuthorizeAsync(DashboardContext context) =>
        Task.FromResult(BrowserSessions.ScopeOf(context.GetHttpContext().User) >= AccessScope.Read);

    /// <summary>Read-only below <c>operate</c>: <see cref="DashboardOptions.IsReadOnlyFunc"/>.</summary>
    public static bool IsReadOnly(DashboardContext context) =>
        !(BrowserSessions.ScopeOf(context.GetHttpContext().User) >= AccessScope.Operate);
}
