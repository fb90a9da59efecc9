using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Lifecycle.Policies.Tests;

/// <summary>
/// Property test with a seeded generator of our own: thousands of mutated and generated YAML documents go through
/// the loader. Whatever the input, no exception escapes, every diagnostic is located (line and column ≥ 1, in the
/// right file) and a result without errors holds at least one policy. Same seed, same documents.
/// </summary>
public class PolicyFuzzTests(ITestOutputHelper output)
{
    /// <summary>Fixed so a failure reproduces; LIFECYCLE_FUZZ_SEED explores other seeds.</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("LIFECYCLE_FUZZ_SEED"), out var seed) ? seed : 20261121;
    private const int MutatedDocuments = 5000;
    private const int GeneratedDocuments = 1500;
    private const int MutatedByteDocuments = 500;

    private static readonly string[] Fragments =
    [
        ":", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ", "!custom ", "<<: *a", "|", ">", "\"", "'", "#", "%",
        "@", "`", "?", "\t", "\r", "\n", "---", "...", "\0", "\u00e9", "\u2028", "\ud83d\ude00", "$(", "$(policy)",
        "$(nope)", "lifecycle:x", "-1", "0", "99999999999999999999", "1e9", "0x1F", ".inf", "~", "null", "true", "yes",
        "4h", "5h", "7d", "0d", "6mo", "30s", "90d", "60d", "10%", "150%", "0 2 * * *", "61 * * * *", "Europe/Berlin",
        "Mars/Base", "eu-west-1", "us-east-1", "count: 1", "age: 1d", "every: 1h", "cron: \"* * * * *\"",
    ];

    private static readonly string[] Keys =
    [
        "apiVersion", "kind", "metadata", "name", "description", "spec", "enabled", "engine", "regions", "targets",
        "resource", "tags", "exclude", "volumeIds", "bootVolume", "schedules", "every", "startAt", "cron", "timezone",
        "retain", "count", "age", "buckets", "hourly", "daily", "weekly", "monthly", "yearly", "minimum", "copies",
        "region", "encrypted", "key", "copyTags", "archive", "after", "fastRestore", "zones", "hooks", "pre", "post",
        "exec", "http", "timeout", "retries", "onFailure", "copyVolumeTags", "safety", "keepLatest", "maxDeletesPerRun",
        "unknown", "<<",
    ];

    [Fact]
    public void Loader_NeverThrows_AndLocatesEveryDiagnostic_OnThousandsOfMutatedAndGeneratedDocuments()
    {
        var random = new Random(Seed);
        var seeds = Directory.GetFiles(RepositoryPaths.Policies, "*.yaml")
            .Concat(Directory.GetFiles(RepositoryPaths.InvalidCases, "*.yaml"))
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes)
            .Where(b => b.Length < 64 * 1024)
            .ToArray();
        var texts = seeds.Select(b => Encoding.UTF8.GetString(b)).ToArray();
        var exampleCount = Directory.GetFiles(RepositoryPaths.Policies, "*.yaml").Length;
        var stopwatch = Stopwatch.StartNew();
        var (total, withErrors, valid) = (0, 0, 0);

        void Check(PolicyLoadResult result, string file, string input)
        {
            total++;
            foreach (var diagnostic in result.Diagnostics)
            {
                Assert.True(diagnostic.Location.Line >= 1 && diagnostic.Location.Column >= 1, $"unlocated: {diagnostic}\n--- input ---\n{input}");
                Assert.Equal(file, diagnostic.Location.File);
                Assert.False(string.IsNullOrWhiteSpace(diagnostic.FieldPath), $"no field path: {diagnostic}");
                Assert.False(string.IsNullOrWhiteSpace(diagnostic.Message), $"no message: {diagnostic}");
            }

            if (result.HasErrors)
            {
                withErrors++;
            }
            else
            {
                Assert.False(result.Policies.Policies.IsEmpty, $"no error and no policy\n--- input ---\n{input}");
                valid++;
            }

            // Whatever got through satisfies the model's invariants.
            foreach (var policy in result.Policies.Policies)
            {
                AssertInvariants(policy, input);
            }

            // Deterministic: the same text gives the same diagnostics (checked on every 10th text document).
            if (total % 10 == 0 && file != "bytes.yaml")
            {
                Assert.Equal(result.Diagnostics.Select(d => d.ToString()), PolicyLoader.LoadText(input, file).Diagnostics.Select(d => d.ToString()));
            }
        }

