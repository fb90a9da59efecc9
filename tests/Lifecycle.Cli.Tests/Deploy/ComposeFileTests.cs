using System.Text.Json.Nodes;
using Json.Schema;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>
/// deploy/compose/compose.yaml: valid against the Compose Specification's JSON Schema (vendored in
/// Deploy/ComposeSpec with its source and license), and laid out so it starts: one local-engine node by default, and
/// in the cluster profile exactly one process on the engine directory, the nodes reaching it through /ec2.
/// </summary>
public sealed class ComposeFileTests
{
    private const string ComposePath = "deploy/compose/compose.yaml";

    private static readonly JsonObject Compose = DeployFiles.Yaml(DeployFiles.Read(ComposePath))!.AsObject();

    private static JsonObject Services => Compose["services"]!.AsObject();

    [Fact]
    public void ComposeFile_IsValidAgainstTheComposeSpecificationSchema()
    {
        var results = Evaluate(Compose);

        Assert.True(results.IsValid, string.Join('\n', Errors(results)));
    }

    [Fact]
    public void TheSchemaCheck_RejectsAMisspelledServiceKey()
    {
        var broken = Compose.DeepClone().AsObject();
        broken["services"]!["lifecycle"]!["comand"] = new JsonArray("serve");

        var results = Evaluate(broken);

        Assert.False(results.IsValid);
        Assert.Contains(Errors(results), e => e.Contains("/services/lifecycle", StringComparison.Ordinal));
    }

    [Fact]
    public void Default_IsOneNodeOnTheLocalEngine_WithItsStoreAndEngineInOneVolume()
    {
        var defaults = Services.Where(s => s.Value!["profiles"] is null).ToList();

        var service = Assert.Single(defaults);
        var args = ServeArguments(service.Value!);
        Assert.Equal("local", DeployFiles.OptionValue(args, "--engine") ?? "local");
        Assert.Null(DeployFiles.OptionValue(args, "--database"));
        Assert.Null(DeployFiles.OptionValue(args, "--engine-data"));
        var data = DeployFiles.OptionValue(args, "--data");
        var named = NamedVolumes(service.Value!);
        var volume = Assert.Single(named);
        Assert.Equal(data, volume.Target);
        Assert.Contains("127.0.0.1:5080:5080", service.Value!["ports"]!.AsArray().Select(p => (string?)p));
    }

