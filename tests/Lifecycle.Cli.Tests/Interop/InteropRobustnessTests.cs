using System.Text.Json.Nodes;
using Lifecycle.Core.Policies;
using Lifecycle.Policies.Interop;

namespace Lifecycle.Cli.Tests.Interop;

/// <summary>
/// Every member of every corpus document replaced by a value of another type, or removed: the importers never
/// throw; each result is a policy file or an error naming a JSON path.
/// </summary>
public sealed class InteropRobustnessTests : IDisposable
{
    private static readonly Func<JsonNode?>[] Replacements = [() => null, () => JsonValue.Create("x"), () => JsonValue.Create(-7), () => new JsonArray(), () => new JsonObject()];

    private readonly string root = Path.Combine(Path.GetTempPath(), "lifecycle-interop-robust-" + Guid.NewGuid().ToString("N")[..8]);

    public InteropRobustnessTests() => Directory.CreateDirectory(root);

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void DlmImport_OfAnyMutatedCorpusDocument_NeverThrows_AndLocatesEveryError()
    {
        var imports = 0;
        foreach (var file in InteropCorpus.DlmFiles())
        {
            foreach (var mutated in Mutations(InteropCorpus.ReadJson(file)))
            {
                var result = DlmImporter.ImportText(mutated, "mutated.json", "mutated", InteropCorpus.Region);
                Check(result, mutated);
                imports++;
            }
        }

        Assert.True(imports > 500, $"{imports} mutations");
    }

    [Fact]
    public void BackupPlanImport_OfAnyMutatedCorpusDocument_NeverThrows_AndLocatesEveryError()
    {
        var imports = 0;
        foreach (var (plan, selection) in InteropCorpus.BackupPlans())
        {
            foreach (var mutated in Mutations(InteropCorpus.ReadJson(plan)))
            {
                var file = Path.Combine(root, $"m{imports}.plan.json");
                File.WriteAllText(file, mutated);
                Check(BackupPlanImporter.ImportFiles(file, selection, InteropCorpus.Region), mutated);
                imports++;
            }

            if (selection is not null)
            {
                foreach (var mutated in Mutations(InteropCorpus.ReadJson(selection)))
                {
                    var file = Path.Combine(root, $"m{imports}.selection.json");
                    File.WriteAllText(file, mutated);
                    Check(BackupPlanImporter.ImportFiles(plan, file, InteropCorpus.Region), mutated);
                    imports++;
                }
            }
        }

        Assert.True(imports > 100, $"{imports} mutations");
    }

    private static void Check(InteropImport result, string input)
    {
        Assert.True(result.Succeeded || result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error), input);
        Assert.All(result.Diagnostics, d => Assert.StartsWith("$", d.Path, StringComparison.Ordinal));
        Assert.DoesNotContain(result.Diagnostics, d => d.Message.Contains("please report", StringComparison.Ordinal));
    }

    /// <summary>The document with one member or item replaced (each replacement in turn) or removed.</summary>
    private static IEnumerable<string> Mutations(JsonObject document)
    {
        var paths = new List<(JsonNode Parent, string? Key, int Index)>();
        Collect(document, paths);
        foreach (var (parent, key, index) in paths)
        {
            foreach (var replacement in Replacements)
            {
                var original = key is null ? parent[index] : parent[key];
                var saved = original?.DeepClone();
                Set(parent, key, index, replacement());
                yield return document.ToJsonString();
                Set(parent, key, index, saved);
            }
        }
    }

    private static void Set(JsonNode parent, string? key, int index, JsonNode? value)
    {
        if (key is null)
        {
            parent.AsArray()[index] = value;
        }
        else
        {
            parent.AsObject()[key] = value;
        }
    }

    private static void Collect(JsonNode node, List<(JsonNode, string?, int)> paths)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    paths.Add((obj, key, -1));
                    if (child is not null)
                    {
                        Collect(child, paths);
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    paths.Add((array, null, i));
                    if (array[i] is { } child)
                    {
                        Collect(child, paths);
                    }
                }

                break;
        }
    }
}
