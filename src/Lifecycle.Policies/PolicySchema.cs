using Lifecycle.Policies.Schema;

namespace Lifecycle.Policies;

/// <summary>The published JSON Schema of the policy language (policies/lifecycle-policy.schema.json).</summary>
public static class PolicySchema
{
    /// <summary>The schema text, generated from the language description; identical on every call.</summary>
    public static string Generate() => JsonSchemaGenerator.Generate();
}
