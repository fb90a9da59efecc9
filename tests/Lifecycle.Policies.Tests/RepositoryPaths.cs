namespace Lifecycle.Policies.Tests;

/// <summary>Locates files of the repository from the test's output directory.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string Policies => Path.Combine(Root, "policies");

    public static string InvalidCases => Path.Combine(Root, "tests", "Lifecycle.Policies.Tests", "Invalid");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lifecycle.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Lifecycle.sln not found above " + AppContext.BaseDirectory);
    }
}
