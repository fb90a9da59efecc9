using System.CommandLine;
using Lifecycle.Server;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle serve [--engine local|aws] [--aws-endpoint-url URL] [--policies DIR] [--data DIR] [--database URL] [--urls URL] [--demo]</c>:
/// runs the policies as Quartz jobs against the engine, with the REST API on 127.0.0.1:5080 by default.
/// Exit codes: 0 after a clean shutdown (SIGTERM / Ctrl+C), 1 when the server cannot start, 2 usage error.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var engine = new Option<string>("--engine")
        {
            Description = "local: the bundled engine runs in this process (served at /ec2); aws: every policy runs through the AWS provider (against AWS, or --aws-endpoint-url)",
            DefaultValueFactory = _ => "local",
        };
        var awsEndpoint = new Option<string?>("--aws-endpoint-url") { Description = "An EC2-compatible endpoint for the AWS provider, e.g. an engine host's http://HOST:5080/ec2 (default: AWS)" };
        var awsProfile = new Option<string?>("--aws-profile") { Description = "AWS profile for credentials and region settings (default: the SDK's chain: environment, profile, container, instance metadata)" };
        var awsRole = new Option<string?>("--aws-role-arn") { Description = "Assume this IAM role through STS (deploy/aws/iam-policy.json has the permissions it needs)" };
        var policies = new Option<string?>("--policies") { Description = "Directory mode: the directory of policy files is the truth, applied on start and on every change (API applies are refused)" };
        var allowDestructive = new Option<bool>("--allow-destructive") { Description = "Directory mode: apply a revision of the directory that removes policies or deletes more than the cap (an empty or missing directory is still never applied)" };
        var data = new Option<string>("--data") { Description = "Data directory: the SQLite store and the local engine", DefaultValueFactory = _ => "./.lifecycle" };
        var engineData = new Option<string?>("--engine-data") { Description = "The local engine's directory (default: DATA/engine)" };
        var database = new Option<string?>("--database") { Description = "postgres://user:pass@host:port/db for a cluster (default: SQLite in --data)" };
        var urls = new Option<string>("--urls") { Description = "Where the API listens", DefaultValueFactory = _ => ServerOptions.DefaultUrl };
        var demo = new Option<bool>("--demo") { Description = "Seed demo volumes, a background writer and minute-level demo policies" };
        var node = new Option<string?>("--node") { Description = "Node name recorded on runs and actions (default: host-pid)" };
        var concurrency = new Option<int>("--max-concurrency") { Description = "Hangfire workers of this node for creates (other actions get a quarter of it, at least 4)", DefaultValueFactory = _ => Lifecycle.Scheduling.Configuration.SchedulingOptions.DefaultMaxConcurrency };
        var adminTokenFile = new Option<string?>("--admin-token-file") { Description = "File holding the admin token (default: DATA/admin-token, written with mode 0600 at first start)" };
        var tokens = new Option<string?>("--tokens") { Description = "File of named, scoped tokens as hashes, one 'NAME SCOPE sha256:HEX' a line (lifecycle token create)" };
        var allowedHosts = new Option<string[]>("--allowed-hosts") { Description = "Host names accepted besides those of --urls (DNS rebinding protection); '*' accepts any", AllowMultipleArgumentsPerToken = true };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate for HTTPS (use https:// in --urls)" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert" };
        var regions = new Option<string[]>("--regions") { Description = "Regions served besides those the applied policies name (a read never creates a region)", AllowMultipleArgumentsPerToken = true };
        var ec2Credentials = new Option<string?>("--ec2-credentials") { Description = "With --engine local: the key pairs of the EC2-compatible endpoint /ec2, an AWS shared-credentials file (default: DATA/ec2-credentials, written with a random pair and mode 0600 at first start)" };
        var trustedProxies = new Option<string[]>("--trusted-proxy") { Description = "IP address of a reverse proxy whose X-Forwarded-For/X-Forwarded-Proto headers are believed (repeatable; default: none, forwarded headers are ignored)", AllowMultipleArgumentsPerToken = true };
        var metricsAnonymous = new Option<bool>("--metrics-anonymous") { Description = "Serve /metrics (Prometheus text format) without a token, for a scraper on a private network (default: it needs a read token)" };
        var command = new Command("serve", "Run the policies as scheduled jobs, with the REST API (127.0.0.1:5080 by default; every route but /healthz and /ec2 needs a bearer token (/metrics too, unless --metrics-anonymous); /ec2 is the EC2 Query API over the local engine, signed with SigV4)")
        {
            engine, awsEndpoint, awsProfile, awsRole, policies, allowDestructive, data, engineData, database, urls, demo, node, concurrency,
            adminTokenFile, tokens, allowedHosts, tlsCert, tlsKey, regions, ec2Credentials, trustedProxies, metricsAnonymous,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var options = new ServerOptions
            {
                Engine = parseResult.GetValue(engine) ?? "local",
                AwsEndpointUrl = parseResult.GetValue(awsEndpoint),
                AwsProfile = parseResult.GetValue(awsProfile),
                AwsRoleArn = parseResult.GetValue(awsRole),
                PoliciesDirectory = parseResult.GetValue(policies),
                AllowDestructive = parseResult.GetValue(allowDestructive),
                DataDirectory = parseResult.GetValue(data) ?? "./.lifecycle",
                EngineDirectory = parseResult.GetValue(engineData),
                DatabaseUrl = parseResult.GetValue(database),
                Urls = parseResult.GetValue(urls) ?? ServerOptions.DefaultUrl,
                Demo = parseResult.GetValue(demo),
                NodeName = parseResult.GetValue(node),
                MaxConcurrency = parseResult.GetValue(concurrency),
                AdminTokenFile = parseResult.GetValue(adminTokenFile),
                TokensFile = parseResult.GetValue(tokens),
                AllowedHosts = SplitList(parseResult.GetValue(allowedHosts)),
                TlsCertificateFile = parseResult.GetValue(tlsCert),
                TlsKeyFile = parseResult.GetValue(tlsKey),
                Regions = SplitList(parseResult.GetValue(regions)),
                Ec2CredentialsFile = parseResult.GetValue(ec2Credentials),
                TrustedProxies = SplitList(parseResult.GetValue(trustedProxies)),
                MetricsAnonymous = parseResult.GetValue(metricsAnonymous),
            };
            if (options.Engine is not ("local" or "aws"))
            {
                await error.WriteLineAsync($"error: --engine must be local or aws, not '{options.Engine}'").ConfigureAwait(false);
                return 2;
            }

            if (options.PoliciesDirectory is not null && !Directory.Exists(options.PoliciesDirectory) && !File.Exists(options.PoliciesDirectory))
            {
                await error.WriteLineAsync($"error: --policies {options.PoliciesDirectory}: no such file or directory").ConfigureAwait(false);
                return 2;
            }

            if (options.MaxConcurrency is < 1 or > 256)
            {
                await error.WriteLineAsync("error: --max-concurrency must be between 1 and 256").ConfigureAwait(false);
                return 2;
            }

            try
            {
                return await LifecycleServer.RunAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NotSupportedException or ArgumentException or IOException or InvalidDataException
                or System.Security.Cryptography.CryptographicException or Lifecycle.Core.Providers.ProviderException)
            {
                await error.WriteLineAsync($"error: cannot start the server: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    /// <summary>"a,b" and repeated options alike.</summary>
    private static string[] SplitList(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}
