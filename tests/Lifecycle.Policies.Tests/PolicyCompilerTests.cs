using Lifecycle.Core.Policies;
using Lifecycle.Core.Time;

namespace Lifecycle.Policies.Tests;

/// <summary>The compile step: YAML → Core records, defaults, YAML merges and anchors, multi-document files.</summary>
public class PolicyCompilerTests
{
    private const string Minimal = """
        apiVersion: lifecycle/v1
        kind: SnapshotPolicy
        metadata:
          name: minimal
        spec:
          regions: [eu-west-1]
          targets:
            tags: { backup: "true" }
          schedules:
            - name: daily
              every: 1d
              retain: { count: 7 }

        """;

    private static SnapshotPolicy LoadSingle(string yaml)
    {
        var result = PolicyLoader.LoadText(yaml, "test.yaml");
        Assert.True(result.Diagnostics.IsEmpty, string.Join("\n", result.Diagnostics));
        return Assert.Single(result.Policies.Policies);
    }

    [Fact]
    public void Compile_InstanceTargetExclusions_AreTheBootVolumeAndDataVolumeTags()
    {
        // DLM: ExcludeBootVolume leaves out the root volume; ExcludeDataVolumeTags leaves out data volumes with those tags.
        var policy = LoadSingle(Minimal.Replace("""
            targets:
                tags: { backup: "true" }
            """, """
            targets:
                resource: instance
                tags: { role: database }
                exclude:
                  bootVolume: true
                  tags: { scratch: ["true", "yes"] }
            """, StringComparison.Ordinal));

        Assert.Equal(ResourceKind.Instance, policy.Targets.Resource);
        Assert.True(policy.Targets.ExcludeBootVolume);
        Assert.Equal(["true", "yes"], policy.Targets.ExcludeTags["scratch"].ToArray());
    }

    [Fact]
    public void Compile_Adopt_ReadsTheDlmPolicyId_AndNoAdoptMeansNone()
    {
        var policy = LoadSingle(Minimal + "  adopt: { dlmPolicyId: policy-0123456789abcdef0 }\n");

        Assert.Equal(new DlmAdoption("policy-0123456789abcdef0"), policy.Adopt);
        Assert.Null(LoadSingle(Minimal).Adopt);
    }

    [Fact]
    public void Compile_AppliesTheDocumentedDefaults()
    {
        var policy = LoadSingle(Minimal);

        Assert.Equal("minimal", policy.Name);
        Assert.Null(policy.Description);
        Assert.True(policy.Enabled);
        Assert.Equal(EngineKind.Aws, policy.Engine);
        Assert.Equal(ResourceKind.Volume, policy.Targets.Resource);
        Assert.Empty(policy.Targets.ExcludeTags);
        Assert.Empty(policy.Targets.ExcludeVolumeIds);
        Assert.False(policy.Targets.ExcludeBootVolume);
        Assert.Same(HookSet.None, policy.Hooks);
        Assert.Empty(policy.Tags);
        Assert.False(policy.CopyVolumeTags);
        Assert.Equal(1, policy.Safety.KeepLatest);
        Assert.Null(policy.Safety.MaxDeletesPerRun);
        Assert.Equal(new SourceLocation("test.yaml", 1, 1), policy.Source);

        var schedule = Assert.Single(policy.Schedules);
        Assert.Equal(new IntervalTrigger(PolicyDuration.Days(1), new TimeOnly(0, 0)), schedule.Trigger);
        Assert.Equal(7, schedule.Retain.Count);
        Assert.Null(schedule.Retain.Age);
        Assert.Null(schedule.Retain.Buckets);
        Assert.Null(schedule.Retain.Minimum);
        Assert.Empty(schedule.Copies);
        Assert.Null(schedule.Archive);
        Assert.Null(schedule.FastRestore);
    }

