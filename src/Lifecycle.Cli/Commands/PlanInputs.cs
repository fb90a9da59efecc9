using System.Globalization;
using Lifecycle.Core.Inventory;
using Lifecycle.Core.Policies;
using Lifecycle.Policies;

namespace Lifecycle.Cli.Commands;

/// <summary>What <c>plan</c> and <c>simulate</c> read: a policy directory and an inventory file, with their errors printed.</summary>
internal static class PlanInputs
{
    public const int Ok = 0;
    public const int Invalid = 1;
    public const int UsageError = 2;

    /// <summary>Loads policies and inventory; on failure prints located errors to <paramref name="stderr"/> and returns the exit code.</summary>
    public static int TryLoad(string? policiesPath, string? inventoryPath, TextWriter stderr, out PolicySet policies, out Inventory inventory)
    {
        policies = PolicySet.Empty;
        inventory = Inventory.Empty;
        if (string.IsNullOrEmpty(policiesPath) || string.IsNullOrEmpty(inventoryPath))
        {
            stderr.WriteLine($"error: {(string.IsNullOrEmpty(policiesPath) ? "--policies DIR" : "--inventory FILE")} is required");
            return UsageError;
        }

        if (!File.Exists(policiesPath) && !Directory.Exists(policiesPath))
        {
            stderr.WriteLine($"error: {policiesPath}: no such file or directory");
            return UsageError;
        }

        if (!File.Exists(inventoryPath))
        {
            stderr.WriteLine($"error: {inventoryPath}: no such file");
            return UsageError;
        }

        var loaded = PolicyLoader.Load([policiesPath]);
        foreach (var diagnostic in loaded.Diagnostics)
        {
            stderr.WriteLine(diagnostic.ToString());
        }

        if (loaded.HasErrors)
        {
            stderr.WriteLine($"error: the policies in {policiesPath} are not valid; nothing was planned");
            return Invalid;
        }

        try
        {
            using var stream = File.OpenRead(inventoryPath);
            inventory = InventoryJson.ReadAsync(stream, inventoryPath).GetAwaiter().GetResult();
        }
        catch (InventoryFormatException e)
        {
            stderr.WriteLine(e.Message);
            return Invalid;
        }

        policies = loaded.Policies;
        return Ok;
    }

    /// <summary>Parses an ISO 8601 instant; without an offset it is taken as UTC.</summary>
    public static bool TryParseInstant(string text, out DateTimeOffset instant) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out instant);
}
