using System.Collections.Immutable;
using System.Net.Http.Json;
using System.Text.Json;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Providers;

namespace Lifecycle.Server.Hosting;

/// <summary>
/// The providers of an engine served by another `lifecycle serve` (its /engine/v1 endpoints): what the nodes of a
/// cluster use to share one local engine. Network failures are transient provider errors (retried by the executor).
/// </summary>
public sealed class RemoteProviderRegistry : IProviderRegistry, IDisposable
{
    private readonly HttpClient http;

    public RemoteProviderRegistry(Uri engineUrl, string? token)
    {
        http = new HttpClient { BaseAddress = engineUrl, Timeout = TimeSpan.FromMinutes(2) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
    }

    public ImmutableArray<string> Regions =>
        [.. http.GetFromJsonAsync<string[]>("/engine/v1/regions").GetAwaiter().GetResult() ?? []];

    public ISnapshotProvider For(string region) => new RemoteSnapshotProvider(http, region);

    public void Dispose() => http.Dispose();

    private sealed class RemoteSnapshotProvider(HttpClient http, string region) : ISnapshotProvider
    {
        public string Region => region;

        public Task<ImmutableArray<VolumeInfo>> DescribeVolumesAsync(TagFilter? filter = null, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<VolumeInfo>>("describe-volumes", new { filter }, cancellationToken);

        public Task<ImmutableArray<SnapshotInfo>> DescribeSnapshotsAsync(SnapshotQuery? query = null, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<SnapshotInfo>>("describe-snapshots", new { query }, cancellationToken);

        public Task<SnapshotInfo> CreateSnapshotAsync(CreateSnapshotRequest request, CancellationToken cancellationToken = default) =>
            CallAsync<SnapshotInfo>("create-snapshot", new { request }, cancellationToken);

        public Task<ImmutableArray<SnapshotInfo>> CreateSnapshotsAsync(CreateSnapshotsRequest request, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<SnapshotInfo>>("create-snapshots", new { request }, cancellationToken);

        public Task<SnapshotInfo> CopySnapshotAsync(CopySnapshotRequest request, CancellationToken cancellationToken = default) =>
            CallAsync<SnapshotInfo>("copy-snapshot", new { request }, cancellationToken);

        /// <summary>The engine host deletes only for the owning policy, named from the snapshot's own tag.</summary>
        public async Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default)
        {
            var snapshot = (await DescribeSnapshotsAsync(new SnapshotQuery { SnapshotIds = [snapshotId] }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
            if (snapshot is null)
            {
                return; // gone already
            }

            var policy = snapshot.Tags.GetValueOrDefault(Lifecycle.Core.Planning.OwnershipTags.Policy) ?? "";
            await CallAsync<JsonElement>("delete-snapshot", new { snapshotId, policy }, cancellationToken).ConfigureAwait(false);
        }

        public Task ArchiveSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
            CallAsync<JsonElement>("archive-snapshot", new { snapshotId }, cancellationToken);

        public Task RestoreSnapshotTierAsync(string snapshotId, int? days, CancellationToken cancellationToken = default) =>
            CallAsync<JsonElement>("restore-snapshot-tier", new { snapshotId, days }, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> EnableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<FastRestoreZoneState>>("enable-fast-snapshot-restores", new { snapshotId, zones }, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> DisableFastSnapshotRestoresAsync(string snapshotId, ImmutableArray<string> zones, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<FastRestoreZoneState>>("disable-fast-snapshot-restores", new { snapshotId, zones }, cancellationToken);

        public Task<ImmutableArray<FastRestoreZoneState>> DescribeFastSnapshotRestoresAsync(string? snapshotId = null, CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<FastRestoreZoneState>>("describe-fast-snapshot-restores", new { snapshotId }, cancellationToken);

        public Task<ImmutableArray<RecycleBinEntry>> ListSnapshotsInRecycleBinAsync(CancellationToken cancellationToken = default) =>
            CallAsync<ImmutableArray<RecycleBinEntry>>("list-recycle-bin", new { }, cancellationToken);

        public Task<SnapshotInfo> RestoreSnapshotFromRecycleBinAsync(string snapshotId, CancellationToken cancellationToken = default) =>
            CallAsync<SnapshotInfo>("restore-from-recycle-bin", new { snapshotId }, cancellationToken);

        public Task<VolumeInfo> CreateVolumeAsync(CreateVolumeRequest request, CancellationToken cancellationToken = default) =>
            CallAsync<VolumeInfo>("create-volume", new { request }, cancellationToken);

        public Task CreateTagsAsync(string resourceId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
            CallAsync<JsonElement>("create-tags", new { resourceId, tags }, cancellationToken);

        public async Task<SnapshotInfo?> WaitForCompletionAsync(string snapshotId, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                var snapshot = await CallAsync<SnapshotInfo?>("wait-snapshot", new { snapshotId }, cancellationToken).ConfigureAwait(false);
                if (snapshot is null || snapshot.State != SnapshotState.Pending)
                {
                    return snapshot;
                }
            }
        }

        private async Task<T> CallAsync<T>(string operation, object args, CancellationToken cancellationToken)
        {
            HttpResponseMessage response;
            try
            {
                response = await http.PostAsJsonAsync($"/engine/v1/{Uri.EscapeDataString(region)}/{operation}", args, RemoteEngineJson.Options, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new ProviderException(ProviderErrorKind.Transient, "EngineUnreachable", $"engine at {http.BaseAddress}: {e.Message}", e);
            }

            using (response)
            {
                if (!response.IsSuccessStatusCode)
                {
                    throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
                }

                var result = await response.Content.ReadFromJsonAsync<ResultEnvelope<T>>(RemoteEngineJson.Options, cancellationToken).ConfigureAwait(false);
                return result is null ? default! : result.Result;
            }
        }
    }

    /// <summary>
    /// The engine's typed error, or — for an answer that is not one (401/403 from authentication, a proxy's page) — an
    /// error by status that is never NotFound, which a delete would take for success.
    /// </summary>
    private static async Task<ProviderException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        string? detail = null;
        try
        {
            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("code", out _) && root.TryGetProperty("kind", out _))
            {
                var error = root.Deserialize<RemoteEngineError>(RemoteEngineJson.Options);
                if (error is not null)
                {
                    return new ProviderException(error.Kind, error.Code, error.Message);
                }
            }

            detail = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
            // not JSON: described by its status
        }

        var kind = status switch
        {
            401 or 403 => ProviderErrorKind.Unauthorized,
            429 => ProviderErrorKind.Throttled,
            >= 500 => ProviderErrorKind.Transient,
            _ => ProviderErrorKind.InvalidParameter,
        };
        return new ProviderException(kind, "EngineHttp" + status, $"engine answered HTTP {status}{(detail is null ? "" : ": " + detail)}");
    }

    private sealed record ResultEnvelope<T>(T Result);
}
