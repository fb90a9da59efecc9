using System.Runtime.InteropServices;

namespace Lifecycle.LocalEngine.Storage;

/// <summary>Loads the first of a system library's names that exists and binds its exports.</summary>
internal static class NativeBinding
{
    /// <summary>
    /// Returns the bound functions of the first library among <paramref name="names"/> that loads and has every
    /// export <paramref name="bind"/> asks for; null when none does (missing, or too old a version).
    /// </summary>
    public static T? TryLoad<T>(IEnumerable<string> names, Func<nint, T> bind)
        where T : class
    {
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var library))
            {
                continue;
            }

            try
            {
                return bind(library);
            }
            catch (EntryPointNotFoundException)
            {
                // an older version without one of the exports: try the next name, else treat as missing
            }
        }

        return null;
    }
}