        for (var i = 0; i < MutatedDocuments; i++)
        {
            // Half of the mutations start from the valid examples, so many mutants stay valid or nearly so.
            var source = i % 2 == 0 ? texts[random.Next(exampleCount)] : texts[random.Next(texts.Length)];
            var text = Mutate(source, random);
            Check(Load(text, "fuzz.yaml"), "fuzz.yaml", text);
        }

        for (var i = 0; i < GeneratedDocuments; i++)
        {
            var text = Generate(random);
            Check(Load(text, "generated.yaml"), "generated.yaml", text);
        }

        for (var i = 0; i < MutatedByteDocuments; i++)
        {
            var bytes = (byte[])seeds[random.Next(seeds.Length)].Clone();
            for (var flips = random.Next(1, 6); flips > 0 && bytes.Length > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            Check(LoadBytes(bytes, "bytes.yaml"), "bytes.yaml", Convert.ToHexString(bytes));
        }

        stopwatch.Stop();
        output.WriteLine($"fuzz: {total} documents ({withErrors} with errors, {valid} valid) in {stopwatch.Elapsed.TotalSeconds:F2} s, seed {Seed}");
        Assert.Equal(MutatedDocuments + GeneratedDocuments + MutatedByteDocuments, total);
        Assert.True(withErrors > 0 && valid > 0, "the generator must produce both valid and invalid documents");
    }

    private static void AssertInvariants(Lifecycle.Core.Policies.SnapshotPolicy policy, string input)
    {
        var context = $"policy {policy.Name}\n--- input ---\n{input}";
        Assert.Matches("^[a-z][a-z0-9-]{0,62}$", policy.Name);
        Assert.False(policy.Regions.IsEmpty, context);
        Assert.NotEmpty(policy.Targets.Tags);
        Assert.InRange(policy.Schedules.Length, 1, 8);
        Assert.Equal(policy.Schedules.Length, policy.Schedules.Select(s => s.Name).Distinct().Count());
        Assert.InRange(policy.Safety.KeepLatest, 0, 1000);
        foreach (var schedule in policy.Schedules)
        {
            Assert.False(schedule.Retain.IsEmpty, context);
            Assert.True(schedule.Copies.Length <= 5, context);
            Assert.All(schedule.Copies, c => Assert.DoesNotContain(c.Region, policy.Regions));
            Assert.Equal(schedule.Copies.Length, schedule.Copies.Select(c => c.Region).Distinct().Count());
            Assert.All(policy.Tags.Keys.Concat(schedule.Tags.Keys), k => Assert.False(k.StartsWith("lifecycle:", StringComparison.OrdinalIgnoreCase), context));
            if (schedule.Archive?.Retain.Age is { } archiveAge)
            {
                Assert.True(archiveAge.Approximate >= TimeSpan.FromDays(90), context);
            }
        }
    }

    private static PolicyLoadResult Load(string text, string file)
    {
        try
        {
            return PolicyLoader.LoadText(text, file);
        }
        catch (Exception exception)
        {
            Assert.Fail($"{exception.GetType().Name} escaped: {exception.Message}\n{exception.StackTrace}\n--- input ---\n{text}");
            throw;
        }
    }

    private static PolicyLoadResult LoadBytes(byte[] bytes, string file)
    {
        try
        {
            return PolicyLoader.LoadBytes(bytes, file);
        }
        catch (Exception exception)
        {
            Assert.Fail($"{exception.GetType().Name} escaped: {exception.Message}\n--- input (hex) ---\n{Convert.ToHexString(bytes)}");
            throw;
        }
    }

