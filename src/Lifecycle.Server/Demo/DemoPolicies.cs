using System.Collections.Immutable;
using Lifecycle.Scheduling.Storage;

namespace Lifecycle.Server.Demo;

/// <summary>
/// The demo policy set of `serve --demo`: minute-level schedules over the demo volumes, so snapshots, copies, fast
/// restore, archive moves and deletions all show within a few minutes.
/// </summary>
public static class DemoPolicies
{
    public const string Region = "eu-west-1";
    public const string CopyRegion = "eu-central-1";
    public const string Zone = "eu-west-1a";

    public static ImmutableArray<PolicySource> Sources { get; } =
    [
        new("demo/demo-every-minute.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata:
              name: demo-every-minute
              description: "Demo: every demo volume each minute, newest 5 kept, copied to eu-central-1, fast restore on the newest"
            spec:
              engine: local
              regions: [eu-west-1]
              targets:
                tags: { demo: "true" }
              schedules:
                - name: every-minute
                  cron: "* * * * *"
                  retain: { count: 5 }
                  copies:
                    - region: eu-central-1
                      retain: { count: 2 }
                  fastRestore:
                    zones: [eu-west-1a]
                    count: 1
              hooks:
                pre:  [{ exec: [sync], timeout: 10s }]
                post: [{ exec: [sync], timeout: 10s }]
                onFailure: crash-consistent
              tags: { created-by: lifecycle-demo, volume: $(volume-id) }
            """),
        new("demo/demo-archive.yaml", """
            apiVersion: lifecycle/v1
            kind: SnapshotPolicy
            metadata:
              name: demo-archive
              description: "Demo: records volume every 2 minutes; all but the newest 2 move to the archive tier"
            spec:
              engine: local
              regions: [eu-west-1]
              targets:
                tags: { demo: "true", retention: long-term }
              schedules:
                - name: every-2-minutes
                  cron: "*/2 * * * *"
                  retain: { count: 2 }
                  archive:
                    after: { count: 2 }
                    retain: { age: 1y }
              tags: { created-by: lifecycle-demo }
            """),
    ];
}
