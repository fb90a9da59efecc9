using System.CommandLine;
using Lifecycle.Server.Security;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle token create --name NAME --scope read|operate|admin --tokens FILE</c>: makes a new random API token,
/// appends its hash line to the server's tokens file (created with mode 0600) and prints the token once; the server
/// stores only the hash. Exit codes: 0 created, 1 the file cannot be written, 2 usage error.
/// </summary>
public static class TokenCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Who the token is for; named in the audit log (letters, digits, . _ -)", Required = true };
        var scope = new Option<string>("--scope") { Description = "read, operate (trigger, pause, resume, retry) or admin", Required = true };
        var tokens = new Option<string>("--tokens") { Description = "The tokens file the server reads (serve --tokens)", Required = true };
        var create = new Command("create", "Create a token: print it once, append its hash to the tokens file") { name, scope, tokens };
        create.SetAction(async (parseResult, cancellationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var tokenName = parseResult.GetValue(name)!;
            if (tokenName.Length is 0 or > 64 || !tokenName.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') || tokenName == TokenStore.AdminTokenName)
            {
                await error.WriteLineAsync($"error: --name '{tokenName}': 1-64 letters, digits, '.', '_' or '-', and not 'admin'").ConfigureAwait(false);
                return 2;
            }

            if (!AccessScopes.TryParse(parseResult.GetValue(scope), out var accessScope))
            {
                await error.WriteLineAsync($"error: --scope '{parseResult.GetValue(scope)}' is not one of read, operate, admin").ConfigureAwait(false);
                return 2;
            }

            var path = parseResult.GetValue(tokens)!;
            try
            {
                if (File.Exists(path) && File.ReadLines(path).Any(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() == tokenName))
                {
                    await error.WriteLineAsync($"error: {path} already has a token named '{tokenName}'; remove its line to revoke it first").ConfigureAwait(false);
                    return 1;
                }

                var token = TokenStore.NewToken();
                var line = TokenStore.TokensFileLine(tokenName, accessScope, token) + "\n";
                if (File.Exists(path))
                {
                    await File.AppendAllTextAsync(path, line, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    TokenStore.WriteSecretFile(path, "# lifecycle API tokens: NAME SCOPE sha256:HEX (delete a line to revoke)\n" + line);
                }

                await parseResult.InvocationConfiguration.Output.WriteLineAsync(token).ConfigureAwait(false);
                await error.WriteLineAsync($"token '{tokenName}' ({accessScope.Name()}) added to {path}; this is the only time it is shown").ConfigureAwait(false);
                return 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: {path}: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return new Command("token", "API tokens for the server") { create };
    }
}
