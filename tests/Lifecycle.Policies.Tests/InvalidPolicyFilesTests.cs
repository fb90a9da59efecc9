using System.Text;

namespace Lifecycle.Policies.Tests;

/// <summary>
/// Every file under Invalid/ must produce exactly the diagnostics listed in its sibling .expected file
/// (one FILE:LINE:COLUMN: error: FIELD.PATH: message line each, with the path as Invalid/NAME.yaml).
/// </summary>
public class InvalidPolicyFilesTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(RepositoryPaths.InvalidCases, "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Fact]
    public void InvalidCases_AreAtLeastForty_AndEachHasAnExpectedFile()
    {
        var cases = Directory.GetFiles(RepositoryPaths.InvalidCases, "*.yaml");

        Assert.True(cases.Length >= 40, $"only {cases.Length} invalid policy files");
        Assert.All(cases, file => Assert.True(File.Exists(Path.ChangeExtension(file, ".expected")), $"{file} has no .expected file"));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InvalidFile_ProducesExactlyTheExpectedDiagnostics(string fileName)
    {
        var full = Path.Combine(RepositoryPaths.InvalidCases, fileName);
        var expected = File.ReadAllLines(Path.ChangeExtension(full, ".expected")).Where(l => l.Length > 0).ToArray();

        var result = PolicyLoader.LoadBytes(File.ReadAllBytes(full), "Invalid/" + fileName);

        Assert.Equal(expected, result.Diagnostics.Select(d => d.ToString()).ToArray());
        Assert.True(result.HasErrors);
        Assert.Contains(expected, line => line.Contains(": error: ", StringComparison.Ordinal));
    }

    [Fact]
    public void HugeFile_IsRejectedBeforeParsing_WithALocatedError()
    {
        var text = new StringBuilder("apiVersion: lifecycle/v1\nkind: SnapshotPolicy\nmetadata:\n  name: huge\n  description: >\n");
        while (text.Length <= 3 * 1024 * 1024)
        {
            text.Append("    ").Append('x', 100).Append('\n');
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());

        var fromBytes = PolicyLoader.LoadBytes(bytes, "huge.yaml");
        var fromText = PolicyLoader.LoadText(text.ToString(), "huge.yaml");

        Assert.Equal(
            [$"huge.yaml:1:1: error: (file): the file is {bytes.Length} bytes; policy files are limited to 1048576 bytes (1 MiB)"],
            fromBytes.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(
            ["huge.yaml:1:1: error: (file): the file is larger than 1048576 bytes (1 MiB), the limit for a policy file"],
            fromText.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void HugeFileOnDisk_IsRejectedWithoutReadingIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lifecycle-huge-{Guid.NewGuid():N}.yaml");
        try
        {
            using (var stream = File.Create(path))
            {
                stream.SetLength(5L * 1024 * 1024);
            }

            var result = PolicyLoader.Load([path]);

            Assert.Equal([$"{path}:1:1: error: (file): the file is 5242880 bytes; policy files are limited to 1048576 bytes (1 MiB)"],
                result.Diagnostics.Select(d => d.ToString()));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
