using Lifecycle.Policies.Language;

namespace Lifecycle.Policies.Tests;

public class PolicyLanguageDocsTests
{
    [Fact]
    public void Reference_NamesEveryKeyOfTheLanguage()
    {
        var docs = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "policies", "README.md"));
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        Collect(PolicyLanguage.Document, keys, []);

        var missing = keys.Where(k => !docs.Contains($"`{k}`", StringComparison.Ordinal)
                                      && !docs.Contains($"`{k}:", StringComparison.Ordinal)
                                      && !docs.Contains($".{k}`", StringComparison.Ordinal)).ToList();

        Assert.True(keys.Count > 40, $"only {keys.Count} keys found");
        Assert.Empty(missing);
    }

    private static void Collect(Shape shape, SortedSet<string> keys, HashSet<Shape> seen)
    {
        if (!seen.Add(shape))
        {
            return;
        }

        switch (shape)
        {
            case ObjectShape o:
                foreach (var property in o.Properties)
                {
                    keys.Add(property.Name);
                    Collect(property.Shape, keys, seen);
                }

                break;
            case MapShape m:
                Collect(m.Values, keys, seen);
                break;
            case ArrayShape a:
                Collect(a.Items, keys, seen);
                break;
        }
    }
}