    [Fact]
    public void Compile_MapsEveryField_OfAFullPolicy()
    {
        var policy = LoadSingle("""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: full, description: "All the fields" }
            spec:
              enabled: false
              engine: local
              regions: [eu-west-1, eu-west-2]
              targets:
                resource: instance
                tags: { app: [web, "api-*"], env: prod }
                exclude:
                  tags: { skip: "yes" }
                  volumeIds: [vol-1, vol-2]
                  bootVolume: true
              schedules:
                - name: four-weekly
                  every: 4w
                  startAt: "01:30"
                  retain:
                    count: 6
                    age: 2d
                    buckets: { hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3, timezone: Europe/Berlin }
                    minimum: 2
                  copies:
                    - { region: us-east-1, encrypted: true, key: alias/dr, copyTags: false, retain: { age: 14d } }
                  archive:
                    after: { age: 30d }
                    retain: { age: 3y }
                  fastRestore: { zones: [eu-west-1a, eu-west-1b], age: 1d }
                  tags: { tier: hourly }
                - name: monthly
                  cron: "0 3 1 * *"
                  timezone: America/New_York
                  retain: { count: 12 }
                  archive:
                    retain: { age: 7y }
              hooks:
                pre:
                  - exec: [/usr/bin/freeze, --all]
                    timeout: 2m
                    retries: 2
                post:
                  - http: https://hooks.example.com/thaw
                onFailure: crash-consistent
              tags: { owner: team-a, volume: "$(volume-id)-$(timestamp)" }
              copyVolumeTags: true
              safety: { keepLatest: 3, maxDeletesPerRun: 25% }
            """);

        Assert.Equal("All the fields", policy.Description);
        Assert.False(policy.Enabled);
        Assert.Equal(EngineKind.Local, policy.Engine);
        Assert.Equal(["eu-west-1", "eu-west-2"], policy.Regions.ToArray());
        Assert.Equal(ResourceKind.Instance, policy.Targets.Resource);
        Assert.Equal(["app", "env"], policy.Targets.Tags.Keys);
        Assert.Equal(["web", "api-*"], policy.Targets.Tags["app"].ToArray());
        Assert.Equal(["prod"], policy.Targets.Tags["env"].ToArray());
        Assert.Equal(["yes"], policy.Targets.ExcludeTags["skip"].ToArray());
        Assert.Equal(["vol-1", "vol-2"], policy.Targets.ExcludeVolumeIds.ToArray());
        Assert.True(policy.Targets.ExcludeBootVolume);

        var hourly = policy.Schedules[0];
        Assert.Equal(new IntervalTrigger(new PolicyDuration(4, DurationUnit.Weeks), new TimeOnly(1, 30)), hourly.Trigger);
        Assert.Equal(new RetentionRule
        {
            Count = 6,
            Age = PolicyDuration.Days(2),
            Buckets = new RetentionBuckets { Hourly = 24, Daily = 7, Weekly = 4, Monthly = 12, Yearly = 3, TimeZone = "Europe/Berlin" },
            Minimum = 2,
        }, hourly.Retain);
        var copy = Assert.Single(hourly.Copies);
        Assert.Equal(new CopyRule { Region = "us-east-1", Encrypted = true, Key = "alias/dr", CopyTags = false, Retain = new RetentionRule { Age = PolicyDuration.Days(14) } }, copy);
        Assert.Equal(new ArchiveAfter(null, PolicyDuration.Days(30)), hourly.Archive!.After);
        Assert.Equal(new PolicyDuration(3, DurationUnit.Years), hourly.Archive.Retain.Age);
        Assert.Equal(["eu-west-1a", "eu-west-1b"], hourly.FastRestore!.Zones.ToArray());
        Assert.Null(hourly.FastRestore.Count);
        Assert.Equal(PolicyDuration.Days(1), hourly.FastRestore.Age);
        Assert.Equal("hourly", hourly.Tags["tier"]);

        var monthly = policy.Schedules[1];
        Assert.Equal(new CronTrigger("0 3 1 * *", "America/New_York"), monthly.Trigger);
        Assert.Null(monthly.Archive!.After);

        var pre = Assert.IsType<ExecHook>(Assert.Single(policy.Hooks.Pre));
        Assert.Equal(["/usr/bin/freeze", "--all"], pre.Argv.ToArray());
        Assert.Equal(TimeSpan.FromMinutes(2), pre.Timeout);
        Assert.Equal(2, pre.Retries);
        var post = Assert.IsType<HttpHook>(Assert.Single(policy.Hooks.Post));
        Assert.Equal(new Uri("https://hooks.example.com/thaw"), post.Url);
        Assert.Equal(TimeSpan.FromSeconds(30), post.Timeout);
        Assert.Equal(0, post.Retries);
        Assert.Equal(HookFailureMode.CrashConsistent, policy.Hooks.OnFailure);

        Assert.Equal("$(volume-id)-$(timestamp)", policy.Tags["volume"]);
        Assert.True(policy.CopyVolumeTags);
        Assert.Equal(new SafetyRules { KeepLatest = 3, MaxDeletesPerRun = new DeleteLimit(25, IsPercent: true) }, policy.Safety);
    }

