namespace Lifecycle.Server;

/// <summary>Options of `lifecycle serve`.</summary>
public sealed record ServerOptions
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>
    /// local: the bundled block engine runs in this process (and is served at /ec2); policies with <c>engine: aws</c>
    /// run on AWS. aws: no engine in this process; every policy runs through the AWS provider, against AWS or, with
    /// <see cref="AwsEndpointUrl"/>, an EC2-compatible endpoint (an engine host's /ec2, for <c>engine: local</c> too).
    /// </summary>
    public string Engine { get; init; } = "local";

    /// <summary>An EC2-compatible endpoint for the AWS provider (e.g. http://enginehost:5080/ec2); null is AWS itself.</summary>
    public string? AwsEndpointUrl { get; init; }

    /// <summary>A profile of the AWS shared config and credentials files; null uses the SDK's default chain.</summary>
    public string? AwsProfile { get; init; }

    /// <summary>A role to assume through STS, with the chain's (or the profile's) credentials as the source.</summary>
    public string? AwsRoleArn { get; init; }

    /// <summary>
    /// Directory mode: a directory of policy files, the one source of truth, applied on start and on every change
    /// (through the apply path); API applies are refused. Null: API mode, the last applied revision runs.
    /// </summary>
    public string? PoliciesDirectory { get; init; }

    /// <summary>Directory mode: apply destructive revisions of the directory (never an empty or missing one).</summary>
    public bool AllowDestructive { get; init; }

    /// <summary>The data directory: the SQLite store and, by default, the local engine's data.</summary>
    public string DataDirectory { get; init; } = "./.lifecycle";

    /// <summary>The local engine's directory; defaults to DATA/engine. Nodes of one cluster share it.</summary>
    public string? EngineDirectory { get; init; }

    /// <summary>postgres://user:pass@host:port/db for a cluster; null for the embedded SQLite store.</summary>
    public string? DatabaseUrl { get; init; }

    public string Urls { get; init; } = DefaultUrl;

    /// <summary>Seed tagged demo volumes, a background writer and minute-level demo policies.</summary>
    public bool Demo { get; init; }

    public string? NodeName { get; init; }

    /// <summary>Jobs this node runs at once.</summary>
    public int MaxConcurrency { get; init; } = Lifecycle.Scheduling.Configuration.SchedulingOptions.DefaultMaxConcurrency;

    /// <summary>
    /// Once started, walk the read side of every policy's next fire, writing nothing (see
    /// <see cref="Lifecycle.Scheduling.Execution.FireRehearsal"/>): the first fire after a start then runs on a warm path.
    /// </summary>
    public bool RehearseOnStart { get; init; } = true;

    /// <summary>The admin token's file; default DATA/admin-token, written (mode 0600) at first start.</summary>
    public string? AdminTokenFile { get; init; }

    /// <summary>Named, scoped tokens as hashes (<c>NAME SCOPE sha256:HEX</c> per line; `lifecycle token create` writes one).</summary>
    public string? TokensFile { get; init; }

    /// <summary>Host names accepted besides those of <see cref="Urls"/> (DNS rebinding protection); "*" accepts any.</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>PEM certificate and key for HTTPS (with https:// in <see cref="Urls"/>).</summary>
    public string? TlsCertificateFile { get; init; }

    public string? TlsKeyFile { get; init; }

    /// <summary>Regions this server serves besides those its applied policies name; a read never creates a region.</summary>
    public IReadOnlyList<string> Regions { get; init; } = [];

    /// <summary>
    /// The key pairs of the EC2-compatible endpoint (/ec2, <c>--engine local</c>): an AWS shared-credentials file.
    /// Null: DATA/ec2-credentials, written (random pair, mode 0600) at first start.
    /// </summary>
    public string? Ec2CredentialsFile { get; init; }

    /// <summary>
    /// Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto headers are believed (their addresses as the server
    /// sees them). None by default: a forwarded header from anyone else changes nothing.
    /// </summary>
    public IReadOnlyList<string> TrustedProxies { get; init; } = [];

    /// <summary>
    /// /metrics without a token (a scraper on a private network); otherwise it needs a <c>read</c> token like the API.
    /// </summary>
    public bool MetricsAnonymous { get; init; }

    public string EngineDirectoryOrDefault => EngineDirectory ?? Path.Combine(DataDirectory, "engine");
}
