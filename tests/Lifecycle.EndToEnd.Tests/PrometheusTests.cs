using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lifecycle.Core.Planning;
using Lifecycle.Core.Providers;
using Lifecycle.LocalEngine;
using Lifecycle.Server.Security;
using Lifecycle.Testing.Waiting;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>
/// dashboards/ against Debian's real Prometheus (2.42, <c>/usr/bin/prometheus</c> and <c>promtool</c>, installed by
/// tests/run.sh from tests/dependencies.txt; missing, the test fails): Prometheus scrapes a live <c>lifecycle serve</c>
/// with a read token every second and evaluates dashboards/prometheus/lifecycle-alerts.yml every second. Every series
/// the Grafana dashboards and the rules use must exist, every panel expression must return data through the HTTP API,
/// promtool must accept the rules, the example scrape configuration and the scraped text, and the stale-backup alert must fire for the volume whose
/// creates fail (a pre hook that exits 1, onFailure: fail) under a minute schedule, and for no other volume.
/// Real clock on purpose: Prometheus's time() is the wall clock, and the staleness alert compares with it.
/// </summary>
public sealed class PrometheusTests
{
    private const string Prometheus = "/usr/bin/prometheus";
    private const string Promtool = "/usr/bin/promtool";
    private const string Region = "pm-a";
    private const string DrRegion = "pm-b";

    private static string Policies(string marker) => $$"""
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: healthy }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: metrics-ok } }
          schedules:
            - name: every-minute
              cron: "* * * * *"
              retain: { count: 5 }
              copies: [{ region: {{DrRegion}}, retain: { count: 2 } }]
          hooks:
            pre:  [{ exec: [/bin/true], timeout: 30s }]
            post: [{ exec: [/bin/true], timeout: 30s }]
        ---
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata: { name: flaky }
        spec:
          engine: local
          regions: [{{Region}}]
          targets: { tags: { suite: metrics-stale } }
          schedules:
            - name: every-minute
              cron: "* * * * *"
              retain: { count: 5 }
          hooks:
            pre: [{ exec: [/bin/sh, -c, "test ! -e {{marker}}"], timeout: 30s }]
            onFailure: fail
        """;

