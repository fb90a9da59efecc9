using System.Security.Claims;
using System.Text.Encodings.Web;
using Lifecycle.Server.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifecycle.Server.Security;

/// <summary>
/// <c>Authorization: Bearer TOKEN</c> against the <see cref="TokenStore"/>. Every route needs a token: the fallback
/// policy is the admin scope, so a route added without an explicit scope is admin-only rather than open; only routes
/// marked <c>AllowAnonymous</c> (/healthz) are reachable without one. 401 without a token or with an unknown one,
/// 403 when the token's scope is below the route's.
/// </summary>
public static class BearerAuthentication
{
    public const string Scheme = "Bearer";

    public static IServiceCollection AddLifecycleAuthentication(this IServiceCollection services, TokenStore tokens)
    {
        services.AddSingleton(tokens);
        services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(Scheme, _ => { });
        services.AddAuthorization(o =>
        {
            foreach (var scope in Enum.GetValues<AccessScope>())
            {
                o.AddPolicy(scope.Name(), p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(scope)));
            }

            o.FallbackPolicy = o.GetPolicy(AccessScope.Admin.Name());
        });
        services.AddSingleton<IAuthorizationHandler, ScopeRequirementHandler>();
        return services;
    }

    /// <summary>Requires at least <paramref name="scope"/> on the endpoint(s).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, AccessScope scope)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(scope.Name());

    /// <summary>The scope a route needs: the highest of its scope policies, admin when it names none.</summary>
    public static AccessScope RequiredScope(Endpoint? endpoint)
    {
        var names = endpoint?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).ToList() ?? [];
        var scopes = names.Select(n => AccessScopes.TryParse(n, out var s) ? s : AccessScope.Admin).ToList();
        return scopes.Count == 0 ? AccessScope.Admin : scopes.Max();
    }

    /// <summary>The name of the token that made the request (for the audit log), or "anonymous".</summary>
    public static string Actor(this HttpContext context) => context.User.Identity?.Name ?? "anonymous";

    internal sealed record ScopeRequirement(AccessScope Scope) : IAuthorizationRequirement;

    private sealed class ScopeRequirementHandler : AuthorizationHandler<ScopeRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
        {
            var claim = context.User.FindFirst(AccessScopes.ClaimType)?.Value;
            if (AccessScopes.TryParse(claim, out var scope) && scope >= requirement.Scope)
            {
                context.Succeed(requirement);
            }

            return Task.CompletedTask;
        }
    }

    private sealed class BearerTokenHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, TokenStore tokens)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        private const int MaxTokenLength = 512;

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var header = Request.Headers.Authorization;

            // The EC2 endpoint's Authorization header is its SigV4 signature, checked there; it is not a bearer token.
            if (header.Count == 0 || Context.GetEndpoint()?.Metadata.GetMetadata<Lifecycle.Server.Ec2.Ec2EndpointMetadata>() is not null)
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var value = header.Count == 1 ? header[0] ?? "" : "";
            if (!value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || value.Length > MaxTokenLength)
            {
                return Task.FromResult(AuthenticateResult.Fail("the Authorization header is not 'Bearer TOKEN'"));
            }

            var identity = tokens.Authenticate(value["Bearer ".Length..].Trim());
            if (identity is null)
            {
                return Task.FromResult(AuthenticateResult.Fail("unknown token"));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity(
                [new Claim(ClaimTypes.Name, identity.Name), new Claim(AccessScopes.ClaimType, identity.Scope.Name())], BearerAuthentication.Scheme));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, BearerAuthentication.Scheme)));
        }

        protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
        {
            var failure = (await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false)).Failure?.Message;
            Response.Headers.WWWAuthenticate = "Bearer";
            // The pages (/hangfire) take a browser session too: say where a browser gets one.
            var browsers = Context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>()
                .Any(a => a.AuthenticationSchemes?.Split(',').Contains(Dashboard.BrowserSessions.Scheme) == true) == true
                ? $"; a browser signs in at {Dashboard.SignInEndpoints.Path}"
                : "";
            await Problems.Write(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
                failure is null
                    ? $"this route needs 'Authorization: Bearer TOKEN' (the admin token is in DATA/admin-token; more tokens: --tokens){browsers}"
                    : $"Authorization: {failure}{browsers}").ConfigureAwait(false);
        }

        protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
        {
            var needed = RequiredScope(Context.GetEndpoint());
            var has = Context.User.FindFirst(AccessScopes.ClaimType)?.Value ?? "none";
            await Problems.Write(Context, StatusCodes.Status403Forbidden, "Forbidden",
                $"this route needs the '{needed.Name()}' scope; token '{Context.Actor()}' has '{has}'").ConfigureAwait(false);
        }
    }
}
