using System.Text.Json;

namespace Lifecycle.Policies.Tests;

public class JsonSchemaTests
{
    private const string Regenerate =
        "regenerate it with: dotnet run --project src/Lifecycle.Cli -- schema > policies/lifecycle-policy.schema.json";

    [Fact]
    public void CommittedSchema_EqualsTheGeneratedOne()
    {
        var committed = File.ReadAllText(Path.Combine(RepositoryPaths.Policies, "lifecycle-policy.schema.json"));

        Assert.True(committed == PolicySchema.Generate(), "policies/lifecycle-policy.schema.json is out of date; " + Regenerate);
    }

    [Fact]
    public void Schema_IsDraft07Json_WithTheDocumentKeysRequired()
    {
        using var schema = JsonDocument.Parse(PolicySchema.Generate());
        var root = schema.RootElement;

        Assert.Equal("http://json-schema.org/draft-07/schema#", root.GetProperty("$schema").GetString());
        Assert.Equal(["apiVersion", "kind", "metadata", "spec"], root.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.False(root.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(["lifecycle/v1"], root.GetProperty("properties").GetProperty("apiVersion").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void Schema_DescribesEveryProperty_AndResolvesEveryReference()
    {
        using var schema = JsonDocument.Parse(PolicySchema.Generate());
        var definitions = schema.RootElement.GetProperty("definitions");
        var problems = new List<string>();

        void Walk(JsonElement element, string path)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                if (element.TryGetProperty("$ref", out var reference) && !definitions.TryGetProperty(reference.GetString()!.Replace("#/definitions/", "", StringComparison.Ordinal), out _))
                {
                    problems.Add($"{path}: unresolved {reference.GetString()}");
                }

                if (element.TryGetProperty("properties", out var properties))
                {
                    foreach (var property in properties.EnumerateObject().Where(p => !p.Value.TryGetProperty("description", out _)))
                    {
                        problems.Add($"{path}.{property.Name}: no description");
                    }
                }

                foreach (var child in element.EnumerateObject())
                {
                    Walk(child.Value, path + "." + child.Name);
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var child in element.EnumerateArray())
                {
                    Walk(child, $"{path}[{i++}]");
                }
            }
        }

        Walk(schema.RootElement, "$");

        Assert.Empty(problems);
    }

    [Fact]
    public void Schema_ScheduleRequiresExactlyOneOfEveryOrCron_AndCapsCopiesAtFive()
    {
        using var schema = JsonDocument.Parse(PolicySchema.Generate());
        var schedule = schema.RootElement.GetProperty("definitions").GetProperty("schedule");

        var oneOf = schedule.GetProperty("oneOf").EnumerateArray().Select(e => e.GetProperty("required")[0].GetString());
        Assert.Equal(["every", "cron"], oneOf);
        Assert.Equal(5, schedule.GetProperty("properties").GetProperty("copies").GetProperty("maxItems").GetInt32());
        Assert.Equal(["every"], schedule.GetProperty("dependencies").GetProperty("startAt").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void Generate_IsDeterministic()
    {
        Assert.Equal(PolicySchema.Generate(), PolicySchema.Generate());
    }
}

public class SchemaPatternAgreementTests
{
    [Fact]
    public void EveryPattern_InTheSchema_AcceptsExactlyWhatTheValidatorAccepts()
    {
        var pattern = new System.Text.RegularExpressions.Regex(Lifecycle.Policies.Language.PolicyLanguage.EveryPattern);
        var disagreements = new List<string>();
        foreach (var unit in new[] { "s", "m", "h", "d", "w", "mo", "y" })
        {
            for (var n = 0; n <= 400; n++)
            {
                var text = n + unit;
                var validatorAccepts = Lifecycle.Policies.Language.ValueChecks.Every(text) is null;
                if (validatorAccepts != pattern.IsMatch(text))
                {
                    disagreements.Add(text);
                }
            }
        }

        Assert.Empty(disagreements);
    }

    [Fact]
    public void DurationPattern_InTheSchema_AcceptsWhatTheDurationParserAccepts_WithoutLeadingZeros()
    {
        var pattern = new System.Text.RegularExpressions.Regex(Lifecycle.Policies.Language.PolicyLanguage.DurationPattern);
        foreach (var unit in new[] { "s", "m", "h", "d", "w", "mo", "y" })
        {
            for (var n = 0; n <= 1000; n += 7)
            {
                var text = n + unit;
                Assert.Equal(Lifecycle.Core.Time.PolicyDuration.TryParse(text, out _, out _), pattern.IsMatch(text));
            }
        }
    }
}
