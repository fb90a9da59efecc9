using System.Security.Claims;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// Browser sessions for the pages (/hangfire and the backup views under /views): a browser cannot send a bearer header when it
/// navigates, so /signin trades a token for an HttpOnly, SameSite=Strict cookie (Secure over HTTPS). The cookie holds
/// the token inside a Data Protection ticket and is checked against the <see cref="TokenStore"/> on every request, so
/// revoking the token ends the session. Only routes that name <see cref="Scheme"/> accept it: the API under /api/v1
/// stays bearer-only. Every state-changing request a session makes carries an anti-forgery token (<see cref="AntiforgeryFieldName"/>).
/// </summary>
public static class BrowserSessions
{
    public const string Scheme = "Session";

    public const string CookieName = "lifecycle-session";

    public const string AntiforgeryCookieName = "lifecycle-antiforgery";

    /// <summary>The hidden form field of the anti-forgery token (the dashboard's scripts send it as a header).</summary>
    public const string AntiforgeryFieldName = "__RequestVerificationToken";

    public const string AntiforgeryHeaderName = "X-Lifecycle-Antiforgery";

    /// <summary>How long a session lasts; signing in again starts a new one.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    /// <summary>The schemes of a route that browsers reach: a bearer header or a session cookie.</summary>
    public const string BearerOrSession = BearerAuthentication.Scheme + "," + Scheme;

    private const string TokenItem = "lifecycle:token";

    /// <summary>
    /// The session scheme, anti-forgery, and Data Protection keys in <c>DATA/keys</c> (mode 0700), so sessions survive
    /// a restart. Nodes behind one load balancer need the same keys (a shared DATA/keys) or sticky sessions.
    /// </summary>
    public static IServiceCollection AddBrowserSessions(this IServiceCollection services, string dataDirectory)
    {
        var keys = Path.GetFullPath(Path.Combine(dataDirectory, "keys"));
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(keys);
        }
        else
        {
            Directory.CreateDirectory(keys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        services.AddDataProtection().SetApplicationName("lifecycle").PersistKeysToFileSystem(new DirectoryInfo(keys));
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = AntiforgeryCookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = AntiforgeryFieldName;
            o.HeaderName = AntiforgeryHeaderName;
        });
        services.AddAuthentication().AddCookie(Scheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
            o.Cookie.Path = "/";
            o.ExpireTimeSpan = Lifetime;
            o.SlidingExpiration = false;

            // The bearer scheme answers 401 and 403 with a problem; a session never redirects.
            o.Events.OnRedirectToLogin = _ => Task.CompletedTask;
            o.Events.OnRedirectToAccessDenied = _ => Task.CompletedTask;
            o.Events.OnRedirectToLogout = _ => Task.CompletedTask;
            o.Events.OnRedirectToReturnUrl = _ => Task.CompletedTask;
            o.Events.OnValidatePrincipal = ValidateAsync;
        });
        return services;
    }

    /// <summary>Starts a session for a token the store knows; the caller has checked it.</summary>
    public static Task SignInAsync(HttpContext context, TokenIdentity identity, string token)
    {
        var properties = new AuthenticationProperties { IsPersistent = false, AllowRefresh = false };
        properties.Items[TokenItem] = token;
        return context.SignInAsync(Scheme, Principal(identity, Scheme), properties);
    }

    /// <summary>The principal of a token's caller, as both schemes build it.</summary>
    public static ClaimsPrincipal Principal(TokenIdentity identity, string scheme) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, identity.Name), new Claim(AccessScopes.ClaimType, identity.Scope.Name())], scheme));

    /// <summary>The scope of an authenticated caller, or null.</summary>
    public static AccessScope? ScopeOf(ClaimsPrincipal? user) =>
        user?.Identity?.IsAuthenticated == true && AccessScopes.TryParse(user.FindFirst(AccessScopes.ClaimType)?.Value, out var scope) ? scope : null;

    /// <summary>A session lives only as long as its token: a revoked or re-scoped token ends it.</summary>
    private static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var tokens = context.HttpContext.RequestServices.GetRequiredService<TokenStore>();
        var identity = context.Properties.Items.TryGetValue(TokenItem, out var token) && token is not null ? tokens.Authenticate(token) : null;
        if (identity is null
            || identity.Name != context.Principal?.Identity?.Name
            || identity.Scope != ScopeOf(context.Principal))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(Scheme).ConfigureAwait(false);
        }
    }
}
