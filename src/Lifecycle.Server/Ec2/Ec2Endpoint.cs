using System.Buffers;
using System.Text;
using System.Xml;
using Lifecycle.Core.Providers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Net.Http.Headers;

namespace Lifecycle.Server.Ec2;

/// <summary>Marks the EC2 endpoint: it authenticates with SigV4 itself, so bearer tokens and the JSON-only write guards do not apply.</summary>
public sealed class Ec2EndpointMetadata
{
    public static Ec2EndpointMetadata Instance { get; } = new();
}

/// <summary>
/// <c>/ec2</c>: the EC2 Query API (version 2016-11-15) over a <see cref="LocalEngine.LocalEngine"/>, so the aws CLI,
/// the AWS SDKs and Lifecycle's own AWS provider drive the local engine as they drive EC2
/// (<c>--endpoint-url http://HOST:PORT/ec2</c>). Each request: the fault failpoint (tests), the body (bounded), SigV4
/// against the credentials file, the region of the credential scope (served regions only), then the action. Every
/// refusal is EC2's error envelope with its code; the policies' safety rules hold here as on every other path.
/// </summary>
public static class Ec2Endpoint
{
    public const string Path = "/ec2";
    public const string ApiVersion = "2016-11-15";

    /// <summary>
    /// Maps GET and POST <c>/ec2</c> (also <c>/ec2/</c>) on <paramref name="routes"/>, serving <paramref name="engine"/>.
    /// The route allows anonymous access as far as bearer tokens go: its own SigV4 check is its authentication.
    /// </summary>
    public static IEndpointConventionBuilder MapEc2Endpoint(this IEndpointRouteBuilder routes, LocalEngine.LocalEngine engine, Ec2Credentials credentials, Ec2EndpointOptions options)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(options);
        var verifier = new SigV4Verifier(credentials, options.TimeProvider);
        var operations = new Ec2Operations(engine, options);
        var logger = routes.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("Lifecycle.Server.Ec2") ?? NullLogger.Instance;
        return routes.MapMethods(Path, [HttpMethods.Get, HttpMethods.Post], context => HandleAsync(context, verifier, operations, options, logger))
            .WithMetadata(Ec2EndpointMetadata.Instance)
            .AllowAnonymous();
    }

    private static async Task HandleAsync(HttpContext context, SigV4Verifier verifier, Ec2Operations operations, Ec2EndpointOptions options, ILogger logger)
    {
        var requestId = Guid.NewGuid().ToString();
        var action = "";
        try
        {
            var roll = options.ThrottleShare + options.ErrorShare > 0 ? Random.Shared.NextDouble() : 1;
            if (roll < options.ThrottleShare)
            {
                throw new Ec2Error("RequestLimitExceeded", $"Request limit exceeded (injected by {Ec2EndpointOptions.FaultsVariable})", StatusCodes.Status503ServiceUnavailable);
            }

            if (roll < options.ThrottleShare + options.ErrorShare)
            {
                throw new Ec2Error("InternalError", $"An internal error has occurred (injected by {Ec2EndpointOptions.FaultsVariable})", StatusCodes.Status500InternalServerError);
            }

            var body = await ReadBodyAsync(context.Request, options.MaxBodyBytes, context.RequestAborted).ConfigureAwait(false);
            var caller = verifier.Verify(context.Request, body);
            string? form = null;
            if (body.Length > 0)
            {
                if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var media)
                    || !string.Equals(media.MediaType.Value, "application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
                {
                    throw Ec2Error.InvalidParameterValue("Content-Type: a request body must be application/x-www-form-urlencoded (the EC2 Query protocol)");
                }

                try
                {
                    form = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
                }
                catch (DecoderFallbackException)
                {
                    throw Ec2Error.InvalidParameterValue("the request body is not valid UTF-8");
                }
            }

            var parameters = Ec2Parameters.Parse(context.Request.QueryString.Value, form);
            action = parameters.String("Action") ?? throw Ec2Error.MissingParameter("Action");
            var version = parameters.String("Version") ?? throw Ec2Error.MissingParameter("Version");
            if (version != ApiVersion)
            {
                throw Ec2Error.InvalidParameterValue($"Value ({Ec2Parameters.Shorten(version)}) for parameter Version is invalid: this endpoint serves {ApiVersion}");
            }

            var call = await operations.OpenCallAsync(context, caller.Region, parameters, context.RequestAborted).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            using (var xml = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Async = false }))
            {
                xml.WriteStartElement(action + "Response", Ec2Xml.Namespace);
                xml.Element("requestId", requestId);
                await operations.RunAsync(action, call, xml).ConfigureAwait(false);
                xml.WriteEndElement();
            }

            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "text/xml;charset=UTF-8";
            context.Response.ContentLength = buffer.Length;
            buffer.Position = 0;
            await buffer.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Ec2Error e)
        {
            await WriteErrorAsync(context, e.Status, e.Code, e.Message, requestId).ConfigureAwait(false);
        }
        catch (ProviderException e)
        {
            var error = Ec2Error.From(e);
            await WriteErrorAsync(context, error.Status, error.Code, error.Message, requestId).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // the client went away
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            // A bug: EC2's InternalError (which the SDKs retry), and the log says where it came from.
            logger.LogError(e, "EC2 {Action} failed (request {RequestId})", Ec2Parameters.Shorten(action), requestId);
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "InternalError", $"An internal error has occurred (request {requestId})", requestId)
                .ConfigureAwait(false);
        }
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes; a larger body is refused (413) before it is read.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            throw new Ec2Error("RequestEntityTooLarge", $"The request body has {request.ContentLength} bytes; this endpoint reads at most {limit}", StatusCodes.Status413PayloadTooLarge);
        }

        var writer = new ArrayBufferWriter<byte>();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
            catch (BadHttpRequestException e)
            {
                throw new Ec2Error("InvalidParameterValue", $"the request body could not be read: {e.Message}", e.StatusCode);
            }

            if (read == 0)
            {
                return writer.WrittenSpan.ToArray();
            }

            if (writer.WrittenCount + read > limit)
            {
                throw new Ec2Error("RequestEntityTooLarge", $"The request body is larger than the {limit} bytes this endpoint reads", StatusCodes.Status413PayloadTooLarge);
            }

            writer.Write(chunk.AsSpan(0, read));
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string code, string message, string requestId)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        using var buffer = new MemoryStream();
        using (var xml = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
        {
            xml.WriteStartElement("Response");
            xml.WriteStartElement("Errors");
            xml.WriteStartElement("Error");
            xml.WriteElementString("Code", code);
            xml.WriteElementString("Message", XmlSafe(message));
            xml.WriteEndElement();
            xml.WriteEndElement();
            xml.WriteElementString("RequestID", requestId);
            xml.WriteEndElement();
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/xml;charset=UTF-8";
        context.Response.ContentLength = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(context.Response.Body).ConfigureAwait(false);
    }

    /// <summary>Messages quote caller input; characters XML cannot carry are replaced rather than failing the answer.</summary>
    internal static string XmlSafe(string text)
    {
        if (text.All(XmlConvert.IsXmlChar))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (i + 1 < text.Length && XmlConvert.IsXmlSurrogatePair(text[i + 1], text[i]))
            {
                builder.Append(text, i, 2);
                i++;
            }
            else
            {
                builder.Append(XmlConvert.IsXmlChar(text[i]) ? text[i] : '\uFFFD');
            }
        }

        return builder.ToString();
    }
}