    [Fact]
    public void ClusterProfile_OpensTheEngineDirectoryInOneProcess_AndItsNodesReachItThroughEc2()
    {
        var cluster = Services.Where(s => s.Value!["profiles"]?.AsArray().Any(p => (string?)p == "cluster") == true).ToDictionary(s => s.Key, s => s.Value!);
        var lifecycle = cluster.Where(s => IsLifecycle(s.Value)).ToDictionary(s => s.Key, s => ServeArguments(s.Value));

        // One engine host: the only service on --engine local; it runs no policies and serves the policies' regions.
        var (hostName, hostArgs) = Assert.Single(lifecycle, s => (DeployFiles.OptionValue(s.Value, "--engine") ?? "local") == "local");
        Assert.Null(DeployFiles.OptionValue(hostArgs, "--policies"));
        Assert.NotEmpty(DeployFiles.OptionValues(hostArgs, "--regions"));
        var hostData = DeployFiles.OptionValue(hostArgs, "--data")!;
        var engineDirectory = DeployFiles.OptionValue(hostArgs, "--engine-data") ?? $"{hostData}/engine";
        var engineVolume = NamedVolumes(cluster[hostName])
            .Where(v => engineDirectory == v.Target || engineDirectory.StartsWith(v.Target + "/", StringComparison.Ordinal))
            .MaxBy(v => v.Target.Length)!.Source;
        var hostDataVolume = NamedVolumes(cluster[hostName]).Single(v => v.Target == hostData).Source;
        Assert.NotEqual(engineVolume, hostDataVolume);

        // Nobody else, in any profile, mounts the engine's volume or the host's data (its key ring, its store).
        Assert.Equal([hostName], Services.Where(s => NamedVolumes(s.Value!).Any(v => v.Source == engineVolume)).Select(s => s.Key));
        Assert.Equal([hostName], Services.Where(s => NamedVolumes(s.Value!).Any(v => v.Source == hostDataVolume)).Select(s => s.Key));

        // The key pair and the admin token: files of one volume, written by a one-off service before the host starts,
        // mounted read-only by everyone else.
        var credentials = DeployFiles.OptionValue(hostArgs, "--ec2-credentials")!;
        Assert.Equal(Path.GetDirectoryName(credentials), Path.GetDirectoryName(DeployFiles.OptionValue(hostArgs, "--admin-token-file")));
        var secretsMount = NamedVolumes(cluster[hostName]).Single(v => v.Target == Path.GetDirectoryName(credentials));
        Assert.True(secretsMount.ReadOnly);
        var secretsVolume = secretsMount.Source;
        var writer = Assert.Single(cluster, s => NamedVolumes(s.Value).Any(v => v.Source == secretsVolume && !v.ReadOnly)).Key;
        Assert.Equal("no", (string?)cluster[writer]["restart"]);
        Assert.Equal("service_completed_successfully", (string?)cluster[hostName]["depends_on"]![writer]!["condition"]);

        var nodes = lifecycle.Where(s => s.Key != hostName).ToList();
        Assert.Equal(2, nodes.Count);
        var hostPort = new Uri(DeployFiles.OptionValue(hostArgs, "--urls")!.Replace("0.0.0.0", "host", StringComparison.Ordinal)).Port;
        foreach (var (name, args) in nodes)
        {
            var node = cluster[name];
            Assert.Equal("aws", DeployFiles.OptionValue(args, "--engine"));
            var endpoint = new Uri(DeployFiles.OptionValue(args, "--aws-endpoint-url")!);
            Assert.Equal((hostName, hostPort, "/ec2"), (endpoint.Host, endpoint.Port, endpoint.AbsolutePath));
            Assert.Contains(endpoint.Host, DeployFiles.OptionValues(hostArgs, "--allowed-hosts").SelectMany(h => h.Split(',')));

            // PostgreSQL, healthy before the node starts, as the store.
            var database = new Uri(DeployFiles.OptionValue(args, "--database")!);
            Assert.Equal("postgres", database.Scheme);
            Assert.True(cluster.ContainsKey(database.Host), $"{name}: --database names {database.Host}, not a service of the profile");
            Assert.Equal("service_healthy", (string?)node["depends_on"]![database.Host]!["condition"]);
            Assert.Equal("service_healthy", (string?)node["depends_on"]![hostName]!["condition"]);

            // The host's key pair and the cluster's admin token, from the secrets volume, read-only.
            Assert.Equal(DeployFiles.OptionValue(hostArgs, "--ec2-credentials"), (string?)node["environment"]!["AWS_SHARED_CREDENTIALS_FILE"]);
            Assert.Equal(DeployFiles.OptionValue(hostArgs, "--admin-token-file"), DeployFiles.OptionValue(args, "--admin-token-file"));
            Assert.Contains(NamedVolumes(node), v => v.Source == secretsVolume && v.ReadOnly);
            Assert.Equal("service_completed_successfully", (string?)node["depends_on"]?[writer]?["condition"] ?? (string?)cluster[hostName]["depends_on"]![writer]!["condition"]);
            Assert.Equal("true", (string?)node["environment"]!["AWS_EC2_METADATA_DISABLED"]);

            // Its own data directory, shared with no one.
            var data = NamedVolumes(node).Single(v => v.Target == DeployFiles.OptionValue(args, "--data")).Source;
            Assert.Equal([name], Services.Where(s => NamedVolumes(s.Value!).Any(v => v.Source == data)).Select(s => s.Key));
        }

        Assert.Equal(nodes.Count, nodes.Select(n => DeployFiles.OptionValue(n.Value, "--node")).Distinct().Count());
    }

