using Lifecycle.Server.Security;
using Microsoft.Extensions.Time.Testing;

namespace Lifecycle.Server.Tests;

public sealed class TokenStoreTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-tokens-" + Guid.NewGuid().ToString("N")[..8]);

    public TokenStoreTests() => Directory.CreateDirectory(root);

    [Fact]
    public void FirstStart_WritesARandomAdminTokenOnlyItsOwnerCanRead_AndTheNextStartKeepsIt()
    {
        var first = TokenStore.Open(root, adminTokenFile: null, tokensFile: null, TimeProvider.System);
        var path = Path.Combine(root, "admin-token");
        Assert.True(first.CreatedAdminToken);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the server's file modes are POSIX");
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var token = File.ReadAllText(path).Trim();
        Assert.StartsWith(TokenStore.TokenPrefix, token, StringComparison.Ordinal);
        Assert.True(token.Length >= 40);

        var second = TokenStore.Open(root, null, null, TimeProvider.System);
        Assert.False(second.CreatedAdminToken);
        Assert.Equal(new TokenIdentity("admin", AccessScope.Admin), second.Authenticate(token));
        Assert.Null(second.Authenticate(token + "x"));
        Assert.Null(second.Authenticate(""));
        Assert.NotEqual(token, TokenStore.NewToken());
    }

    [Fact]
    public void NamedTokens_AreKeptAsHashes_WithTheirScope_AndARevokedOneStopsWorkingWithoutARestart()
    {
        var clock = new FakeTimeProvider();
        var ci = TokenStore.NewToken();
        var viewer = TokenStore.NewToken();
        var file = Path.Combine(root, "tokens");
        File.WriteAllText(file, "# comment\n\n" + TokenStore.TokensFileLine("ci", AccessScope.Operate, ci) + "\n" + TokenStore.TokensFileLine("viewer", AccessScope.Read, viewer) + "\n");
        Assert.DoesNotContain(ci, File.ReadAllText(file), StringComparison.Ordinal);
        var store = TokenStore.Open(root, null, file, clock);
        Assert.Equal(new TokenIdentity("ci", AccessScope.Operate), store.Authenticate(ci));
        Assert.Equal(new TokenIdentity("viewer", AccessScope.Read), store.Authenticate(viewer));

        File.WriteAllText(file, TokenStore.TokensFileLine("viewer", AccessScope.Read, viewer) + "\n");
        File.SetLastWriteTimeUtc(file, File.GetLastWriteTimeUtc(file).AddSeconds(5));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(store.Authenticate(ci));
        Assert.Equal(new TokenIdentity("viewer", AccessScope.Read), store.Authenticate(viewer));
    }

    [Theory]
    [InlineData("ci operate", ":1: expected 'NAME SCOPE sha256:HEX'")]
    [InlineData("ci superuser sha256:0000000000000000000000000000000000000000000000000000000000000000", ":1: scope 'superuser' is not one of read, operate, admin")]
    [InlineData("ci read md5:abc", ":1: the hash must be 'sha256:' and 64 hex digits")]
    [InlineData("# ok\nadmin read sha256:0000000000000000000000000000000000000000000000000000000000000000", ":2: the token name 'admin' is used twice")]
    public void AMalformedTokensFile_IsRefusedAtStart_WithItsLine(string text, string expected)
    {
        var file = Path.Combine(root, "tokens");
        File.WriteAllText(file, text);
        var error = Assert.Throws<InvalidDataException>(() => TokenStore.Open(root, null, file, TimeProvider.System));
        Assert.Contains(file + expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGivenAdminTokenFile_MustExist_AndBeLongEnough()
    {
        Assert.Throws<FileNotFoundException>(() => TokenStore.Open(root, Path.Combine(root, "missing"), null, TimeProvider.System));
        var shortToken = Path.Combine(root, "short");
        File.WriteAllText(shortToken, "abc\n");
        Assert.Contains("at least 16", Assert.Throws<InvalidDataException>(() => TokenStore.Open(root, shortToken, null, TimeProvider.System)).Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(root, "admin-token")));
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://localhost:5080", true)]
    [InlineData("http://[::1]:5080", true)]
    [InlineData("http://127.0.0.1:5080;http://0.0.0.0:5081", false)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://*:5080", false)]
    [InlineData("https://backup.example.com:5443", false)]
    public void OnlyALoopbackBind_NeedsNoTls(string urls, bool loopback) => Assert.Equal(loopback, RequestGuards.IsLoopbackOnly(urls));

    [Fact]
    public void AllowedHosts_AreTheBindsNames_LoopbackNamesForLoopback_AndTheExtraOnes()
    {
        var loopback = RequestGuards.AllowedHosts("http://127.0.0.1:5080", []);
        Assert.Equal(["127.0.0.1", "::1", "localhost"], loopback.Order(StringComparer.Ordinal));
        var named = RequestGuards.AllowedHosts("https://backup.example.com:5443", ["lifecycle.internal"]);
        Assert.Equal(["backup.example.com", "lifecycle.internal"], named.Order(StringComparer.Ordinal));
        var wildcard = RequestGuards.AllowedHosts("http://0.0.0.0:5080", []);
        Assert.Contains("localhost", wildcard);
        Assert.Contains(System.Net.Dns.GetHostName(), wildcard);
        Assert.DoesNotContain("attacker.example", wildcard);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
