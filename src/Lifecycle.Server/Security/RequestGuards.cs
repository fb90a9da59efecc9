using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using Lifecycle.Core.Providers;
using Lifecycle.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Lifecycle.Server.Security;

/// <summary>
/// What a browser or a stranger on the network must not get past, before and after routing:
/// <list type="bullet">
/// <item>Host filtering (DNS rebinding): the Host header must name this server — the hosts of <c>--urls</c>, loopback
/// names for a loopback bind, this machine's names and addresses for a wildcard bind, plus <c>--allowed-hosts</c>.</item>
/// <item>Cross-site writes: a state-changing request with a foreign <c>Origin</c> is refused, and its body must be
/// <c>application/json</c> (no form or <c>text/plain</c> POST, which a page can send without a CORS preflight). There
/// is no CORS: no origin is ever allowed. The EC2 endpoint (/ec2) is exempt: its requests carry a SigV4 signature. The
/// browser pages' form posts (/signin, /signout, /hangfire; <see cref="FormPostsAccepted"/>) may be url-encoded forms:
/// they carry an anti-forgery token instead.</item>
/// <item>Bad input is a 4xx problem whose detail names what is wrong, never a 500: unreadable bodies, unparsable
/// parameters and provider errors are mapped here.</item>
/// </list>
/// </summary>
public static class RequestGuards
{
    /// <summary>The Host names this server answers to; "*" in the set allows any.</summary>
    public static IReadOnlySet<string> AllowedHosts(string urls, IEnumerable<string> extra)
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var host = BindHost(url);
            if (host is "*" or "+" or "0.0.0.0" or "::" or "[::]")
            {
                AddLoopback(hosts);
                hosts.Add(Dns.GetHostName());
                foreach (var address in LocalAddresses())
                {
                    hosts.Add(address);
                }
            }
            else if (host is "localhost" || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip))
            {
                AddLoopback(hosts);
            }
            else
            {
                hosts.Add(host.Trim('[', ']'));
            }
        }

        foreach (var host in extra)
        {
            hosts.Add(host.Trim().Trim('[', ']'));
        }

        return hosts;
    }

    /// <summary>True when every address of <paramref name="urls"/> is loopback.</summary>
    public static bool IsLoopbackOnly(string urls) =>
        urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(url =>
        {
            var host = BindHost(url);
            return host == "localhost" || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
        });

    /// <summary>
    /// Host filtering, before routing. 400 with the refused name. /healthz is exempt: load balancers and kubelets probe
    /// it by address, and it says nothing a stranger could use.
    /// </summary>
    public static IApplicationBuilder UseHostFiltering(this IApplicationBuilder app, IReadOnlySet<string> allowed) => app.Use(async (context, next) =>
    {
        var host = context.Request.Host.Host;
        if (!allowed.Contains("*") && !allowed.Contains(host.Trim('[', ']')) && !context.Request.Path.Equals("/healthz", StringComparison.Ordinal))
        {
            await Problems.Write(context, StatusCodes.Status400BadRequest, "Host not allowed",
                $"Host: '{Truncate(host)}' is not a name of this server (allowed: {string.Join(", ", allowed.Order(StringComparer.Ordinal))}; add names with --allowed-hosts)")
                .ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    });

    /// <summary>After authorization: a state-changing request must be same-origin (or from no browser) and carry JSON.</summary>
    public static IApplicationBuilder UseWriteGuards(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var request = context.Request;

        // The EC2 endpoint takes form bodies by protocol and authenticates each request by its SigV4 signature, which
        // a browser cannot produce: there is no ambient credential for a cross-site request to ride on.
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)
            || context.GetEndpoint()?.Metadata.GetMetadata<Lifecycle.Server.Ec2.Ec2EndpointMetadata>() is not null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        if (request.Headers.Origin is { Count: > 0 } origin && !SameOrigin(origin.ToString(), request))
        {
            await Problems.Write(context, StatusCodes.Status403Forbidden, "Cross-origin request refused",
                $"Origin: '{Truncate(origin.ToString())}' is not this server; state-changing requests are accepted only from the same origin or from a non-browser client")
                .ConfigureAwait(false);
            return;
        }

        var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
        var contentType = request.ContentType;
        if (context.GetEndpoint()?.Metadata.GetMetadata<FormPostsAccepted>() is not null && IsUrlEncodedForm(contentType))
        {
            // The browser pages' form posts (/signin, the dashboard's commands) carry an anti-forgery token their
            // handlers check. The form is read here, so a malformed one is a 400 before any handler sees it.
            try
            {
                await request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                await Problems.Write(context, StatusCodes.Status400BadRequest, "Bad request", $"body: the form cannot be read: {Truncate(e.Message)}")
                    .ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
            return;
        }

        if ((hasBody || contentType is not null) && !IsJson(contentType))
        {
            await Problems.Write(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"Content-Type: '{Truncate(contentType ?? "(none)")}': state-changing requests take only 'application/json' bodies")
                .ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    });

    /// <summary>
    /// X-Forwarded-For and X-Forwarded-Proto, believed only from <paramref name="trustedProxies"/>. With none, no
    /// forwarded header is read at all (ASP.NET's middleware would trust loopback, or with empty lists anyone), so a
    /// request that names another client or scheme is seen as what it is. Throws <see cref="ArgumentException"/>
    /// naming a proxy that is not an IP address.
    /// </summary>
    public static IApplicationBuilder UseTrustedProxies(this IApplicationBuilder app, IReadOnlyList<string> trustedProxies)
    {
        var proxies = trustedProxies.Select(p => IPAddress.TryParse(p.Trim().Trim('[', ']'), out var address)
            ? address
            : throw new ArgumentException($"--trusted-proxy '{p}' is not an IP address")).ToList();
        if (proxies.Count == 0)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto,
            ForwardLimit = 1,
        };
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        foreach (var proxy in proxies)
        {
            options.KnownProxies.Add(proxy);
        }

        return app.UseForwardedHeaders(options);
    }

    /// <summary>Maps bad input and provider errors to problems; anything else stays a 500 (and is a bug).</summary>
    public static IApplicationBuilder UseBadInputProblems(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await Problems.Write(context, e.StatusCode, "Bad request", Describe(e)).ConfigureAwait(false);
        }
        catch (JsonException e) when (!context.Response.HasStarted)
        {
            await Problems.Write(context, StatusCodes.Status400BadRequest, "Bad request", Describe(e)).ConfigureAwait(false);
        }
        catch (ProviderException e) when (!context.Response.HasStarted)
        {
            await Problems.Write(context, Problems.StatusOf(e.Kind), e.Code, e.Message).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            // A bug: the exception handler answers 500; the log says where it came from.
            app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Lifecycle.Server.Api")
                .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            throw;
        }
    });

    /// <summary>"body at $.files[0].text: …" from the JSON error inside a binding failure.</summary>
    private static string Describe(Exception e)
    {
        var json = e as JsonException ?? e.InnerException as JsonException;
        if (json is null)
        {
            return e.Message;
        }

        var where = json.Path is { Length: > 0 } path ? $"body at {path}" : "body";
        var message = json.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return $"{where}: {(cut > 0 ? message[..cut] : message)}";
    }

    private static bool SameOrigin(string origin, HttpRequest request) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);

    private static bool IsUrlEncodedForm(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.Value is { } type
        && (type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    private static string BindHost(string url)
    {
        // Kestrel accepts "http://*:5080" and "http://+:5080", which Uri does not parse.
        var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
        rest = rest.Split('/')[0];
        if (rest.StartsWith('['))
        {
            return rest[..(rest.IndexOf(']') + 1)];
        }

        var colon = rest.LastIndexOf(':');
        return colon >= 0 ? rest[..colon] : rest;
    }

    private static void AddLoopback(HashSet<string> hosts)
    {
        hosts.Add("localhost");
        hosts.Add("127.0.0.1");
        hosts.Add("::1");
    }

    private static IEnumerable<string> LocalAddresses()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address.ToString())
                .ToList();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private static string Truncate(string text) => text.Length <= 100 ? text : text[..100] + "…";
}

/// <summary>
/// Endpoint metadata: the route takes <c>application/x-www-form-urlencoded</c> posts besides JSON (the browser pages'
/// forms, which carry an anti-forgery token). The Origin check still applies.
/// </summary>
public sealed class FormPostsAccepted;
