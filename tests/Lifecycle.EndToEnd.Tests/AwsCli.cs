using System.Diagnostics;
using System.Text.Json;

namespace Lifecycle.EndToEnd.Tests;

/// <summary>The real aws CLI (Debian's awscli at /usr/bin/aws; another `aws` may be earlier on PATH) against an endpoint.</summary>
public static class AwsCli
{
    public sealed record Result(int ExitCode, JsonElement Json, string Error)
    {
        public JsonElement Ok()
        {
            Assert.True(ExitCode == 0, $"aws exited {ExitCode}: {Error}");
            return Json;
        }

        /// <summary>The CLI prints "An error occurred (CODE) when calling …"; exit code 254.</summary>
        public void Fails(string code)
        {
            Assert.True(ExitCode != 0, "aws succeeded where it should fail with " + code);
            Assert.Contains($"({code})", Error, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// <c>aws ec2 ARGS --endpoint-url ENDPOINT --region REGION --output json</c>, signing with the key pair of
    /// <paramref name="credentials"/> (an AWS shared-credentials file) and nothing else of this machine's AWS setup.
    /// </summary>
    public static async Task<Result> Ec2Async(string endpoint, string credentials, string region, params string[] arguments)
    {
        var start = new ProcessStartInfo("/usr/bin/aws") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("ec2");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var argument in new[] { "--endpoint-url", endpoint, "--region", region, "--output", "json" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = credentials;
        start.Environment["AWS_CONFIG_FILE"] = "/dev/null";
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        start.Environment["AWS_PAGER"] = "";
        start.Environment.Remove("AWS_PROFILE");
        start.Environment.Remove("AWS_ACCESS_KEY_ID");
        start.Environment.Remove("AWS_SECRET_ACCESS_KEY");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        var text = await stdout;
        return new Result(process.ExitCode, text.Trim().Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), await stderr);
    }
}
