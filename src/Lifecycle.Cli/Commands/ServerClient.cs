using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// The HTTP client of the commands that talk to a running `lifecycle serve` (apply, plan --server, runs). It sends the
/// bearer token from <c>--token-file</c>, else <c>LIFECYCLE_TOKEN</c>, else — only for a server on this host —
/// the server's own <c>DATA/admin-token</c> (<c>--data</c>, default ./.lifecycle).
/// </summary>
internal sealed class ServerClient : IDisposable
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    public const string TokenVariable = "LIFECYCLE_TOKEN";

    private readonly HttpClient http;

    public ServerClient(string server, string? tokenFile = null, string? dataDirectory = null)
    {
        http = new HttpClient { BaseAddress = new Uri(server.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(5) };
        if (ResolveToken(http.BaseAddress, tokenFile, dataDirectory ?? "./.lifecycle") is { } token)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri Server => http.BaseAddress!;

    /// <summary><c>--token-file FILE</c>: for the commands that talk to a server.</summary>
    public static Option<string?> TokenFileOption() => new("--token-file")
    {
        Description = $"File holding the bearer token (default: ${TokenVariable}, or for a server on this host DATA/admin-token)",
        Recursive = true,
    };

    /// <summary><c>--data DIR</c>: where a server on this host keeps its admin token.</summary>
    public static Option<string> DataOption() => new("--data")
    {
        Description = "The server's data directory, for its admin token when the server runs on this host",
        DefaultValueFactory = _ => "./.lifecycle",
        Recursive = true,
    };

    /// <summary>The token to send, or null (the server then answers 401 with how to get one).</summary>
    public static string? ResolveToken(Uri server, string? tokenFile, string dataDirectory)
    {
        if (tokenFile is not null)
        {
            return File.ReadAllText(tokenFile).Trim();
        }

        if (Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment.Trim();
        }

        var local = server.IsLoopback || IPAddress.TryParse(server.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
        var adminToken = Path.Combine(dataDirectory, "admin-token");
        return local && File.Exists(adminToken) ? File.ReadAllText(adminToken).Trim() : null;
    }

    public async Task<(int Status, JsonElement Body)> GetAsync(string path, CancellationToken cancellationToken = default)
    {
        using var response = await http.GetAsync(path.TrimStart('/'), cancellationToken).ConfigureAwait(false);
        return ((int)response.StatusCode, await ReadAsync(response, cancellationToken).ConfigureAwait(false));
    }

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, object body, CancellationToken cancellationToken = default)
    {
        using var response = await http.PostAsJsonAsync(path.TrimStart('/'), body, cancellationToken).ConfigureAwait(false);
        return ((int)response.StatusCode, await ReadAsync(response, cancellationToken).ConfigureAwait(false));
    }

    public void Dispose() => http.Dispose();

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(text))
        {
            return default;
        }

        try
        {
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonDocument.Parse(JsonSerializer.Serialize(new { detail = text })).RootElement.Clone();
        }
    }

    public static string Indented(JsonElement element) => JsonSerializer.Serialize(element, new JsonSerializerOptions { WriteIndented = true });
}
