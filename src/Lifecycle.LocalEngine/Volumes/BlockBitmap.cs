namespace Lifecycle.LocalEngine.Volumes;

/// <summary>A fixed-size set of block indexes.</summary>
internal sealed class BlockBitmap
{
    private readonly ulong[] _words;

    public BlockBitmap(int count)
    {
        Count = count;
        _words = new ulong[(count + 63) / 64];
    }

    public int Count { get; }

    public bool this[int index]
    {
        get => (_words[index >> 6] & (1UL << (index & 63))) != 0;
        set
        {
            if (value)
            {
                _words[index >> 6] |= 1UL << (index & 63);
            }
            else
            {
                _words[index >> 6] &= ~(1UL << (index & 63));
            }
        }
    }

    public static BlockBitmap All(int count)
    {
        var bitmap = new BlockBitmap(count);
        for (var i = 0; i < count; i++)
        {
            bitmap[i] = true;
        }

        return bitmap;
    }

    public BlockBitmap Clone()
    {
        var copy = new BlockBitmap(Count);
        _words.CopyTo(copy._words, 0);
        return copy;
    }

    public int PopCount() => _words.Sum(w => System.Numerics.BitOperations.PopCount(w));

    public bool IsFull => PopCount() == Count;

    public IEnumerable<int> SetIndexes()
    {
        for (var i = 0; i < Count; i++)
        {
            if (this[i])
            {
                yield return i;
            }
        }
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[_words.Length * 8];
        Buffer.BlockCopy(_words, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    public static BlockBitmap FromBytes(int count, ReadOnlySpan<byte> bytes)
    {
        var bitmap = new BlockBitmap(count);
        if (bytes.Length != bitmap._words.Length * 8)
        {
            throw new InvalidDataException($"bitmap of {bytes.Length} bytes does not fit {count} blocks");
        }

        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes).CopyTo(bitmap._words);
        return bitmap;
    }
}
