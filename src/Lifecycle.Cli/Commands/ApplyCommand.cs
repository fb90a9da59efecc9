using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle apply --server URL --policies DIR [--revision SHA] [--author NAME] [--allow-destructive] [--dry-run]</c>:
/// sends the whole policy set to a running server in API mode (the GitOps path; a server in directory mode refuses it).
/// The server validates it, diffs it against the applied revision, refuses a destructive revision (it removes policies
/// that own snapshots, more than half of them or all, or deletes more than maxDeletesPerRun or the default cap) unless
/// --allow-destructive, then swaps it in atomically and reschedules. --dry-run only plans (POST /api/v1/policies:plan).
/// A directory without policy files is a usage error (as in `validate`), never an empty set.
/// Exit codes: 0 applied / unchanged / valid plan, 1 invalid, refused, conflict or server error, 2 usage.
/// </summary>
public static class ApplyCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "The server's URL", DefaultValueFactory = _ => ServerClient.DefaultServer };
        var policies = new Option<string>("--policies") { Description = "Directory (or file) of policy files: the whole set", Required = true };
        var revision = new Option<string?>("--revision") { Description = "The git commit the set comes from" };
        var author = new Option<string?>("--author") { Description = "Who applies it (recorded in the audit log)" };
        var allowDestructive = new Option<bool>("--allow-destructive") { Description = "Apply even if the revision is destructive (removes policies, or deletes more than maxDeletesPerRun or the default cap)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only show the diff and the plan; change nothing" };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        var tokenFile = ServerClient.TokenFileOption();
        var data = ServerClient.DataOption();
        var command = new Command("apply", "Apply a policy set to a running server: validate, diff, refuse destructive revisions, swap, reschedule")
        {
            server, policies, revision, author, allowDestructive, dryRun, output, tokenFile, data,
        };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            parseResult.GetValue(server)!, parseResult.GetValue(policies)!, parseResult.GetValue(revision), parseResult.GetValue(author),
            parseResult.GetValue(allowDestructive), parseResult.GetValue(dryRun), parseResult.GetValue(output) ?? "text",
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken,
            parseResult.GetValue(tokenFile), parseResult.GetValue(data)));
        return command;
    }

    /// <summary>Plans (dryRun) or applies; `lifecycle plan --server` can call this with dryRun set.</summary>
    public static async Task<int> RunAsync(
        string server, string policies, string? revision, string? author, bool allowDestructive, bool dryRun, string output,
        TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default, string? tokenFile = null, string? dataDirectory = null,
        ChangedPolicies? changed = null)
    {
        if (output is not ("text" or "json"))
        {
            await stderr.WriteLineAsync($"error: --output must be text or json, not '{output}'").ConfigureAwait(false);
            return 2;
        }

        if (!Directory.Exists(policies) && !File.Exists(policies))
        {
            await stderr.WriteLineAsync($"error: --policies {policies}: no such file or directory").ConfigureAwait(false);
            return 2;
        }

        var root = Directory.Exists(policies) ? Path.GetFullPath(policies) : Path.GetDirectoryName(Path.GetFullPath(policies))!;
        var files = PolicyLoader.ExpandPath(policies)
            .Select(f => new { path = Path.GetRelativePath(root, Path.GetFullPath(f)).Replace('\\', '/'), text = File.ReadAllText(f) })
            .ToList();
        if (files.Count == 0)
        {
            // As `validate` says: a directory without policy files is not a policy set (applied, it would remove everything).
            await stderr.WriteLineAsync($"error: {policies}: no *.yaml or *.yml files in this directory").ConfigureAwait(false);
            return 2;
        }

        using var client = new ServerClient(server, tokenFile, dataDirectory);
        int status;
        JsonElement body;
        try
        {
            (status, body) = await client.PostAsync(dryRun ? "api/v1/policies:plan" : "api/v1/policies:apply",
                new { files, revision, author = author ?? Environment.UserName, allowDestructive }, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"error: cannot reach the server at {server}: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        if (changed is not null && body.ValueKind == JsonValueKind.Object)
        {
            body = OnlyChanged(body, changed);
            if (output == "text")
            {
                await stdout.WriteLineAsync(changed.Files.IsEmpty
                    ? $"changed since {changed.Ref}: no policy files"
                    : $"changed since {changed.Ref}: {string.Join(", ", changed.Files)} (policies: {(changed.Names.IsEmpty ? "none" : string.Join(", ", changed.Names))})").ConfigureAwait(false);
            }
        }

        if (output == "json")
        {
            await stdout.WriteLineAsync(ServerClient.Indented(body)).ConfigureAwait(false);
        }
        else
        {
            await WriteTextAsync(status, body, stdout, stderr).ConfigureAwait(false);
        }

        return status is >= 200 and < 300 ? 0 : 1;
    }

    /// <summary>
    /// The server's answer cut to the changed policies (<c>plan --changed-since</c>): the diff's names and the plan's
    /// actions, decisions and notes of other policies are left out, and <c>changedSince</c> says what changed.
    /// </summary>
    internal static JsonElement OnlyChanged(JsonElement body, ChangedPolicies changed)
    {
        var root = JsonNode.Parse(body.GetRawText())!.AsObject();
        var result = root["result"] is JsonObject nested ? nested : root;
        if (result["diff"] is JsonObject diff)
        {
            foreach (var part in new[] { "added", "removed", "changed" })
            {
                if (diff[part] is JsonArray names)
                {
                    diff[part] = new JsonArray([.. names.Where(n => n is not null && changed.Names.Contains(n.GetValue<string>())).Select(n => n!.DeepClone())]);
                }
            }
        }

        if (result["plan"] is JsonObject plan)
        {
            foreach (var part in new[] { "actions", "decisions", "notes" })
            {
                if (plan[part] is JsonArray items)
                {
                    plan[part] = new JsonArray([.. items.Where(i => i?["policy"]?.GetValue<string>() is { } policy && changed.Names.Contains(policy)).Select(i => i!.DeepClone())]);
                }
            }
        }

        root["changedSince"] = new JsonObject
        {
            ["ref"] = changed.Ref,
            ["files"] = new JsonArray([.. changed.Files.Select(f => (JsonNode)JsonValue.Create(f))]),
            ["policies"] = new JsonArray([.. changed.Names.Select(n => (JsonNode)JsonValue.Create(n))]),
        };
        return JsonDocument.Parse(root.ToJsonString()).RootElement.Clone();
    }

    private static async Task WriteTextAsync(int status, JsonElement body, TextWriter stdout, TextWriter stderr)
    {
        var result = status is >= 200 and < 300 ? body : body.TryGetProperty("result", out var r) ? r : body;
        if (result.ValueKind != JsonValueKind.Object)
        {
            await stderr.WriteLineAsync($"error: HTTP {status}: {ServerClient.Indented(body)}").ConfigureAwait(false);
            return;
        }

        var state = result.TryGetProperty("status", out var s) ? s.GetString() : $"http {status}";
        await stdout.WriteLineAsync($"status: {state}" + (result.TryGetProperty("seq", out var seq) ? $" (revision {seq})" : "")).ConfigureAwait(false);
        if (result.TryGetProperty("diagnostics", out var diagnostics))
        {
            foreach (var d in diagnostics.EnumerateArray())
            {
                await stderr.WriteLineAsync(d.GetString()).ConfigureAwait(false);
            }
        }

        if (result.TryGetProperty("diff", out var diff))
        {
            foreach (var part in new[] { "added", "removed", "changed" })
            {
                foreach (var name in diff.GetProperty(part).EnumerateArray())
                {
                    await stdout.WriteLineAsync($"  {part,-8} {name.GetString()}").ConfigureAwait(false);
                }
            }
        }

        if (result.TryGetProperty("plan", out var plan) && plan.TryGetProperty("actions", out var actions))
        {
            var list = actions.EnumerateArray().ToList();
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"next runs: {list.Count} action(s)")).ConfigureAwait(false);
            foreach (var action in list)
            {
                var target = action.TryGetProperty("snapshotId", out var snap) ? snap.GetString()
                    : action.TryGetProperty("volumeIds", out var vols) ? string.Join(',', vols.EnumerateArray().Select(v => v.GetString())) : "";
                await stdout.WriteLineAsync($"  {action.GetProperty("policy").GetString(),-24} {action.GetProperty("kind").GetString(),-22} {action.GetProperty("region").GetString(),-14} {target}  {action.GetProperty("reason").GetString()}").ConfigureAwait(false);
            }
        }

        if (status is < 200 or >= 300)
        {
            var refusal = result.TryGetProperty("refusal", out var why) ? why.GetString() : body.TryGetProperty("detail", out var detail) ? detail.GetString() : null;
            await stderr.WriteLineAsync($"error: {refusal ?? "HTTP " + status}").ConfigureAwait(false);
        }
    }
}