    [Fact]
    public void Compile_HookEnvironment_FollowRedirects_AndSecretFile()
    {
        var policy = LoadSingle(Minimal + """
              hooks:
                pre:
                  - exec: [/usr/bin/freeze]
                    env: { PGHOST: /run/postgresql, PORT: 5432, _private: "a b" }
                post:
                  - http: https://hooks.example.com/thaw
                    followRedirects: true
                    secretFile: /etc/lifecycle/hook-secret
                  - http: https://hooks.example.com/plain

            """);

        var pre = Assert.IsType<ExecHook>(Assert.Single(policy.Hooks.Pre));
        Assert.Equal(
            [new("PGHOST", "/run/postgresql"), new("PORT", "5432"), new KeyValuePair<string, string>("_private", "a b")],
            pre.Environment.ToArray());
        var signed = Assert.IsType<HttpHook>(policy.Hooks.Post[0]);
        Assert.True(signed.FollowRedirects);
        Assert.Equal("/etc/lifecycle/hook-secret", signed.SecretFile);
        var plain = Assert.IsType<HttpHook>(policy.Hooks.Post[1]);
        Assert.False(plain.FollowRedirects);
        Assert.Null(plain.SecretFile);
    }

    [Fact]
    public void Compile_CronWithoutTimezone_IsUtc_AndCountDeleteLimitIsAbsolute()
    {
        var policy = LoadSingle(Minimal.Replace("every: 1d", "cron: \"0 2 * * *\"", StringComparison.Ordinal) + "  safety: { maxDeletesPerRun: 7 }\n");

        Assert.Equal(new CronTrigger("0 2 * * *", "UTC"), policy.Schedules[0].Trigger);
        Assert.Equal(new DeleteLimit(7, IsPercent: false), policy.Safety.MaxDeletesPerRun);
    }

    [Fact]
    public void Compile_YamlMergeKeys_MergeAnAnchoredMapping_AndExplicitKeysWin()
    {
        var policy = LoadSingle("""
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata: { name: merged }
            spec:
              regions: [eu-west-1]
              targets: { tags: { backup: "true" } }
              schedules:
                - name: daily
                  every: 1d
                  retain: &standard { count: 7, age: 30d, minimum: 2 }
                - name: weekly
                  every: 1w
                  retain:
                    <<: *standard
                    count: 4
                - name: monthly
                  cron: "0 0 1 * *"
                  retain: *standard
            """);

        Assert.Equal(new RetentionRule { Count = 7, Age = PolicyDuration.Days(30), Minimum = 2 }, policy.Schedules[0].Retain);
        Assert.Equal(new RetentionRule { Count = 4, Age = PolicyDuration.Days(30), Minimum = 2 }, policy.Schedules[1].Retain);
        Assert.Equal(policy.Schedules[0].Retain, policy.Schedules[2].Retain);
    }

    [Fact]
    public void Compile_ScheduleTags_StayOnTheSchedule_PolicyTagsOnThePolicy()
    {
        var policy = LoadSingle(Minimal.Replace("retain: { count: 7 }", "retain: { count: 7 }\n      tags: { tier: gold }", StringComparison.Ordinal) + "  tags: { owner: ops, tier: silver }\n");

        Assert.Equal(new Dictionary<string, string> { ["owner"] = "ops", ["tier"] = "silver" }, policy.Tags);
        Assert.Equal(new Dictionary<string, string> { ["tier"] = "gold" }, policy.Schedules[0].Tags);
    }

