using System.CommandLine;
using Lifecycle.Cli.Commands;
using Lifecycle.Server.Security;

namespace Lifecycle.Cli.Tests.Commands;

/// <summary>`lifecycle token create`, and where the commands that talk to a server find their token.</summary>
public sealed class TokenCommandTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-cli-tokens-" + Guid.NewGuid().ToString("N")[..8]);

    public TokenCommandTests() => Directory.CreateDirectory(root);

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var root = new RootCommand { TokenCommand.Create() };
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Create_PrintsTheTokenOnce_AndTheFileHoldsOnlyItsHash_WhichTheServerAccepts()
    {
        var file = Path.Combine(root, "tokens");
        var (code, output, error) = await RunAsync("token", "create", "--name", "ci-plan", "--scope", "read", "--tokens", file);
        Assert.True(code == 0, error);
        var token = output.Trim();
        Assert.StartsWith(TokenStore.TokenPrefix, token, StringComparison.Ordinal);
        Assert.DoesNotContain(token, await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? 0 : File.GetUnixFileMode(file));

        var second = await RunAsync("token", "create", "--name", "ops", "--scope", "operate", "--tokens", file);
        Assert.Equal(0, second.Code);
        var store = TokenStore.Open(root, null, file, TimeProvider.System);
        Assert.Equal(new TokenIdentity("ci-plan", AccessScope.Read), store.Authenticate(token));
        Assert.Equal(new TokenIdentity("ops", AccessScope.Operate), store.Authenticate(second.Out.Trim()));

        var again = await RunAsync("token", "create", "--name", "ops", "--scope", "admin", "--tokens", file);
        Assert.Equal(1, again.Code);
        Assert.Contains("already has a token named 'ops'", again.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("admin", "read", "--name 'admin'")]
    [InlineData("has space", "read", "--name 'has space'")]
    [InlineData("ci", "root", "--scope 'root' is not one of read, operate, admin")]
    public async Task Create_RefusesABadNameOrScope_WithExitCode2(string name, string scope, string message)
    {
        var (code, _, error) = await RunAsync("token", "create", "--name", name, "--scope", scope, "--tokens", Path.Combine(root, "tokens"));
        Assert.Equal(2, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(root, "tokens")));
    }

    [Fact]
    public void TheToken_ComesFromTheFile_ThenTheEnvironment_ThenOnlyForALocalServerItsAdminToken()
    {
        File.WriteAllText(Path.Combine(root, "admin-token"), "lct_local-admin-token\n");
        File.WriteAllText(Path.Combine(root, "given"), "lct_given\n");
        var saved = Environment.GetEnvironmentVariable(ServerClient.TokenVariable);
        try
        {
            Environment.SetEnvironmentVariable(ServerClient.TokenVariable, null);
            Assert.Equal("lct_given", ServerClient.ResolveToken(new Uri("http://127.0.0.1:5080"), Path.Combine(root, "given"), root));
            Assert.Equal("lct_local-admin-token", ServerClient.ResolveToken(new Uri("http://127.0.0.1:5080"), null, root));
            Assert.Equal("lct_local-admin-token", ServerClient.ResolveToken(new Uri("http://localhost:5080"), null, root));
            Assert.Equal("lct_local-admin-token", ServerClient.ResolveToken(new Uri("http://[::1]:5080"), null, root));
            Assert.Null(ServerClient.ResolveToken(new Uri("https://lifecycle.example.com"), null, root));
            Environment.SetEnvironmentVariable(ServerClient.TokenVariable, "lct_from-env");
            Assert.Equal("lct_from-env", ServerClient.ResolveToken(new Uri("https://lifecycle.example.com"), null, root));
            Assert.Equal("lct_given", ServerClient.ResolveToken(new Uri("https://lifecycle.example.com"), Path.Combine(root, "given"), root));
        }
        finally
        {
            Environment.SetEnvironmentVariable(ServerClient.TokenVariable, saved);
        }
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