    /// <summary>1 to 4 line-level or character-level edits of a real policy file.</summary>
    private static string Mutate(string text, Random random)
    {
        var lines = text.Split('\n').ToList();
        for (var edits = random.Next(1, 5); edits > 0; edits--)
        {
            if (lines.Count == 0)
            {
                lines.Add("");
            }

            var at = random.Next(lines.Count);
            switch (random.Next(10))
            {
                case 0:
                    lines.RemoveAt(at);
                    break;
                case 1:
                    lines.Insert(at, lines[at]);
                    break;
                case 2:
                    var other = random.Next(lines.Count);
                    (lines[at], lines[other]) = (lines[other], lines[at]);
                    break;
                case 3:
                    lines[at] = FlipCharacter(lines[at], random);
                    break;
                case 4:
                    lines[at] = InsertAt(lines[at], Fragments[random.Next(Fragments.Length)], random);
                    break;
                case 5:
                    // random nesting: push the line deeper or shallower
                    lines[at] = random.Next(2) == 0 ? new string(' ', random.Next(1, 6)) + lines[at] : lines[at].TrimStart();
                    break;
                case 6:
                    var colon = lines[at].IndexOf(": ", StringComparison.Ordinal);
                    if (colon > 0)
                    {
                        var value = lines[at][(colon + 2)..];
                        lines[at] = lines[at][..(colon + 2)] + (random.Next(3) switch { 0 => $"[{value}]", 1 => $"{{ x: {value} }}", _ => RandomScalar(random) });
                    }

                    break;
                case 7:
                    lines.Insert(at, new string(' ', random.Next(0, 8)) + Keys[random.Next(Keys.Length)] + ": " + RandomScalar(random));
                    break;
                case 8:
                    lines[at] = lines[at].Length > 0 ? lines[at][..random.Next(lines[at].Length)] : lines[at];
                    break;
                default:
                    lines.Insert(at, random.Next(2) == 0 ? "---" : new string(' ', random.Next(0, 6)) + "- " + RandomScalar(random));
                    break;
            }
        }

        return string.Join('\n', lines);
    }

    private const string YamlIndicators = " :-[]{}&*!|>\"'#\t,?%";

    private static string FlipCharacter(string line, Random random)
    {
        if (line.Length == 0)
        {
            return ((char)random.Next(1, 0x3000)).ToString();
        }

        var chars = line.ToCharArray();
        chars[random.Next(chars.Length)] = random.Next(3) == 0 ? (char)random.Next(0, 0x10000) : YamlIndicators[random.Next(YamlIndicators.Length)];
        return new string(chars);
    }

    private static string InsertAt(string line, string fragment, Random random) => line.Insert(random.Next(line.Length + 1), fragment);

    private static string RandomScalar(Random random) => random.Next(4) switch
    {
        0 => Fragments[random.Next(Fragments.Length)],
        1 => random.Next(-1000, 100000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        2 => "\"" + new string('x', random.Next(0, 300)) + "\"",
        _ => Keys[random.Next(Keys.Length)],
    };

    /// <summary>A random tree of policy-like keys and values, in block or flow style, sometimes with anchors.</summary>
    private static string Generate(Random random)
    {
        var builder = new StringBuilder();
        if (random.Next(3) > 0)
        {
            builder.Append("apiVersion: lifecycle/v1\nkind: SnapshotPolicy\n");
        }

        var documents = random.Next(1, 3);
        for (var d = 0; d < documents; d++)
        {
            if (d > 0)
            {
                builder.Append("---\n");
            }

            WriteMapping(builder, random, 0, random.Next(1, 8));
        }

        return builder.ToString();
    }

    private static void WriteMapping(StringBuilder builder, Random random, int depth, int entries)
    {
        var indent = new string(' ', depth * 2);
        for (var i = 0; i < entries; i++)
        {
            builder.Append(indent).Append(Keys[random.Next(Keys.Length)]).Append(':');
            var kind = depth > 6 ? 0 : random.Next(5);
            switch (kind)
            {
                case 0:
                    builder.Append(' ').Append(RandomScalar(random)).Append('\n');
                    break;
                case 1:
                    builder.Append('\n');
                    WriteMapping(builder, random, depth + 1, random.Next(1, 5));
                    break;
                case 2:
                    builder.Append('\n');
                    for (var n = random.Next(0, 10); n > 0; n--)
                    {
                        builder.Append(indent).Append("  - ");
                        if (random.Next(2) == 0)
                        {
                            builder.Append(RandomScalar(random)).Append('\n');
                        }
                        else
                        {
                            builder.Append(Keys[random.Next(Keys.Length)]).Append(": ").Append(RandomScalar(random)).Append('\n');
                        }
                    }

                    break;
                case 3:
                    builder.Append(" { ").Append(Keys[random.Next(Keys.Length)]).Append(": ").Append(RandomScalar(random)).Append(", ")
                        .Append(Keys[random.Next(Keys.Length)]).Append(": [").Append(RandomScalar(random)).Append(", ").Append(RandomScalar(random)).Append("] }\n");
                    break;
                default:
                    builder.Append(" &a ").Append(RandomScalar(random)).Append('\n').Append(indent).Append(Keys[random.Next(Keys.Length)]).Append(": *a\n");
                    break;
            }
        }
    }
}
