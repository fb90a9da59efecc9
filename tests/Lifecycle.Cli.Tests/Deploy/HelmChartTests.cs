using System.Text.Json.Nodes;

namespace Lifecycle.Cli.Tests.Deploy;

/// <summary>
/// deploy/helm/lifecycle, rendered (by <see cref="GoTemplate"/>, no helm binary here) with every <c>helm</c> command
/// the README shows, then read as Kubernetes manifests.
/// </summary>
public sealed class HelmChartTests
{
    public static TheoryData<string> ReadmeCommands() => [.. HelmChart.ReadmeInvocations().Select(i => i.Line)];

    [Fact]
    public void Readme_ShowsTheDefaultInstall_AndTheOtherCombinations()
    {
        var invocations = HelmChart.ReadmeInvocations();

        Assert.Contains(invocations, i => i.Sets.Count == 0);
        Assert.Contains(invocations, i => i.Sets.Contains("engine=aws") && i.Sets.Any(s => s.Contains("role-arn", StringComparison.Ordinal)));
        Assert.Contains(invocations, i => i.Sets.Contains("replicas=2"));
        Assert.Contains(invocations, i => i.Sets.Contains("metrics.serviceMonitor.enabled=true"));
        Assert.Contains(invocations, i => i.Sets.Contains("metrics.anonymous=true"));
        Assert.Contains(invocations, i => i.Sets.Contains("policies.configMap=lifecycle-policies"));
    }

