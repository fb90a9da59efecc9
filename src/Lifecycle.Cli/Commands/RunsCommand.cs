using System.CommandLine;
using System.Text.Json;

namespace Lifecycle.Cli.Commands;

/// <summary>
/// <c>lifecycle runs list [--policy P] [--state S] [--limit N]</c> and <c>lifecycle runs show RUN_ID</c>: the runs a
/// server recorded (one per schedule fire, follow-up, reconcile or manual trigger) with their actions.
/// Exit codes: 0 ok, 1 not found or server error, 2 usage.
/// </summary>
public static class RunsCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "The server's URL", DefaultValueFactory = _ => ServerClient.DefaultServer, Recursive = true };
        var output = new Option<string>("--output", "-o") { Description = "text (default) or json", DefaultValueFactory = _ => "text", Recursive = true };
        var tokenFile = ServerClient.TokenFileOption();
        var data = ServerClient.DataOption();
        var policy = new Option<string?>("--policy") { Description = "Only runs of this policy" };
        var state = new Option<string?>("--state") { Description = "running | succeeded | failed" };
        var limit = new Option<int>("--limit") { Description = "At most this many runs (newest first)", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List runs, newest first") { policy, state, limit };
        list.SetAction(async (parseResult, cancellationToken) =>
        {
            var query = $"api/v1/runs?limit={parseResult.GetValue(limit)}"
                + (parseResult.GetValue(policy) is { } p ? "&policy=" + Uri.EscapeDataString(p) : "")
                + (parseResult.GetValue(state) is { } s ? "&state=" + Uri.EscapeDataString(s) : "");
            return await FetchAsync(new ServerClient(parseResult.GetValue(server)!, parseResult.GetValue(tokenFile), parseResult.GetValue(data)), query, parseResult.GetValue(output)!, WriteRuns,
                parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
        });
        var runId = new Argument<string>("run-id") { Description = "The run's id (from runs list)" };
        var show = new Command("show", "Show one run with its actions") { runId };
        show.SetAction(async (parseResult, cancellationToken) =>
            await FetchAsync(new ServerClient(parseResult.GetValue(server)!, parseResult.GetValue(tokenFile), parseResult.GetValue(data)), "api/v1/runs/" + Uri.EscapeDataString(parseResult.GetValue(runId)!), parseResult.GetValue(output)!, WriteRun,
                parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false));
        var command = new Command("runs", "Runs and actions recorded by a server") { list, show };
        command.Options.Add(server);
        command.Options.Add(output);
        command.Options.Add(tokenFile);
        command.Options.Add(data);
        return command;
    }

    private static async Task<int> FetchAsync(
        ServerClient owned, string path, string output, Action<JsonElement, TextWriter> writeText, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (output is not ("text" or "json"))
        {
            await stderr.WriteLineAsync($"error: --output must be text or json, not '{output}'").ConfigureAwait(false);
            return 2;
        }

        using var client = owned;
        try
        {
            var (status, body) = await client.GetAsync(path, cancellationToken).ConfigureAwait(false);
            if (status is < 200 or >= 300)
            {
                await stderr.WriteLineAsync($"error: HTTP {status}: {(body.ValueKind == JsonValueKind.Object && body.TryGetProperty("detail", out var d) ? d.GetString() : "")}").ConfigureAwait(false);
                return 1;
            }

            if (output == "json")
            {
                await stdout.WriteLineAsync(ServerClient.Indented(body)).ConfigureAwait(false);
            }
            else
            {
                writeText(body, stdout);
            }

            return 0;
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"error: cannot reach the server at {client.Server}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static void WriteRuns(JsonElement runs, TextWriter stdout)
    {
        stdout.WriteLine($"{"RUN",-34} {"POLICY",-24} {"KIND",-10} {"STATE",-10} {"STARTED",-26} ACTIONS  MESSAGE");
        foreach (var run in runs.EnumerateArray())
        {
            stdout.WriteLine($"{run.GetProperty("id").GetString(),-34} {run.GetProperty("policy").GetString(),-24} {run.GetProperty("kind").GetString(),-10} {run.GetProperty("state").GetString(),-10} {run.GetProperty("startedAt").GetString(),-26} {run.GetProperty("actionsPlanned").GetInt32(),7}  {(run.TryGetProperty("message", out var m) ? m.GetString() : "")}");
        }
    }

    private static void WriteRun(JsonElement detail, TextWriter stdout)
    {
        var run = detail.GetProperty("run");
        stdout.WriteLine($"run {run.GetProperty("id").GetString()}: policy {run.GetProperty("policy").GetString()}, {run.GetProperty("kind").GetString()}, {run.GetProperty("state").GetString()}, node {run.GetProperty("node").GetString()}");
        foreach (var action in detail.GetProperty("actions").EnumerateArray())
        {
            stdout.WriteLine($"  {action.GetProperty("kind").GetString(),-22} {action.GetProperty("state").GetString(),-10} {action.GetProperty("region").GetString(),-14} {(action.TryGetProperty("resultSnapshotId", out var s) ? s.GetString() : "")} {(action.TryGetProperty("error", out var e) ? e.GetString() : "")}");
        }
    }
}
