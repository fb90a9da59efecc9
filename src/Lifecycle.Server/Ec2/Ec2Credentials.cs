using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Lifecycle.Server.Security;

namespace Lifecycle.Server.Ec2;

/// <summary>
/// The key pairs the EC2-compatible endpoint accepts: a file in the AWS shared-credentials format (so the same file
/// serves the aws CLI as <c>AWS_SHARED_CREDENTIALS_FILE</c>); every profile's <c>aws_access_key_id</c> /
/// <c>aws_secret_access_key</c> pair is accepted. The file is read again when it changes (checked at most once a
/// second), so adding or revoking a key needs no restart; a broken rewrite keeps the pairs read last. Secrets are
/// never logged or put in an error message.
/// </summary>
public sealed class Ec2Credentials
{
    private static readonly TimeSpan ReloadCheckInterval = TimeSpan.FromSeconds(1);
    private readonly TimeProvider timeProvider;
    private readonly object gate = new();
    private ImmutableDictionary<string, string> secrets;
    private DateTime writtenAt;
    private long nextReloadCheck;

    private Ec2Credentials(string path, TimeProvider timeProvider, bool created)
    {
        Path = path;
        this.timeProvider = timeProvider;
        Created = created;
        secrets = Read(path);
        writtenAt = File.GetLastWriteTimeUtc(path);
    }

    /// <summary>The credentials file (never its content).</summary>
    public string Path { get; }

    /// <summary>True when <see cref="CreateDefault"/> wrote the file in this process.</summary>
    public bool Created { get; }

    /// <summary>Reads an existing credentials file; <see cref="InvalidDataException"/> names the file and line of a bad entry.</summary>
    public static Ec2Credentials Load(string path, TimeProvider? timeProvider = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"--ec2-credentials {path}: no such file", full);
        }

        return new Ec2Credentials(full, timeProvider ?? TimeProvider.System, created: false);
    }

    /// <summary>
    /// Reads <paramref name="path"/>, writing it first when it does not exist: a <c>[default]</c> profile with a
    /// random key pair, created atomically (create-new) with mode 0600. Another process that wrote it first wins.
    /// </summary>
    public static Ec2Credentials CreateDefault(string path, TimeProvider? timeProvider = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        var created = false;
        if (!File.Exists(full))
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            try
            {
                TokenStore.WriteSecretFile(full, $"[default]\naws_access_key_id = {NewAccessKeyId()}\naws_secret_access_key = {NewSecretKey()}\n");
                created = true;
            }
            catch (IOException) when (File.Exists(full))
            {
                // another node sharing the data directory wrote it first: use theirs
            }
        }

        return new Ec2Credentials(full, timeProvider ?? TimeProvider.System, created);
    }

    /// <summary>The secret of an access key id, or null when no profile has that key id.</summary>
    public string? SecretOf(string accessKeyId) => Current().GetValueOrDefault(accessKeyId);

    /// <summary>An access key id in AWS's shape: "AKIA" and 16 characters of A–Z, 2–7.</summary>
    public static string NewAccessKeyId()
    {
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = RandomNumberGenerator.GetBytes(16);
        return "AKIA" + new string(bytes.Select(b => Alphabet[b % 32]).ToArray());
    }

    /// <summary>A 40-character secret (240 random bits), like AWS's.</summary>
    public static string NewSecretKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(30));

    private ImmutableDictionary<string, string> Current()
    {
        var now = timeProvider.GetTimestamp();
        if (now < Volatile.Read(ref nextReloadCheck))
        {
            return secrets;
        }

        lock (gate)
        {
            nextReloadCheck = now + (long)(ReloadCheckInterval.TotalSeconds * timeProvider.TimestampFrequency);
            try
            {
                var written = File.GetLastWriteTimeUtc(Path);
                if (written != writtenAt)
                {
                    secrets = Read(Path);
                    writtenAt = written;
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                // a half-written or broken file keeps the pairs read last
            }

            return secrets;
        }
    }

    /// <summary>
    /// Parses the INI format the AWS tools write: <c>[profile]</c> sections of <c>key = value</c> lines, <c>#</c> and
    /// <c>;</c> comments. A profile needs both keys; other keys (session tokens, regions) are ignored.
    /// </summary>
    private static ImmutableDictionary<string, string> Read(string path)
    {
        var result = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        string? profile = null;
        string? keyId = null;
        string? secret = null;
        var profileLine = 0;
        var lineNumber = 0;

        void EndProfile()
        {
            if (profile is null)
            {
                return;
            }

            if ((keyId is null) != (secret is null))
            {
                throw new InvalidDataException($"{path}:{profileLine}: profile [{profile}] needs both aws_access_key_id and aws_secret_access_key");
            }

            if (keyId is not null && secret is not null)
            {
                result[keyId] = secret;
            }
        }

        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line[0] == '[')
            {
                EndProfile();
                if (!line.EndsWith(']') || line.Length < 3)
                {
                    throw new InvalidDataException($"{path}:{lineNumber}: expected '[profile]'");
                }

                profile = line[1..^1].Trim();
                profileLine = lineNumber;
                keyId = null;
                secret = null;
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || profile is null)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: expected 'key = value' inside a [profile]");
            }

            var name = line[..equals].Trim();
            var value = line[(equals + 1)..].Trim();
            if (name == "aws_access_key_id")
            {
                keyId = value.Length > 0 ? value : throw new InvalidDataException($"{path}:{lineNumber}: aws_access_key_id is empty");
            }
            else if (name == "aws_secret_access_key")
            {
                secret = value.Length > 0 ? value : throw new InvalidDataException($"{path}:{lineNumber}: aws_secret_access_key is empty");
            }
        }

        EndProfile();
        if (result.Count == 0)
        {
            throw new InvalidDataException($"{path}: no profile with aws_access_key_id and aws_secret_access_key");
        }

        return result.ToImmutable();
    }
}