    [Theory]
    [MemberData(nameof(ReadmeCommands))]
    public void ReadmeCommand_RendersAPodThatStarts(string line)
    {
        var invocation = HelmChart.ReadmeInvocations().Single(i => i.Line == line);
        var values = HelmChart.Values(invocation.Sets);
        var rendered = HelmChart.Render(invocation.Sets, invocation.Release, invocation.Namespace);

        var deployment = rendered.Single("Deployment");
        Assert.Single(rendered.OfKind("Service"));
        var serviceAccount = rendered.Single("ServiceAccount");
        var pod = deployment["spec"]!["template"]!["spec"]!.AsObject();
        Assert.Equal(invocation.Release, (string?)pod["serviceAccountName"]);
        Assert.Equal(invocation.Release, (string?)serviceAccount["metadata"]!["name"]);
        var container = pod["containers"]!.AsArray().Single()!.AsObject();

        // Probes on /healthz through the named port.
        Assert.Contains(container["ports"]!.AsArray(), p => (string?)p!["name"] == "http");
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
        {
            Assert.Equal("/healthz", (string?)container[probe]!["httpGet"]!["path"]);
            Assert.Equal("http", (string?)container[probe]!["httpGet"]!["port"]);
        }

        // Non-root, read-only root filesystem, no capabilities, no privilege escalation; /tmp writable.
        Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
        Assert.NotEqual(0, (long)pod["securityContext"]!["runAsUser"]!);
        Assert.True((bool)container["securityContext"]!["readOnlyRootFilesystem"]!);
        Assert.False((bool)container["securityContext"]!["allowPrivilegeEscalation"]!);
        Assert.Equal(["ALL"], container["securityContext"]!["capabilities"]!["drop"]!.AsArray().Select(c => (string?)c));
        var volumes = pod["volumes"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => v!.AsObject());
        var mounts = container["volumeMounts"]!.AsArray().ToDictionary(m => (string)m!["mountPath"]!, m => (string)m!["name"]!);
        Assert.True(volumes[mounts["/tmp"]].ContainsKey("emptyDir"));

        // The arguments are a real serve command line.
        var args = container["args"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal("serve", args[0]);
        Assert.Empty(DeployFiles.ServeParseErrors(args[1..]));
        var engine = DeployFiles.OptionValue(args, "--engine");
        Assert.Equal((string?)values["engine"], engine);
        Assert.Equal("/var/lib/lifecycle", DeployFiles.OptionValue(args, "--data"));

        // Data: a claim whenever the pod keeps its store or the engine there; an emptyDir only for engine aws on PostgreSQL.
        var database = Get(values, "database", "existingSecret") as string;
        var data = volumes[mounts["/var/lib/lifecycle"]];
        if (engine == "local" || string.IsNullOrEmpty(database))
        {
            Assert.False(data.ContainsKey("emptyDir"), "the data directory must not be an emptyDir");
            var claim = (string)data["persistentVolumeClaim"]!["claimName"]!;
            var existing = Get(values, "persistence", "existingClaim") as string;
            if (string.IsNullOrEmpty(existing))
            {
                Assert.Equal(claim, (string?)rendered.Single("PersistentVolumeClaim")["metadata"]!["name"]);
            }
            else
            {
                Assert.Equal(existing, claim);
                Assert.Empty(rendered.OfKind("PersistentVolumeClaim"));
            }
        }
        else
        {
            Assert.True(data.ContainsKey("emptyDir"));
            Assert.NotNull(DeployFiles.OptionValue(args, "--database"));
            Assert.Empty(rendered.OfKind("PersistentVolumeClaim"));
        }

        // The local engine: one pod, and the old one is gone before the new one opens the engine.
        var replicas = (long)deployment["spec"]!["replicas"]!;
        if (engine == "local")
        {
            Assert.Equal(1, replicas);
            Assert.Equal("Recreate", (string?)deployment["spec"]!["strategy"]!["type"]);
        }

        if (replicas > 1)
        {
            Assert.Equal("$(LIFECYCLE_DATABASE)", DeployFiles.OptionValue(args, "--database"));
            Assert.Equal(database, (string?)container["env"]!.AsArray().Single(e => (string?)e!["name"] == "LIFECYCLE_DATABASE")!["valueFrom"]!["secretKeyRef"]!["name"]);
            Assert.Equal("/etc/lifecycle/auth/admin-token", DeployFiles.OptionValue(args, "--admin-token-file"));
            Assert.Equal(Get(values, "auth", "existingSecret"), (string?)volumes[mounts["/etc/lifecycle/auth"]]["secret"]!["secretName"]);
        }

        // IRSA: the role annotation reaches the ServiceAccount.
        if (Get(values, "serviceAccount", "annotations") is Dictionary<string, object?> { Count: > 0 } annotations)
        {
            foreach (var (key, value) in annotations)
            {
                Assert.Equal(value, (string?)serviceAccount["metadata"]!["annotations"]![key]);
            }
        }

        // Metrics objects only when metrics are on.
        var metrics = Get(values, "metrics", "enabled") is true;
        var anonymous = Get(values, "metrics", "anonymous") is true;
        var serviceMonitor = metrics && Get(values, "metrics", "serviceMonitor", "enabled") is true;
        Assert.Equal(serviceMonitor ? 1 : 0, rendered.OfKind("ServiceMonitor").Count());
        var podAnnotations = deployment["spec"]!["template"]!["metadata"]!["annotations"]?.AsObject();
        Assert.Equal(metrics && anonymous, podAnnotations?.ContainsKey("prometheus.io/scrape") ?? false);
        Assert.Equal(metrics && anonymous, args.Contains("--metrics-anonymous"));
        if (!metrics)
        {
            Assert.DoesNotContain("/metrics", rendered.Text, StringComparison.Ordinal);
        }

        if (serviceMonitor && !anonymous)
        {
            var endpoint = rendered.Single("ServiceMonitor")["spec"]!["endpoints"]!.AsArray().Single()!;
            Assert.Equal("/metrics", (string?)endpoint["path"]);
            Assert.Equal(Get(values, "metrics", "serviceMonitor", "tokenSecret", "name"), (string?)endpoint["authorization"]!["credentials"]!["name"]);
        }

        // Policies: directory mode from the ConfigMap, else API mode.
        var configMap = Get(values, "policies", "configMap") as string;
        Assert.Equal(string.IsNullOrEmpty(configMap) ? null : "/etc/lifecycle/policies", DeployFiles.OptionValue(args, "--policies"));
        if (!string.IsNullOrEmpty(configMap))
        {
            Assert.Equal(configMap, (string?)volumes[mounts["/etc/lifecycle/policies"]]["configMap"]!["name"]);
        }
    }

    [Fact]
    public void Defaults_AreOnePodOnTheLocalEngine_WithItsDataOnAClaim_AndNoMetricsObjects()
    {
        var rendered = HelmChart.Render([]);

        var deployment = rendered.Single("Deployment");
        Assert.Equal(1, (long)deployment["spec"]!["replicas"]!);
        var pod = deployment["spec"]!["template"]!["spec"]!;
        var args = pod["containers"]![0]!["args"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal("local", DeployFiles.OptionValue(args, "--engine"));
        Assert.Null(DeployFiles.OptionValue(args, "--database"));
        Assert.Null(DeployFiles.OptionValue(args, "--policies"));
        Assert.Equal("lifecycle,lifecycle.default,lifecycle.default.svc", DeployFiles.OptionValue(args, "--allowed-hosts"));
        var claim = rendered.Single("PersistentVolumeClaim");
        Assert.Equal("20Gi", (string?)claim["spec"]!["resources"]!["requests"]!["storage"]);
        Assert.Equal(["ReadWriteOnce"], claim["spec"]!["accessModes"]!.AsArray().Select(m => (string?)m));
        Assert.Equal("lifecycle", (string?)pod["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "data")!["persistentVolumeClaim"]!["claimName"]);
        Assert.Empty(rendered.OfKind("ServiceMonitor"));
        Assert.Null(deployment["spec"]!["template"]!["metadata"]!["annotations"]);
        Assert.Null(rendered.Single("ServiceAccount")["metadata"]!["annotations"]);
    }

    [Theory]
    [InlineData("replicas=2", "engine: local runs in one pod")]
    [InlineData("engine=aws,replicas=2", "needs database.existingSecret")]
    [InlineData("engine=aws,replicas=2,database.existingSecret=db", "needs auth.existingSecret")]
    [InlineData("engine=gcp", "engine must be local or aws")]
    [InlineData("auth.tokens=true", "auth.tokens needs auth.existingSecret")]
    [InlineData("metrics.enabled=true,metrics.serviceMonitor.enabled=true", "needs metrics.serviceMonitor.tokenSecret.name")]
    public void ACombinationThatCannotStart_FailsTheRender_WithTheReason(string set, string reason)
    {
        var failure = Assert.Throws<GoTemplate.FailException>(() => HelmChart.Render([set]));

        Assert.Contains(reason, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MetricsEnabledWithoutAServiceMonitor_RendersNoServiceMonitor()
    {
        var rendered = HelmChart.Render(["metrics.enabled=true", "metrics.serviceMonitor.tokenSecret.name=t"]);

        Assert.Empty(rendered.OfKind("ServiceMonitor"));
    }

    [Fact]
    public void ServiceMonitorEnabled_WithMetricsOff_RendersNoServiceMonitor()
    {
        var rendered = HelmChart.Render(["metrics.serviceMonitor.enabled=true"]);

        Assert.Empty(rendered.OfKind("ServiceMonitor"));
        Assert.DoesNotContain("/metrics", rendered.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceMonitorLabels_ReachTheServiceMonitor()
    {
        var rendered = HelmChart.Render(["metrics.enabled=true,metrics.anonymous=true,metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prometheus"]);

        var monitor = rendered.Single("ServiceMonitor");
        Assert.Equal("prometheus", (string?)monitor["metadata"]!["labels"]!["release"]);
        Assert.Null(monitor["spec"]!["endpoints"]![0]!["authorization"]);
    }

    [Fact]
    public void TheImageUser_IsThePodsUser()
    {
        var values = HelmChart.Values([]);
        var dockerfile = DeployFiles.Read("deploy/container/Dockerfile");

        Assert.Contains($"USER {Get(values, "podSecurityContext", "runAsUser")}:{Get(values, "podSecurityContext", "runAsGroup")}", dockerfile, StringComparison.Ordinal);
    }

    private static object? Get(Dictionary<string, object?> values, params string[] path)
    {
        object? current = values;
        foreach (var key in path)
        {
            current = current is Dictionary<string, object?> map ? map.GetValueOrDefault(key) : null;
        }

        return current is double d && d == Math.Floor(d) ? (long)d : current;
    }
}
