using Lifecycle.Cli.Commands;

namespace Lifecycle.Cli.Tests.Commands;

public sealed class ApplyCommandTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Apply_OfAnEmptyDirectory_IsAUsageError_AndNeverSentAsAnEmptySet(bool dryRun)
    {
        var directory = Directory.CreateTempSubdirectory("lifecycle-apply-empty-").FullName;
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            // Nothing listens there: reaching the server would be exit 1, not 2.
            var exit = await ApplyCommand.RunAsync("http://127.0.0.1:9", directory, null, null, allowDestructive: false, dryRun, "text", stdout, stderr);

            Assert.Equal(2, exit);
            Assert.Contains("no *.yaml or *.yml files", stderr.ToString());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
