namespace Lifecycle.LocalEngine.Tests;

/// <summary>A test class with a fresh directory of its own under the system temp directory, removed after each test.</summary>
public abstract class TempDirectoryTest(string prefix) : IDisposable
{
    protected string TestDirectory { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public void Dispose()
    {
        Directory.Delete(TestDirectory, recursive: true);
        GC.SuppressFinalize(this);
    }
}