    [Fact]
    public void Load_MultiDocumentFile_YieldsEveryPolicyInOrder_AndLeavesOutOnlyTheInvalidOne()
    {
        var yaml = Minimal + "---\n" + Minimal.Replace("minimal", "second", StringComparison.Ordinal).Replace("count: 7", "count: 0", StringComparison.Ordinal)
            + "---\n" + Minimal.Replace("minimal", "third", StringComparison.Ordinal);

        var result = PolicyLoader.LoadText(yaml, "multi.yaml");

        Assert.Equal(["minimal", "third"], result.Policies.Policies.Select(p => p.Name));
        Assert.Equal(["multi.yaml:25:24: error: spec.schedules[0].retain.count: must be at least 1, got 0"], result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Load_EmptyDocumentsBetweenSeparators_AreIgnored()
    {
        var result = PolicyLoader.LoadText("---\n---\n" + Minimal + "---\n", "x.yaml");

        Assert.Empty(result.Diagnostics);
        Assert.Single(result.Policies.Policies);
    }

    [Fact]
    public void Load_Directory_ReadsYamlAndYmlRecursively_InOrdinalOrder_AndReportsDuplicateNamesAtTheSecond()
    {
        var root = Directory.CreateTempSubdirectory("lifecycle-load-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "sub"));
            File.WriteAllText(Path.Combine(root, "b.yaml"), Minimal.Replace("minimal", "bravo", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(root, "a.yml"), Minimal.Replace("minimal", "alpha", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(root, "sub", "c.yaml"), Minimal.Replace("minimal", "alpha", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(root, "Z.yaml"), Minimal.Replace("minimal", "zulu", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(root, "notes.txt"), "not a policy: [");

            var result = PolicyLoader.Load([root]);

            Assert.Equal(["zulu", "alpha", "bravo"], result.Policies.Policies.Select(p => p.Name));
            var duplicate = Assert.Single(result.Diagnostics);
            Assert.Equal(
                $"{Path.Combine(root, "sub", "c.yaml")}:4:9: error: metadata.name: policy name 'alpha' is already defined at {Path.Combine(root, "a.yml")}:4:9; policy names must be unique",
                duplicate.ToString());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Load_MissingPath_IsALocatedError()
    {
        var result = PolicyLoader.Load(["/no/such/dir"]);

        Assert.Equal(["/no/such/dir:1:1: error: (file): no such file or directory"], result.Diagnostics.Select(d => d.ToString()));
        Assert.Empty(result.Policies.Policies);
    }

    [Fact]
    public void Load_SortsDiagnosticsByFileLineAndColumn_AndIsDeterministic()
    {
        var yaml = Minimal.Replace("count: 7", "count: 0", StringComparison.Ordinal).Replace("every: 1d", "every: 5h", StringComparison.Ordinal) + "  bogus: 1\n";

        var first = PolicyLoader.LoadText(yaml, "x.yaml");
        var second = PolicyLoader.LoadText(yaml, "x.yaml");

        var lines = first.Diagnostics.Select(d => d.ToString()).ToArray();
        Assert.Equal(lines, second.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(
            [
                "x.yaml:11:14: error: spec.schedules[0].every: '5h' is not a supported interval; use 1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d to 366d or 1w to 52w (cron for anything else)",
                "x.yaml:12:24: error: spec.schedules[0].retain.count: must be at least 1, got 0",
                "x.yaml:13:3: error: spec.bogus: unknown key 'bogus' (allowed: enabled, engine, regions, targets, schedules, hooks, tags, copyVolumeTags, safety, adopt)",
            ],
            lines);
    }

    [Fact]
    public void Load_AcceptsAByteOrderMark_AndCrLfLineEnds()
    {
        var bytes = System.Text.Encoding.UTF8.GetPreamble().Concat(System.Text.Encoding.UTF8.GetBytes(Minimal.ReplaceLineEndings("\r\n"))).ToArray();

        var result = PolicyLoader.LoadBytes(bytes, "bom.yaml");

        Assert.Empty(result.Diagnostics);
        Assert.Equal("minimal", Assert.Single(result.Policies.Policies).Name);
    }

    [Fact]
    public void Load_QuotedStringTag_ForcesAString()
    {
        var policy = LoadSingle(Minimal + "  tags: { build: !!str 123, flag: !!str true }\n");

        Assert.Equal("123", policy.Tags["build"]);
        Assert.Equal("true", policy.Tags["flag"]);
    }

    [Fact]
    public void LoadTexts_LoadsAWholeSetInOrder_AndReportsADuplicateNameAtTheSecondFile()
    {
        var result = PolicyLoader.LoadTexts(
        [
            new("b.yaml", Minimal.Replace("minimal", "bravo", StringComparison.Ordinal)),
            new("a.yaml", Minimal.Replace("minimal", "alpha", StringComparison.Ordinal)),
            new("c.yaml", Minimal.Replace("minimal", "bravo", StringComparison.Ordinal)),
        ]);

        Assert.Equal(["bravo", "alpha"], result.Policies.Policies.Select(p => p.Name));
        Assert.Equal(["c.yaml:4:9: error: metadata.name: policy name 'bravo' is already defined at b.yaml:4:9; policy names must be unique"],
            result.Diagnostics.Select(d => d.ToString()));
    }
}