    [Fact]
    public async Task Prometheus_ScrapesEverySeriesTheDashboardsAndRulesUse_EvaluatesEveryPanel_AndFiresTheStaleBackupAlert()
    {
        foreach (var tool in new[] { Prometheus, Promtool })
        {
            Assert.True(File.Exists(tool),
                $"{tool} is missing: install Debian's prometheus package (apt-get install -y prometheus; tests/run.sh does it from tests/dependencies.txt)");
        }

        var repository = RepositoryRoot();
        var rulesFile = Path.Combine(repository, "dashboards", "prometheus", "lifecycle-alerts.yml");
        var dashboards = Directory.GetFiles(Path.Combine(repository, "dashboards", "grafana"), "*.json").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(4, dashboards.Count);

        var (code, output) = await RunAsync(Promtool, ["check", "rules", rulesFile]);
        Assert.True(code == 0, $"promtool check rules {rulesFile}: exit {code}\n{output}");

        using var environment = new TestEnvironment("prometheus");

        // The example scrape configuration is valid as shipped (with its token file and the rules beside it).
        var example = Path.Combine(environment.Root, "example");
        Directory.CreateDirectory(example);
        var exampleToken = Path.Combine(example, "lifecycle-token");
        await File.WriteAllTextAsync(exampleToken, "token");
        File.Copy(rulesFile, Path.Combine(example, "lifecycle-alerts.yml"));
        var exampleConfig = Path.Combine(example, "prometheus.yml");
        var shipped = await File.ReadAllTextAsync(Path.Combine(repository, "dashboards", "prometheus", "prometheus.yml"));
        Assert.Contains("/etc/prometheus/lifecycle-token", shipped, StringComparison.Ordinal);
        await File.WriteAllTextAsync(exampleConfig, shipped.Replace("/etc/prometheus/lifecycle-token", exampleToken, StringComparison.Ordinal));
        (code, output) = await RunAsync(Promtool, ["check", "config", exampleConfig]);
        Assert.True(code == 0, $"promtool check config (dashboards/prometheus/prometheus.yml): exit {code}\n{output}");
        var failMarker = Path.Combine(environment.MarkerDirectory, "fail-creates");
        await File.WriteAllTextAsync(failMarker, "the flaky policy's pre hook fails while this file exists");
        string okVolume, staleVolume;
        var lastBackup = DateTimeOffset.UtcNow.AddMinutes(-3);
        using (var engine = environment.OpenEngine())
        {
            okVolume = (await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", 1, new Dictionary<string, string> { ["suite"] = "metrics-ok" }))[0];
            staleVolume = (await TestEnvironment.SeedVolumesAsync(engine, Region, Region + "a", 1, new Dictionary<string, string> { ["suite"] = "metrics-stale" }))[0];
        }

        // The flaky volume's last good backup, three minutes ago (an engine whose clock says so): with every create
        // failing from now on, its newest snapshot is already older than twice its one-minute interval.
        using (var past = LocalEngine.LocalEngine.Open(new LocalEngineOptions
        {
            DataDirectory = environment.EngineDirectory,
            KeyRingPath = environment.ServerKeyRing,
            TimeProvider = new ShiftedClock(lastBackup - DateTimeOffset.UtcNow),
        }))
        {
            var fire = new DateTimeOffset(lastBackup.Year, lastBackup.Month, lastBackup.Day, lastBackup.Hour, lastBackup.Minute, 0, TimeSpan.Zero);
            var snapshot = await past.Region(Region).CreateSnapshotAsync(new CreateSnapshotRequest(staleVolume, ImmutableSortedDictionary<string, string>.Empty
                .Add(OwnershipTags.Policy, "flaky").Add(OwnershipTags.Schedule, "every-minute")
                .Add(OwnershipTags.FireTime, OwnershipTags.FormatFireTime(fire)).Add(OwnershipTags.Token, "seeded-last-good-backup")));
            await past.Region(Region).WaitForSnapshotAsync(snapshot.Id);
        }

        environment.WritePolicy("metrics.yaml", Policies(failMarker));
        var readToken = TokenStore.NewToken();
        var tokens = Path.Combine(environment.Root, "tokens");
        await File.WriteAllTextAsync(tokens, TokenStore.TokensFileLine("prometheus", AccessScope.Read, readToken) + "\n");
        await using var server = await ServerProcess.StartAsync(
            ["--data", environment.DataDirectory, "--policies", environment.PoliciesDirectory, "--tokens", tokens],
            environment: new Dictionary<string, string> { ["LIFECYCLE_METRICS_REFRESH_SECONDS"] = "1" });

        await using var prometheus = await PrometheusProcess.StartAsync(environment.Root, server.BaseAddress, readToken, rulesFile);
        var api = prometheus.Http;

        // The rules Prometheus loaded are the file's (every group, every rule).
        var loadedRules = (await GetDataAsync(api, "/api/v1/rules")).GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (Name: r.GetProperty("name").GetString()!, Query: r.GetProperty("query").GetString()!)).ToList();
        Assert.Contains(loadedRules, r => r.Name == "LifecycleBackupStale");
        Assert.True(loadedRules.Count >= 10, $"{loadedRules.Count} rules loaded");

        // The stale-backup alert fires for the volume whose creates fail, as do the failed-create and hook alerts.
        var alerts = await Eventually.UntilAsync(
            async () => (await GetDataAsync(api, "/api/v1/alerts")).GetProperty("alerts").EnumerateArray().Select(a => a.Clone()).ToList(),
            seen => seen.Any(a => IsFiring(a, "LifecycleBackupStale") && Label(a, "volume") == staleVolume && Label(a, "policy") == "flaky")
                && seen.Any(a => IsFiring(a, "LifecycleCreatesFailing") && Label(a, "policy") == "flaky")
                && seen.Any(a => IsFiring(a, "LifecycleHookFailures") && Label(a, "policy") == "flaky" && Label(a, "stage") == "pre"),
            "LifecycleBackupStale, LifecycleCreatesFailing and LifecycleHookFailures to fire for the flaky policy",
            TimeSpan.FromSeconds(150), TimeSpan.FromSeconds(1),
            seen => string.Join("\n", seen.Select(a => a.ToString())) + "\n" + server.Log[Math.Max(0, server.Log.Length - 4000)..]);

        // The healthy volume has a fresh snapshot and no stale alert.
        await Eventually.UntilAsync(
            async () => await QueryAsync(api, $"lifecycle_newest_snapshot_timestamp_seconds{{volume=\"{okVolume}\"}}"),
            r => r.Count == 1,
            "the healthy volume's newest snapshot in Prometheus", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(alerts, a => Label(a, "alertname") == "LifecycleBackupStale" && Label(a, "volume") == okVolume);
        var stale = await QueryAsync(api, "ALERTS{alertname=\"LifecycleBackupStale\", alertstate=\"firing\"}");
        Assert.Equal(staleVolume, Assert.Single(stale).GetProperty("metric").GetProperty("volume").GetString());

        // promtool accepts what the server exports (scraped with the same read token).
        using (var scrape = new HttpClient { BaseAddress = server.BaseAddress })
        {
            scrape.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", readToken);
            var text = await scrape.GetStringAsync("/metrics");
            Assert.Contains("lifecycle_actions{", text, StringComparison.Ordinal);
            (code, output) = await RunAsync(Promtool, ["check", "metrics"], stdin: text);
            Assert.True(code == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {code}\n{output}");
        }

        // Every series a dashboard or a rule names exists in Prometheus.
        var panelExpressions = dashboards.SelectMany(PanelExpressions).ToList();
        Assert.True(panelExpressions.Count >= 40, $"{panelExpressions.Count} panel expressions");
        var variableQueries = dashboards.SelectMany(VariableQueries).ToList();
        var names = panelExpressions.Select(e => e.Expression).Concat(variableQueries).Concat(loadedRules.Select(r => r.Query))
            .SelectMany(MetricNames).ToImmutableSortedSet(StringComparer.Ordinal);
        Assert.Contains("lifecycle_newest_snapshot_timestamp_seconds", names);
        Assert.Contains("lifecycle_schedule_interval_seconds", names);
        var missing = new List<string>();
        foreach (var name in names)
        {
            var selector = name == "up" ? "up{job=\"lifecycle\"}" : name;
            if ((await QueryAsync(api, $"count({selector})")).Count == 0)
            {
                missing.Add(name);
            }
        }

        Assert.True(missing.Count == 0, $"series used by dashboards/ but not in Prometheus: {string.Join(", ", missing)}");

        // Every panel expression returns data (Grafana's variables as a viewer of all policies gets them).
        foreach (var (dashboard, panel, expression) in panelExpressions)
        {
            var query = Substitute(expression);
            var result = await Eventually.UntilAsync(
                () => QueryAsync(api, query), r => r.Count > 0,
                $"{dashboard} / {panel}: '{query}' to return data", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
            Assert.NotEmpty(result);
        }

        foreach (var query in variableQueries)
        {
            // label_values(METRIC, LABEL): the values exist.
            var match = Regex.Match(query, @"^label_values\((\w+),\s*(\w+)\)$");
            Assert.True(match.Success, $"unexpected variable query {query}");
            var values = (await GetDataAsync(api, $"/api/v1/label/{match.Groups[2].Value}/values?match[]={Uri.EscapeDataString(match.Groups[1].Value)}"))
                .EnumerateArray().Select(v => v.GetString()).ToList();
            Assert.Contains("flaky", values);
            Assert.Contains("healthy", values);
        }
    }

    private static bool IsFiring(JsonElement alert, string name) => Label(alert, "alertname") == name && alert.GetProperty("state").GetString() == "firing";

    private static string? Label(JsonElement alert, string name) =>
        alert.GetProperty("labels").TryGetProperty(name, out var value) ? value.GetString() : null;

    /// <summary>Grafana's variables as a viewer of every policy over a short range gets them.</summary>
    private static string Substitute(string expression) => expression
        .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
        .Replace("$policy", ".*", StringComparison.Ordinal);

    private static IEnumerable<string> MetricNames(string expression) =>
        Regex.Matches(expression, @"\b(lifecycle_[a-z0-9_]+|up)\b").Select(m => m.Value);

    private static IEnumerable<(string Dashboard, string Panel, string Expression)> PanelExpressions(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(file));
        var title = json.RootElement.GetProperty("title").GetString()!;
        foreach (var panel in json.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                yield return (title, panel.GetProperty("title").GetString()!, target.GetProperty("expr").GetString()!);
            }
        }
    }

    private static IEnumerable<string> VariableQueries(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(file));
        foreach (var variable in json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.GetProperty("type").GetString() == "query")
            {
                yield return variable.GetProperty("definition").GetString()!;
            }
        }
    }

    private static async Task<List<JsonElement>> QueryAsync(HttpClient api, string query) =>
        [.. (await GetDataAsync(api, "/api/v1/query?query=" + Uri.EscapeDataString(query))).GetProperty("result").EnumerateArray().Select(r => r.Clone())];

    /// <summary>GETs a Prometheus API path and returns its <c>data</c>; a failed query fails the test with Prometheus's error.</summary>
    private static async Task<JsonElement> GetDataAsync(HttpClient api, string path)
    {
        using var response = await api.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        using var json = JsonDocument.Parse(text);
        Assert.Equal("success", json.RootElement.GetProperty("status").GetString());
        return json.RootElement.GetProperty("data").Clone();
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Lifecycle.sln")) && Directory.Exists(Path.Combine(directory.FullName, "dashboards")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no repository with dashboards/ above {AppContext.BaseDirectory}");
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The system clock shifted by an offset (an engine that believes it is three minutes ago).</summary>
    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }

    /// <summary>A Prometheus server on a free loopback port with a temporary configuration and storage.</summary>
    private sealed class PrometheusProcess : IAsyncDisposable
    {
        private readonly Process process;
        private readonly StringBuilder log = new();

        private PrometheusProcess(Process process, Uri address)
        {
            this.process = process;
            Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        }

        public HttpClient Http { get; }

        public static async Task<PrometheusProcess> StartAsync(string root, Uri target, string token, string rulesFile)
        {
            var directory = Path.Combine(root, "prometheus");
            Directory.CreateDirectory(directory);
            var tokenFile = Path.Combine(directory, "token");
            await File.WriteAllTextAsync(tokenFile, token);
            var config = Path.Combine(directory, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                rule_files:
                  - {rulesFile}
                scrape_configs:
                  - job_name: lifecycle
                    scrape_interval: 1s
                    scrape_timeout: 1s
                    authorization:
                      type: Bearer
                      credentials_file: {tokenFile}
                    static_configs:
                      - targets: ["{target.Authority}"]
                """);
            var port = FreePort();
            var start = new ProcessStartInfo(Prometheus) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[]
            {
                "--config.file=" + config, "--storage.tsdb.path=" + Path.Combine(directory, "data"),
                $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            })
            {
                start.ArgumentList.Add(argument);
            }

            var process = new Process { StartInfo = start };
            var prometheus = new PrometheusProcess(process, new Uri($"http://127.0.0.1:{port}"));
            process.OutputDataReceived += (_, e) => prometheus.Append(e.Data);
            process.ErrorDataReceived += (_, e) => prometheus.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await Eventually.UntilAsync(
                async () =>
                {
                    Assert.False(process.HasExited, "prometheus exited:\n" + prometheus.Log);
                    try
                    {
                        using var ready = await prometheus.Http.GetAsync("/-/ready");
                        return ready.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "prometheus to be ready", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), () => prometheus.Log);

            // The target is scraped with the read token (up == 1: /metrics answered 200).
            await Eventually.UntilAsync(
                async () =>
                {
                    var targets = await GetDataAsync(prometheus.Http, "/api/v1/targets");
                    return targets.GetProperty("activeTargets").EnumerateArray().Any(t => t.GetProperty("health").GetString() == "up");
                },
                "prometheus to scrape lifecycle serve", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500),
                () => prometheus.Log);
            return prometheus;
        }

        private string Log
        {
            get
            {
                lock (log)
                {
                    return log.ToString();
                }
            }
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(line);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
