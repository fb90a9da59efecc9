using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Lifecycle.Server.Ec2;

/// <summary>What a verified request was signed for: the access key and the region of its credential scope.</summary>
public sealed record SigV4Caller(string AccessKeyId, string Region);

/// <summary>
/// Verifies AWS Signature Version 4 (<c>Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…</c>)
/// for the service <c>ec2</c>: the canonical request is rebuilt from what arrived (method, raw path, query, the signed
/// headers, the SHA-256 of the body), signed with the secret of the credential's key, and compared in constant time.
/// Refusals use EC2's codes: no signature <c>MissingAuthenticationToken</c>, an unknown key or a wrong signature
/// <c>AuthFailure</c> (EC2 answers both alike, so a caller cannot probe for keys), a timestamp more than 5 minutes
/// off <c>RequestExpired</c>.
/// </summary>
public sealed class SigV4Verifier(Ec2Credentials credentials, TimeProvider timeProvider)
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The clock skew EC2 allows.</summary>
    public static readonly TimeSpan AllowedSkew = TimeSpan.FromMinutes(5);

    private const int MaxAuthorizationLength = 4096;

    /// <summary>Verifies <paramref name="request"/> whose body is <paramref name="body"/>; throws <see cref="Ec2Error"/> when it fails.</summary>
    public SigV4Caller Verify(HttpRequest request, ReadOnlySpan<byte> body)
    {
        var authorization = request.Headers.Authorization;
        if (authorization.Count == 0 || string.IsNullOrEmpty(authorization[0]))
        {
            throw new Ec2Error("MissingAuthenticationToken",
                "The request must contain a valid AWS Signature Version 4 'Authorization' header (AWS4-HMAC-SHA256); the endpoint's key pairs are in its --ec2-credentials file",
                StatusCodes.Status401Unauthorized);
        }

        var header = authorization.Count == 1 ? authorization[0]! : "";
        if (header.Length > MaxAuthorizationLength || !header.StartsWith(Algorithm + " ", StringComparison.Ordinal))
        {
            throw AuthFailure("the Authorization header is not 'AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…'");
        }

        var parts = ParseAuthorization(header[(Algorithm.Length + 1)..]);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaderList)
            || !parts.TryGetValue("Signature", out var signature))
        {
            throw AuthFailure("the Authorization header needs Credential, SignedHeaders and Signature");
        }

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request" || scope[0].Length == 0)
        {
            throw AuthFailure("Credential must be 'KEY/yyyyMMdd/REGION/ec2/aws4_request'");
        }

        if (scope[3] != "ec2")
        {
            throw AuthFailure($"Credential should be scoped to the service 'ec2', not '{Truncate(scope[3])}'");
        }

        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (!DateTime.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var signedAt))
        {
            throw AuthFailure("the signed request needs an X-Amz-Date header (yyyyMMddTHHmmssZ)");
        }

        if (scope[1] != amzDate[..8])
        {
            throw AuthFailure($"Credential should be scoped to the date of X-Amz-Date ({amzDate[..8]}), not '{Truncate(scope[1])}'");
        }

        var now = timeProvider.GetUtcNow().UtcDateTime;
        if ((signedAt - now).Duration() > AllowedSkew)
        {
            throw new Ec2Error("RequestExpired",
                $"Request has expired: X-Amz-Date {amzDate} is more than {AllowedSkew.TotalMinutes:0} minutes from the server's time {now:yyyyMMdd'T'HHmmss'Z'}");
        }

        var signedHeaders = signedHeaderList.Split(';');
        if (!signedHeaders.Contains("host") || !signedHeaders.Contains("x-amz-date")
            || signedHeaders.Any(h => h.Length == 0 || h != h.ToLowerInvariant()) || !signedHeaders.SequenceEqual(signedHeaders.Order(StringComparer.Ordinal)))
        {
            throw AuthFailure("SignedHeaders must be the sorted, lower-case names of the signed headers, including host and x-amz-date");
        }

        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(body));
        var declared = request.Headers["x-amz-content-sha256"].ToString();
        if (declared.Length > 0 && !string.Equals(declared, bodyHash, StringComparison.OrdinalIgnoreCase))
        {
            throw AuthFailure("x-amz-content-sha256 is not the SHA-256 of the body (unsigned payloads are not accepted)");
        }

        // An unknown key is refused after the same work as a known one with a wrong signature.
        var secret = credentials.SecretOf(scope[0]);
        var canonical = CanonicalRequest(request, signedHeaders, bodyHash);
        var stringToSign = $"{Algorithm}\n{amzDate}\n{string.Join('/', scope[1..])}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(SigningKey(secret ?? "", scope[1], scope[2]), Encoding.UTF8.GetBytes(stringToSign)));
        var matches = CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature));
        if (secret is null || !matches)
        {
            throw AuthFailure(secret is null
                ? "the access key id is not one of this endpoint's (--ec2-credentials)"
                : "the request signature does not match the one computed with the key's secret");
        }

        return new SigV4Caller(scope[0], scope[2]);
    }

    /// <summary>The signing key of SigV4: HMAC chain over date, region, service and "aws4_request".</summary>
    public static byte[] SigningKey(string secret, string date, string region)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, "ec2"u8);
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>
    /// The canonical request from the request as received: the raw path (what the client signed; <c>/ec2</c> or
    /// <c>/ec2/</c>), the query re-encoded and sorted, each signed header's trimmed value, the body's hash.
    /// </summary>
    public static string CanonicalRequest(HttpRequest request, IReadOnlyList<string> signedHeaders, string bodyHash)
    {
        var rawTarget = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        var path = rawTarget is { Length: > 0 } && rawTarget[0] == '/' ? rawTarget.Split('?')[0] : (request.PathBase + request.Path).ToUriComponent();
        var builder = new StringBuilder();
        builder.Append(request.Method.ToUpperInvariant()).Append('\n');
        builder.Append(path.Length == 0 ? "/" : path).Append('\n');
        builder.Append(CanonicalQuery(request.QueryString.Value)).Append('\n');
        foreach (var name in signedHeaders)
        {
            var values = request.Headers[name];
            builder.Append(name).Append(':').Append(string.Join(',', values.Select(v => CollapseSpaces(v ?? "")))).Append('\n');
        }

        builder.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n').Append(bodyHash);
        return builder.ToString();
    }

    /// <summary>Query parameters decoded, then RFC 3986-encoded, sorted by name and value.</summary>
    public static string CanonicalQuery(string? query)
    {
        if (string.IsNullOrEmpty(query) || query == "?")
        {
            return "";
        }

        return string.Join('&', query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair =>
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var name = equals < 0 ? pair : pair[..equals];
                var value = equals < 0 ? "" : pair[(equals + 1)..];
                return (Name: UriEncode(Uri.UnescapeDataString(name)), Value: UriEncode(Uri.UnescapeDataString(value)));
            })
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>SigV4's encoding: every byte but A–Z, a–z, 0–9, '-', '_', '.', '~' as %XX (upper case).</summary>
    public static string UriEncode(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    private static string CollapseSpaces(string value)
    {
        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c == ' ')
            {
                space = true;
                continue;
            }

            if (space)
            {
                builder.Append(' ');
                space = false;
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static Dictionary<string, string> ParseAuthorization(string text)
    {
        var parts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !parts.TryAdd(part[..equals].Trim(), part[(equals + 1)..].Trim()))
            {
                throw AuthFailure("the Authorization header is malformed");
            }
        }

        return parts;
    }

    private static Ec2Error AuthFailure(string detail) =>
        new("AuthFailure", $"AWS was not able to validate the provided access credentials: {detail}", StatusCodes.Status401Unauthorized);

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
