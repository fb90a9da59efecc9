using System.Text.Json;
using System.Text.Json.Serialization;

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
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
