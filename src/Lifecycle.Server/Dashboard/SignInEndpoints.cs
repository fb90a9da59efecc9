using System.Net;
using System.Text;
using Lifecycle.Server.Api;
using Lifecycle.Server.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Lifecycle.Server.Dashboard;

/// <summary>
/// <c>GET /signin</c>: a small server-rendered form (no scripts, no external assets). <c>POST /signin</c> (form field
/// <c>token</c>) starts a browser session for a known token and sends the browser to the dashboard; an unknown token is
/// 401, a missing one 400, each with a detail naming <c>token</c>. <c>POST /signout</c> ends the session. Both posts
/// carry the form's anti-forgery token (a page elsewhere cannot sign a browser in as someone else, or out).
/// </summary>
public static class SignInEndpoints
{
    public const string Path = "/signin";

    public const string SignOutPath = "/signout";

    public const string TokenField = "token";

    private const int MaxTokenLength = 512;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(Path, ShowAsync).AllowAnonymous().ExcludeFromDescription();
        app.MapPost(Path, SignInAsync).AllowAnonymous().WithMetadata(new FormPostsAccepted()).ExcludeFromDescription();
        app.MapPost(SignOutPath, SignOutAsync)
            .RequireAuthorization(new AuthorizeAttribute(AccessScope.Read.Name()) { AuthenticationSchemes = BrowserSessions.BearerOrSession })
            .WithMetadata(new FormPostsAccepted())
            .ExcludeFromDescription();
    }

    private static async Task ShowAsync(HttpContext context)
    {
        await UseSessionAsync(context).ConfigureAwait(false);
        await WritePageAsync(context, StatusCodes.Status200OK, error: null).ConfigureAwait(false);
    }

    private static async Task SignInAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType)
        {
            await FailAsync(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"Content-Type: '{context.Request.ContentType ?? "(none)"}': {Path} takes the form's post (application/x-www-form-urlencoded) with the field '{TokenField}'")
                .ConfigureAwait(false);
            return;
        }

        await UseSessionAsync(context).ConfigureAwait(false);
        if (!await AntiforgeryValidAsync(context).ConfigureAwait(false))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "Bad request",
                $"form field '{BrowserSessions.AntiforgeryFieldName}' is missing or stale: load {Path} and submit its form").ConfigureAwait(false);
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var values = form[TokenField];
        var token = values.Count == 1 ? values[0]?.Trim() ?? "" : "";
        if (values.Count > 1)
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "Bad request", $"form field '{TokenField}' is given {values.Count} times").ConfigureAwait(false);
            return;
        }

        if (token.Length == 0)
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "Bad request", $"form field '{TokenField}' is missing: paste a token").ConfigureAwait(false);
            return;
        }

        var identity = token.Length > MaxTokenLength ? null : context.RequestServices.GetRequiredService<TokenStore>().Authenticate(token);
        if (identity is null)
        {
            await FailAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized",
                $"form field '{TokenField}': unknown token (the admin token is in DATA/admin-token; more tokens: --tokens)").ConfigureAwait(false);
            return;
        }

        await BrowserSessions.SignInAsync(context, identity, token).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = HangfireDashboard.Path;
    }

    private static async Task SignOutAsync(HttpContext context)
    {
        if (!await AntiforgeryValidAsync(context).ConfigureAwait(false))
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "Bad request",
                $"form field '{BrowserSessions.AntiforgeryFieldName}' is missing or stale: sign out from {Path}").ConfigureAwait(false);
            return;
        }

        await context.SignOutAsync(BrowserSessions.Scheme).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = Path;
    }

    /// <summary>
    /// These routes are anonymous, so the bearer scheme alone ran: a session, when there is one, is the user that the
    /// page's anti-forgery token is issued to and checked against.
    /// </summary>
    private static async Task UseSessionAsync(HttpContext context)
    {
        if (BrowserSessions.ScopeOf(context.User) is not null)
        {
            return;
        }

        var session = await context.AuthenticateAsync(BrowserSessions.Scheme).ConfigureAwait(false);
        if (session.Succeeded)
        {
            context.User = session.Principal;
        }
    }

    private static Task<bool> AntiforgeryValidAsync(HttpContext context) =>
        context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context);

    /// <summary>A browser gets the form again with the error; any other client a problem.</summary>
    private static Task FailAsync(HttpContext context, int status, string title, string detail) =>
        WantsHtml(context.Request)
            ? WritePageAsync(context, status, detail)
            : Problems.Write(context, status, title, detail);

    private static bool WantsHtml(HttpRequest request) =>
        request.Headers.Accept.Any(a => a is not null && a.Contains("text/html", StringComparison.OrdinalIgnoreCase));

    private static async Task WritePageAsync(HttpContext context, int status, string? error)
    {
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var user = BrowserSessions.ScopeOf(context.User) is { } scope ? (Name: context.User.Identity?.Name ?? "", Scope: scope) : default((string Name, AccessScope Scope)?);
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="same-origin"><title>Sign in · Lifecycle</title>
            <style>
            body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
            input[type=password]{width:100%;padding:.5rem;font-family:monospace;box-sizing:border-box}
            button{margin-top:.75rem;padding:.4rem 1.2rem}.error{color:#a40000;border-left:3px solid #a40000;padding-left:.6rem}
            .muted{color:#666;font-size:.9rem}
            </style></head><body>
            <h1>Lifecycle</h1>
            """);
        if (error is not null)
        {
            html.Append("<p class=\"error\" role=\"alert\">").Append(Encode(error)).Append("</p>");
        }

        if (user is { } u)
        {
            html.Append("<p>Signed in as <strong id=\"signed-in-as\">").Append(Encode(u.Name)).Append("</strong> (").Append(Encode(u.Scope.Name()))
                .Append("). <a href=\"").Append(HangfireDashboard.Path).Append("\">Open the dashboard</a> or <a href=\"").Append(Views.BackupViews.PoliciesPath).Append("\">the backup views</a></p>")
                .Append("<form method=\"post\" action=\"").Append(SignOutPath).Append("\">")
                .Append(Hidden(antiforgery))
                .Append("<button type=\"submit\" id=\"signout\">Sign out</button></form><hr>");
        }

        html.Append("<form method=\"post\" action=\"").Append(Path).Append("\" autocomplete=\"off\">")
            .Append(Hidden(antiforgery))
            .Append("<label for=\"token\">Token</label>")
            .Append("<input type=\"password\" id=\"token\" name=\"").Append(TokenField).Append("\" required autofocus spellcheck=\"false\">")
            .Append("<button type=\"submit\" id=\"signin\">Sign in</button></form>")
            .Append("<p class=\"muted\">A token with the read scope shows the dashboard read-only; operate adds its buttons. ")
            .Append("The session ends after ").Append(BrowserSessions.Lifetime.TotalHours.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append(" hours, at sign-out, or when the token is revoked.</p></body></html>");

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.XFrameOptions = "DENY";
        context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        await context.Response.WriteAsync(html.ToString(), context.RequestAborted).ConfigureAwait(false);
    }

    private static string Hidden(AntiforgeryTokenSet tokens) =>
        $"<input type=\"hidden\" name=\"{Encode(tokens.FormFieldName)}\" value=\"{Encode(tokens.RequestToken ?? "")}\">";

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}
