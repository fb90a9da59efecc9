using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace Lifecycle.Server.Security;

/// <summary>A caller that presented a known bearer token.</summary>
public sealed record TokenIdentity(string Name, AccessScope Scope);

/// <summary>
/// The bearer tokens a server accepts: the admin token (a file, created at first start with mode 0600) and the named,
/// scoped tokens of the tokens file, which holds only their SHA-256 hashes. Tokens are compared by hash in constant
/// time and never logged. The tokens file is read again when it changes, so adding or revoking a token needs no restart.
/// </summary>
public sealed class TokenStore
{
    /// <summary>Prefix of generated tokens, so a leaked one is recognisable (secret scanners, logs).</summary>
    public const string TokenPrefix = "lct_";

    /// <summary>The name the admin token acts under in the audit log.</summary>
    public const string AdminTokenName = "admin";

    private static readonly TimeSpan ReloadCheckInterval = TimeSpan.FromSeconds(1);
    private readonly byte[] adminHash;
    private readonly string? tokensFile;
    private readonly TimeProvider timeProvider;
    private readonly object gate = new();
    private ImmutableArray<TokenEntry> entries;
    private DateTime tokensFileWrittenAt;
    private long nextReloadCheck;

    private TokenStore(byte[] adminHash, string? tokensFile, TimeProvider timeProvider)
    {
        this.adminHash = adminHash;
        this.tokensFile = tokensFile;
        this.timeProvider = timeProvider;
        entries = tokensFile is null ? [] : ReadTokensFile(tokensFile);
        tokensFileWrittenAt = tokensFile is null ? default : File.GetLastWriteTimeUtc(tokensFile);
    }

    /// <summary>Where the admin token was read from (never the token itself).</summary>
    public required string AdminTokenPath { get; init; }

    /// <summary>True when this start wrote a new admin token.</summary>
    public bool CreatedAdminToken { get; private init; }

    /// <summary>
    /// Opens the store: the admin token from <paramref name="adminTokenFile"/> (which must exist) or from
    /// <c>DATA/admin-token</c> (created when missing), and the tokens file if given. Throws
    /// <see cref="InvalidDataException"/> with the file and line of a malformed entry.
    /// </summary>
    public static TokenStore Open(string dataDirectory, string? adminTokenFile, string? tokensFile, TimeProvider timeProvider)
    {
        var created = false;
        string path;
        if (adminTokenFile is not null)
        {
            path = Path.GetFullPath(adminTokenFile);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"--admin-token-file {adminTokenFile}: no such file", path);
            }
        }
        else
        {
            path = Path.GetFullPath(Path.Combine(dataDirectory, "admin-token"));
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                try
                {
                    WriteSecretFile(path, NewToken() + "\n");
                    created = true;
                }
                catch (IOException) when (File.Exists(path))
                {
                    // Another node sharing this data directory wrote it first: use theirs.
                }
            }
        }

        var admin = File.ReadAllText(path).Trim();
        if (admin.Length < 16)
        {
            throw new InvalidDataException($"{path}: the admin token must be at least 16 characters");
        }

        if (tokensFile is not null && !File.Exists(tokensFile))
        {
            throw new FileNotFoundException($"--tokens {tokensFile}: no such file", tokensFile);
        }

        return new TokenStore(Hash(admin), tokensFile is null ? null : Path.GetFullPath(tokensFile), timeProvider)
        {
            AdminTokenPath = path,
            CreatedAdminToken = created,
        };
    }

    /// <summary>The caller a presented token belongs to, or null. Every known hash is compared, in constant time.</summary>
    public TokenIdentity? Authenticate(string presented)
    {
        var hash = Hash(presented);
        TokenIdentity? found = CryptographicOperations.FixedTimeEquals(hash, adminHash) ? new TokenIdentity(AdminTokenName, AccessScope.Admin) : null;
        foreach (var entry in Current())
        {
            if (CryptographicOperations.FixedTimeEquals(hash, entry.Hash) && found is null)
            {
                found = new TokenIdentity(entry.Name, entry.Scope);
            }
        }

        return found;
    }

    /// <summary>A new random token: 256 bits, URL-safe.</summary>
    public static string NewToken() =>
        TokenPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The line of the tokens file for a token: <c>NAME SCOPE sha256:HEX</c>.</summary>
    public static string TokensFileLine(string name, AccessScope scope, string token) =>
        $"{name} {scope.Name()} sha256:{Convert.ToHexStringLower(Hash(token))}";

    /// <summary>Writes a file only its owner can read (mode 0600 from its creation, never readable in between).</summary>
    public static void WriteSecretFile(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(Encoding.UTF8.GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    private ImmutableArray<TokenEntry> Current()
    {
        if (tokensFile is null)
        {
            return entries;
        }

        var now = timeProvider.GetTimestamp();
        if (now < Volatile.Read(ref nextReloadCheck))
        {
            return entries;
        }

        lock (gate)
        {
            nextReloadCheck = now + (long)(ReloadCheckInterval.TotalSeconds * timeProvider.TimestampFrequency);
            try
            {
                var written = File.GetLastWriteTimeUtc(tokensFile);
                if (written != tokensFileWrittenAt)
                {
                    entries = ReadTokensFile(tokensFile);
                    tokensFileWrittenAt = written;
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                // A half-written or broken file keeps the tokens read last; the start-up check reported the format.
            }

            return entries;
        }
    }

    private static ImmutableArray<TokenEntry> ReadTokensFile(string path)
    {
        var result = ImmutableArray.CreateBuilder<TokenEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal) { AdminTokenName };
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: expected 'NAME SCOPE sha256:HEX', found {parts.Length} field(s)");
            }

            if (!names.Add(parts[0]))
            {
                throw new InvalidDataException($"{path}:{lineNumber}: the token name '{parts[0]}' is used twice (or is the reserved name 'admin')");
            }

            if (!AccessScopes.TryParse(parts[1], out var scope))
            {
                throw new InvalidDataException($"{path}:{lineNumber}: scope '{parts[1]}' is not one of read, operate, admin");
            }

            const string HashPrefix = "sha256:";
            byte[] hash;
            try
            {
                hash = parts[2].StartsWith(HashPrefix, StringComparison.Ordinal) && parts[2].Length == HashPrefix.Length + 64
                    ? Convert.FromHexString(parts[2].AsSpan(HashPrefix.Length))
                    : throw new FormatException();
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: the hash must be 'sha256:' and 64 hex digits (lifecycle token create writes it)");
            }

            result.Add(new TokenEntry(parts[0], scope, hash));
        }

        return result.ToImmutable();
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private sealed record TokenEntry(string Name, AccessScope Scope, byte[] Hash);
}
