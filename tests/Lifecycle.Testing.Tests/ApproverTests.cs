using Lifecycle.Testing.Approval;
using Xunit.Sdk;

namespace Lifecycle.Testing.Tests;

public class ApproverTests
{
    [Fact]
    public void Verify_FailsWithADiff_AndWritesTheReceivedFile_WhenOutputDiffers()
    {
        var directory = Directory.CreateTempSubdirectory("approver-");
        try
        {
            var approved = Path.Combine(directory.FullName, "out.approved.txt");
            File.WriteAllText(approved, "one\ntwo\nthree\n");
            var error = Assert.Throws<XunitException>(() => Approver.Verify("one\n2\nthree\n", approved, approve: false));
            Assert.Contains("-     2: two", error.Message, StringComparison.Ordinal);
            Assert.Contains("+     2: 2", error.Message, StringComparison.Ordinal);
            Assert.Equal("one\n2\nthree\n", File.ReadAllText(Path.Combine(directory.FullName, "out.received.txt")));

            Approver.Verify("one\ntwo\nthree\n", approved, approve: false); // equal: passes and removes the stale received file
            Assert.False(File.Exists(Path.Combine(directory.FullName, "out.received.txt")));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Verify_Fails_WhenThereIsNoApprovedFile()
    {
        var directory = Directory.CreateTempSubdirectory("approver-");
        try
        {
            var error = Assert.Throws<XunitException>(() => Approver.Verify("x", Path.Combine(directory.FullName, "new.approved.txt"), approve: false));
            Assert.StartsWith("no approved file", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
