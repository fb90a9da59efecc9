using System.Collections.Immutable;
using Lifecycle.Core.Policies;
using Lifecycle.Policies.Compilation;
using Lifecycle.Policies.Language;
using Lifecycle.Policies.Yaml;

namespace Lifecycle.Policies;

/// <summary>The outcome of loading policy files: the valid policies and every diagnostic found.</summary>
/// <param name="Policies">Only the valid policies: a document with any error is left out.</param>
/// <param name="Diagnostics">Errors and warnings sorted by file (ordinal), line and column.</param>
public sealed record PolicyLoadResult(PolicySet Policies, ImmutableArray<PolicyDiagnostic> Diagnostics)
{
    public bool HasErrors { get; } = Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}

/// <summary>
/// Reads policy files (YAML, apiVersion lifecycle/v1) into Core's policy model. Strict and versioned: unknown keys,
/// wrong types and impossible combinations are errors, all of them reported in one run with file, line, column and
/// field path. Hostile input (alias bombs, deep nesting, huge or binary files, tabs) fails fast with a located
/// error. Deterministic: the same files always give the same result. Never throws for bad content.
/// </summary>
public static class PolicyLoader
{
    /// <summary>
    /// Loads files and directories (directories: *.yaml and *.yml recursively, in ordinal path order), in the order
    /// given. A policy name used twice is an error at the second definition. A path that does not exist is an error.
    /// </summary>
    public static PolicyLoadResult Load(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var session = new LoadSession();
        var seenFiles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            foreach (var file in Expand(path, session.Diagnostics))
            {
                if (seenFiles.Add(Path.GetFullPath(file)))
                {
                    session.LoadFile(file);
                }
            }
        }

        return session.ToResult();
    }

    /// <summary>Loads one file's text; <paramref name="fileName"/> is what diagnostics print.</summary>
    public static PolicyLoadResult LoadText(string yaml, string fileName)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var session = new LoadSession();
        session.LoadText(yaml, fileName);
        return session.ToResult();
    }

    /// <summary>
    /// Loads several files given as text (file name → YAML), in the given order, as one policy set: what an API that
    /// receives a whole set (the GitOps apply path) uses. A name defined twice is an error at the second definition.
    /// </summary>
    public static PolicyLoadResult LoadTexts(IEnumerable<KeyValuePair<string, string>> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var session = new LoadSession();
        foreach (var (fileName, yaml) in files)
        {
            session.LoadText(yaml ?? "", fileName);
        }

        return session.ToResult();
    }

    /// <summary>Loads one file's raw bytes (UTF-8, checked); <paramref name="fileName"/> is what diagnostics print.</summary>
    public static PolicyLoadResult LoadBytes(ReadOnlySpan<byte> content, string fileName)
    {
        var session = new LoadSession();
        session.LoadBytes(content, fileName);
        return session.ToResult();
    }

    /// <summary>The policy files a path stands for: the file itself, or a directory's *.yaml/*.yml files.</summary>
    public static IReadOnlyList<string> ExpandPath(string path) => Expand(path, new DiagnosticBag());

    private static List<string> Expand(string path, DiagnosticBag diagnostics)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (Directory.Exists(path))
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = FileAttributes.None, MatchCasing = MatchCasing.CaseSensitive };
            return [.. Directory.EnumerateFiles(path, "*", options)
                .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)];
        }

        diagnostics.Error(new SourceLocation(path, 1, 1), FieldPath.File, "no such file or directory");
        return [];
    }

    private sealed class LoadSession
    {
        private readonly ImmutableArray<SnapshotPolicy>.Builder policies = ImmutableArray.CreateBuilder<SnapshotPolicy>();
        private readonly Dictionary<string, SourceLocation> names = new(StringComparer.Ordinal);

        public DiagnosticBag Diagnostics { get; } = new();

        public PolicyLoadResult ToResult() => new(new PolicySet(policies.ToImmutable()), Diagnostics.ToSortedArray());

        public void LoadFile(string file)
        {
            byte[] content;
            try
            {
                var length = new FileInfo(file).Length;
                if (length > InputGuard.MaxFileBytes)
                {
                    Diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File,
                        $"the file is {length} bytes; policy files are limited to {InputGuard.MaxFileBytes} bytes (1 MiB)");
                    return;
                }

                content = File.ReadAllBytes(file);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                Diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File, $"cannot read the file: {exception.Message}");
                return;
            }

            LoadBytes(content, file);
        }

        public void LoadBytes(ReadOnlySpan<byte> content, string file)
        {
            if (InputGuard.Decode(content, file, Diagnostics) is { } text)
            {
                LoadText(text, file);
            }
        }

        public void LoadText(string text, string file)
        {
            if (text.StartsWith('\uFEFF'))
            {
                text = text[1..];
            }

            if (!InputGuard.Check(text, file, Diagnostics))
            {
                return;
            }

            var errorsBefore = Diagnostics.ErrorCount;
            var documents = YamlTreeReader.Read(text, file, Diagnostics);
            var policiesInFile = 0;
            foreach (var document in documents)
            {
                if (document.Root is YamlScalar { IsNull: true })
                {
                    continue; // an empty document between two "---" separators
                }

                policiesInFile++;
                LoadDocument(document.Root);
            }

            if (policiesInFile == 0 && Diagnostics.ErrorCount == errorsBefore)
            {
                Diagnostics.Error(new SourceLocation(file, 1, 1), FieldPath.File, "the file holds no document; expected at least one SnapshotPolicy");
            }
        }

        private void LoadDocument(YamlNode root)
        {
            var errorsBefore = Diagnostics.ErrorCount;
            if (root is not YamlMapping mapping)
            {
                Diagnostics.Error(root.Location, FieldPath.Document,
                    $"expected a mapping with apiVersion, kind, metadata and spec, got {root.Describe()}");
                return;
            }

            // Versioned decoding: a document of another version or kind is not read as this one.
            if (mapping.Find("apiVersion")?.Value is YamlScalar { IsNull: false } apiVersion && apiVersion.Value != PolicyLanguage.ApiVersion)
            {
                Diagnostics.Error(apiVersion.Location, "apiVersion",
                    $"unsupported apiVersion {apiVersion.Describe()}; this version of lifecycle reads {PolicyLanguage.ApiVersion}");
                return;
            }

            if (mapping.Find("kind")?.Value is YamlScalar { IsNull: false } kind && kind.Value != PolicyLanguage.Kind)
            {
                Diagnostics.Error(kind.Location, "kind", $"unsupported kind {kind.Describe()}; expected {PolicyLanguage.Kind}");
                return;
            }

            var shapes = new ShapeValidator(Diagnostics);
            shapes.Validate(mapping, PolicyLanguage.Document, FieldPath.Document);
            var (policy, nameNode) = new PolicyCompiler(shapes, Diagnostics).Compile(mapping);

            if (nameNode is not null && !shapes.IsRejected(nameNode))
            {
                if (names.TryGetValue(policy.Name, out var first))
                {
                    Diagnostics.Error(nameNode.Location, "metadata.name",
                        $"policy name '{policy.Name}' is already defined at {first}; policy names must be unique");
                }
                else
                {
                    names.Add(policy.Name, nameNode.Location);
                }
            }

            if (Diagnostics.ErrorCount == errorsBefore)
            {
                policies.Add(policy);
            }
        }
    }
}
