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

/// <summary>A native library context (zstd's CCtx/DCtx, LZ4's decompression context), freed with the library's own function.</summary>
internal sealed unsafe class NativeContext : SafeHandle
{
    private readonly delegate* unmanaged<nint, nuint> _free;

    /// <param name="native">The context; 0 (the library could not allocate one) throws <see cref="OutOfMemoryException"/>.</param>
    public NativeContext(nint native, delegate* unmanaged<nint, nuint> free, string library)
        : base(0, ownsHandle: true)
    {
        if (native == 0)
        {
            throw new OutOfMemoryException($"{library} could not allocate a context");
        }

        SetHandle(native);
        _free = free;
    }

    public nint Handle => handle;

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        _free(handle);
        return true;
    }
}