    [Fact]
    public void ClusterCommandOfTheReadme_StartsTheClusterWithoutTheSingleNode()
    {
        var line = DeployFiles.Read("README.md").Split('\n').Single(l => l.Contains("--profile cluster up", StringComparison.Ordinal));
        var named = HelmChart.ShellWords(line).SkipWhile(w => w != "up").Skip(1).Where(w => !w.StartsWith('-')).ToList();

        // `up SERVICE…` starts the named services and what they depend on, nothing else.
        var started = new HashSet<string>();
        var pending = new Stack<string>(named);
        while (pending.TryPop(out var service))
        {
            if (started.Add(service))
            {
                foreach (var dependency in Services[service]!["depends_on"]?.AsObject().Select(d => d.Key) ?? [])
                {
                    pending.Push(dependency);
                }
            }
        }

        var cluster = Services.Where(s => s.Value!["profiles"] is not null).Select(s => s.Key).ToHashSet();
        Assert.Equal(cluster.Order(), started.Order());
    }

    [Fact]
    public void EveryLifecycleService_IsARealServeCommandLine_WithAHealthcheckOnHealthz()
    {
        var lifecycle = Services.Where(s => IsLifecycle(s.Value!)).ToList();
        Assert.Equal(4, lifecycle.Count);
        foreach (var (name, service) in lifecycle)
        {
            var args = ServeArguments(service!);
            Assert.True(DeployFiles.ServeParseErrors(args) is [], $"{name}: {string.Join("; ", DeployFiles.ServeParseErrors(args))}");
            var port = new Uri(DeployFiles.OptionValue(args, "--urls")!.Replace("0.0.0.0", "host", StringComparison.Ordinal)).Port;
            var test = string.Join(' ', service!["healthcheck"]!["test"]!.AsArray().Select(t => (string?)t));
            Assert.Contains($"/dev/tcp/127.0.0.1/{port}", test, StringComparison.Ordinal);
            Assert.Contains("GET /healthz ", test, StringComparison.Ordinal);
        }
    }

    /// <summary>A service that runs the image's entrypoint (lifecycle), not a one-off script on the same image.</summary>
    private static bool IsLifecycle(JsonNode service) => (string?)service["image"] == "lifecycle:dev" && service["entrypoint"] is null;

    private static List<string> ServeArguments(JsonNode service)
    {
        var command = service["command"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal("serve", command[0]);
        return command[1..];
    }

    private sealed record VolumeMount(string Source, string Target, bool ReadOnly);

    /// <summary>The service's mounts of named volumes (short syntax SOURCE:TARGET[:ro]), bind mounts left out.</summary>
    private static List<VolumeMount> NamedVolumes(JsonNode service)
    {
        var declared = Compose["volumes"]!.AsObject().Select(v => v.Key).ToHashSet();
        var mounts = new List<VolumeMount>();
        foreach (var entry in service["volumes"]?.AsArray() ?? [])
        {
            var parts = ((string)entry!).Split(':');
            if (declared.Contains(parts[0]))
            {
                mounts.Add(new VolumeMount(parts[0], parts[1], parts.Length > 2 && parts[2].Split(',').Contains("ro")));
            }
        }

        return mounts;
    }

    private static EvaluationResults Evaluate(JsonNode document)
    {
        var schema = JsonSchema.FromFile(Path.Combine(AppContext.BaseDirectory, "Deploy", "ComposeSpec", "compose-spec.json"));
        var options = new EvaluationOptions { OutputFormat = OutputFormat.List, EvaluateAs = SpecVersion.Draft7 };
        // The file names draft-07 by its https address without '#'; the library knows it as http://…/schema#.
        options.SchemaRegistry.Register(new Uri("https://json-schema.org/draft-07/schema"), MetaSchemas.Draft7);
        return schema.Evaluate(document, options);
    }

    private static IEnumerable<string> Errors(EvaluationResults results) =>
        (results.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"));
}
