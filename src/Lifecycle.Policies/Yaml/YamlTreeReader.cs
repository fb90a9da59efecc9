using System.Text.RegularExpressions;
using Lifecycle.Core.Policies;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Lifecycle.Policies.Yaml;

/// <summary>
/// Turns YAML text into located node trees, one per document, from YamlDotNet's parser events. It owns the limits
/// that make hostile input fail fast with a located error: nesting depth, alias expansion (billion laughs),
/// duplicate keys, non-scalar keys and unsupported tags. No recursion: an explicit stack builds the tree.
/// </summary>
internal static partial class YamlTreeReader
{
    /// <summary>Deepest nesting of mappings and sequences accepted; a policy needs about 6.</summary>
    public const int MaxDepth = 32;

    /// <summary>Most nodes one document may expand to, aliases counted at their full size; a large policy has ~500.</summary>
    public const int MaxNodesPerDocument = 20_000;

    private const string MergeKey = "<<";
    private const string StringTag = "tag:yaml.org,2002:str";

    public static List<YamlDocument> Read(string text, string file, DiagnosticBag diagnostics)
    {
        var documents = new List<YamlDocument>();
        var parser = new Parser(new StringReader(text));
        var state = new ReaderState(file, diagnostics);
        while (true)
        {
            bool moved;
            try
            {
                moved = parser.MoveNext();
            }
            catch (YamlException exception)
            {
                diagnostics.Error(state.Locate(exception.Start), state.CurrentPath(), CleanMessage(exception.Message));
                break;
            }
            catch (Exception exception) when (exception is InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException)
            {
                // YamlDotNet's scanner fails this way on some malformed input (found by the fuzz test); the
                // last event it produced is the closest location we have.
                diagnostics.Error(state.LastLocation, state.CurrentPath(),
                    "invalid YAML: the text after this point cannot be parsed (check quotes, brackets and indentation)");
                break;
            }

            if (!moved || !state.Accept(parser.Current!, documents))
            {
                break;
            }
        }

        return documents;
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ", RegexOptions.CultureInvariant)]
    private static partial Regex MarkPrefix();

    private static string CleanMessage(string message)
    {
        var text = MarkPrefix().Replace(message, "").Trim().TrimEnd('.');
        if (text.Length == 0)
        {
            return "invalid YAML";
        }

        return "invalid YAML: " + char.ToLowerInvariant(text[0]) + text[1..];
    }

    private sealed class Frame(SourceLocation location, string path, string? anchor, bool isMapping)
    {
        public SourceLocation Location { get; } = location;

        public string Path { get; } = path;

        public string? Anchor { get; } = anchor;

        public bool IsMapping { get; } = isMapping;

        public List<YamlNode> Items { get; } = [];

        public List<YamlEntry> Entries { get; } = [];

        public Dictionary<string, YamlEntry> EntriesByKey { get; } = new(StringComparer.Ordinal);

        public List<(YamlScalar Key, YamlNode Source)> Merges { get; } = [];

        public YamlScalar? PendingKey { get; set; }

        /// <summary>The key was rejected (not a scalar): the value that follows is read and dropped.</summary>
        public bool DropNextValue { get; set; }

        public bool ExpectingKey => PendingKey is null && !DropNextValue;

        public string ChildPath() => IsMapping
            ? PendingKey is null ? Path : FieldPath.Child(Path, PendingKey.Value)
            : FieldPath.Index(Path, Items.Count);
    }

    private sealed class ReaderState(string file, DiagnosticBag diagnostics)
    {
        private readonly Stack<Frame> frames = new();
        private readonly Dictionary<string, YamlNode> anchors = new(StringComparer.Ordinal);
        private int expandedNodes;
        private int documentIndex;
        private YamlNode? root;

        public SourceLocation LastLocation { get; private set; } = new(file, 1, 1);

        public SourceLocation Locate(Mark mark) => new(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));

        public string CurrentPath() => frames.Count == 0 ? FieldPath.Document : frames.Peek().ChildPath();

        /// <summary>Handles one parser event; false stops reading the file (a limit was hit).</summary>
        public bool Accept(ParsingEvent parsingEvent, List<YamlDocument> documents)
        {
            LastLocation = Locate(parsingEvent.End);
            switch (parsingEvent)
            {
                case DocumentStart:
                    frames.Clear();
                    anchors.Clear();
                    expandedNodes = 0;
                    root = null;
                    return true;
                case DocumentEnd:
                    if (root is not null)
                    {
                        documents.Add(new YamlDocument(root, documentIndex));
                    }

                    documentIndex++;
                    return true;
                case Scalar scalar:
                    return AcceptScalar(scalar);
                case AnchorAlias alias:
                    return AcceptAlias(alias);
                case MappingStart mappingStart:
                    return Open(mappingStart, mappingStart.Anchor, mappingStart.Tag, isMapping: true);
                case SequenceStart sequenceStart:
                    return Open(sequenceStart, sequenceStart.Anchor, sequenceStart.Tag, isMapping: false);
                case MappingEnd:
                case SequenceEnd:
                    return Close();
                default:
                    return true;
            }
        }

        private bool CountNodes(int count, Mark at)
        {
            expandedNodes += count;
            if (expandedNodes <= MaxNodesPerDocument)
            {
                return true;
            }

            diagnostics.Error(Locate(at), CurrentPath(),
                $"the document expands to more than {MaxNodesPerDocument} YAML nodes, counting each alias at its full size (an alias bomb?); a policy has a few hundred");
            return false;
        }

        private bool CheckTag(TagName tag, Mark at)
        {
            if (tag.IsEmpty || tag.IsNonSpecific || tag.Value == StringTag)
            {
                return true;
            }

            diagnostics.Error(Locate(at), CurrentPath(), $"YAML tag '{tag.Value}' is not supported; only !!str is allowed");
            return false;
        }

        private bool AcceptScalar(Scalar scalar)
        {
            if (!CountNodes(1, scalar.Start))
            {
                return false;
            }

            var forcedString = !scalar.Tag.IsEmpty && scalar.Tag.Value == StringTag;
            if (!CheckTag(scalar.Tag, scalar.Start))
            {
                return false;
            }

            var node = new YamlScalar(Locate(scalar.Start), scalar.Value, scalar.Style == ScalarStyle.Plain && !forcedString);
            return Add(node, scalar.Anchor.IsEmpty ? null : scalar.Anchor.Value);
        }

        private bool AcceptAlias(AnchorAlias alias)
        {
            if (!anchors.TryGetValue(alias.Value.Value, out var target))
            {
                diagnostics.Error(Locate(alias.Start), CurrentPath(),
                    $"alias '*{alias.Value.Value}' refers to no anchor defined before it");
                return false;
            }

            return CountNodes(target.Size, alias.Start) && Add(target, anchor: null);
        }

        private bool Open(NodeEvent start, AnchorName anchor, TagName tag, bool isMapping)
        {
            if (!CountNodes(1, start.Start) || !CheckTag(tag, start.Start))
            {
                return false;
            }

            if (frames.Count >= MaxDepth)
            {
                diagnostics.Error(Locate(start.Start), CurrentPath(),
                    $"nesting is deeper than {MaxDepth} levels; a policy never needs that");
                return false;
            }

            frames.Push(new Frame(Locate(start.Start), CurrentPath(), anchor.IsEmpty ? null : anchor.Value, isMapping));
            return true;
        }

        private bool Close()
        {
            var frame = frames.Pop();
            YamlNode node = frame.IsMapping
                ? new YamlMapping(frame.Location, Merge(frame))
                : new YamlSequence(frame.Location, frame.Items);
            return Add(node, frame.Anchor);
        }

        /// <summary>YAML merge keys (&lt;&lt;: *base): explicit keys win, then the merged mappings in order.</summary>
        private List<YamlEntry> Merge(Frame frame)
        {
            if (frame.Merges.Count == 0)
            {
                return frame.Entries;
            }

            var entries = new List<YamlEntry>(frame.Entries);
            var present = new HashSet<string>(entries.Select(e => e.Key.Value), StringComparer.Ordinal);
            foreach (var (_, source) in frame.Merges)
            {
                var sources = source switch
                {
                    YamlMapping mapping => [mapping],
                    YamlSequence sequence when sequence.Items.All(i => i is YamlMapping) => sequence.Items.Cast<YamlMapping>().ToList(),
                    _ => null,
                };
                if (sources is null)
                {
                    diagnostics.Error(source.Location, FieldPath.Child(frame.Path, MergeKey),
                        "a merge key (<<) takes a mapping or a sequence of mappings");
                    continue;
                }

                foreach (var entry in sources.SelectMany(m => m.Entries))
                {
                    if (present.Add(entry.Key.Value))
                    {
                        entries.Add(entry);
                    }
                }
            }

            return entries;
        }

        private bool Add(YamlNode node, string? anchor)
        {
            if (anchor is not null)
            {
                anchors[anchor] = node;
            }

            if (frames.Count == 0)
            {
                root = node;
                return true;
            }

            var frame = frames.Peek();
            if (!frame.IsMapping)
            {
                frame.Items.Add(node);
                return true;
            }

            if (frame.DropNextValue)
            {
                frame.DropNextValue = false;
                return true;
            }

            if (frame.PendingKey is null)
            {
                if (node is not YamlScalar key || key.IsNull)
                {
                    diagnostics.Error(node.Location, frame.Path,
                        node is YamlScalar ? "a key must not be empty" : $"a key must be a string, not {node.Describe()}");
                    frame.DropNextValue = true;
                    return true;
                }

                frame.PendingKey = key;
                return true;
            }

            var pendingKey = frame.PendingKey;
            frame.PendingKey = null;
            if (pendingKey.IsPlain && pendingKey.Value == MergeKey)
            {
                frame.Merges.Add((pendingKey, node));
                return true;
            }

            if (frame.EntriesByKey.TryGetValue(pendingKey.Value, out var first))
            {
                diagnostics.Error(pendingKey.Location, FieldPath.Child(frame.Path, pendingKey.Value),
                    $"duplicate key '{YamlScalar.Shorten(pendingKey.Value)}' (first defined at line {first.Key.Location.Line})");
                return true;
            }

            var entry = new YamlEntry(pendingKey, node);
            frame.Entries.Add(entry);
            frame.EntriesByKey.Add(pendingKey.Value, entry);
            return true;
        }
    }
}
