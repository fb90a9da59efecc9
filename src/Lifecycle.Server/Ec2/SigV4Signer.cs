using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Lifecycle.Server.Ec2;

/// <summary>
/// Signs a request to /ec2 with SigV4 as the aws CLI does (content-type, host and x-amz-date signed), for callers
/// inside Lifecycle that talk to an endpoint without the AWS SDK (the <c>bench ec2-describe</c> benchmark).
/// </summary>
public static class SigV4Signer
{
    /// <summary>Adds X-Amz-Date and Authorization to <paramref name="request"/>, whose absolute URI and form body are final.</summary>
    public static void Sign(HttpRequestMessage request, byte[] body, string accessKeyId, string secret, string region, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(request);
        var uri = request.RequestUri ?? throw new ArgumentException("the request needs an absolute URI", nameof(request));
        var amzDate = at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        request.Headers.Remove("X-Amz-Date");
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["host"] = uri.Authority, ["x-amz-date"] = amzDate };
        if (request.Content?.Headers.ContentType is { } contentType)
        {
            headers["content-type"] = contentType.ToString();
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append(request.Method.Method).Append('\n')
            .Append(uri.AbsolutePath).Append('\n')
            .Append(SigV4Verifier.CanonicalQuery(uri.Query)).Append('\n')
            .Append(string.Concat(headers.Select(h => h.Key + ":" + h.Value.Trim() + "\n"))).Append('\n')
            .Append(signedHeaders).Append('\n')
            .Append(Convert.ToHexStringLower(SHA256.HashData(body)))
            .ToString();
        var scope = $"{date}/{region}/ec2/aws4_request";
        var toSign = $"{SigV4Verifier.Algorithm}\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(SigV4Verifier.SigningKey(secret, date, region), Encoding.UTF8.GetBytes(toSign)));
        request.Headers.Remove("Authorization");
        request.Headers.TryAddWithoutValidation("Authorization", $"{SigV4Verifier.Algorithm} Credential={accessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
    }
}
