using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Lifecycle.Core.Planning;

namespace Lifecycle.Scheduling;

/// <summary>The JSON options of everything this project stores or serves: camelCase, enums as kebab-case strings.</summary>
public static class SchedulingJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            // A stored action's payload (written and read once per action, a thousand per fire) is described by code
            // compiled with the project, not by reflection: the reflection resolver emits accessors and compiles its
            // generic metadata at the first use, in the first fire after a start. Everything else still resolves by
            // reflection; names and enum strings come from these options either way.
            TypeInfoResolver = JsonTypeInfoResolver.Combine(SchedulingJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
        options.MakeReadOnly();
        return options;
    }
}

/// <summary>Compiled JSON metadata of the types stored once per action (see <see cref="SchedulingJson"/>).</summary>
[JsonSerializable(typeof(PlannedAction))]
internal sealed partial class SchedulingJsonContext : JsonSerializerContext;
