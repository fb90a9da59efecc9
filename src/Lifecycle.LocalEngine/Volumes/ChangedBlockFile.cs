using System.Buffers.Binary;
using System.Text;
using Lifecycle.LocalEngine.Storage;

namespace Lifecycle.LocalEngine.Volumes;

/// <summary>
/// The persisted changed-block map of a volume (<c>volumes/&lt;id&gt;.cbt</c>): blocks written since the base snapshot
/// started, and whether the map is trustworthy. The engine writes it with <c>clean=false</c> before its first
/// write to the image and with <c>clean=true</c> at an orderly close, so a map left by a crash (or an image changed
/// behind the engine's back, detected by its size and modification time) is not trusted and the next snapshot
/// hashes every block instead (correctness over speed).
/// </summary>
internal sealed record ChangedBlockFile(bool Clean, string? BaseSnapshotId, long ImageLength, long ImageWriteTicks, BlockBitmap Changed)
{
    private const uint Magic = 0x3154424C; // "LBT1"

    public static ChangedBlockFile? TryRead(string path, int blockCount)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var bytes = File.ReadAllBytes(path);
            var span = bytes.AsSpan();
            if (BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic)
            {
                return null;
            }

            var clean = span[4] == 1;
            var idLength = BinaryPrimitives.ReadInt32LittleEndian(span[5..]);
            var baseId = idLength > 0 ? Encoding.UTF8.GetString(span.Slice(9, idLength)) : null;
            var rest = span[(9 + idLength)..];
            var length = BinaryPrimitives.ReadInt64LittleEndian(rest);
            var ticks = BinaryPrimitives.ReadInt64LittleEndian(rest[8..]);
            var count = BinaryPrimitives.ReadInt32LittleEndian(rest[16..]);
            if (count != blockCount)
            {
                return null;
            }

            return new ChangedBlockFile(clean, baseId, length, ticks, BlockBitmap.FromBytes(count, rest[20..]));
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidDataException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    public void Write(string path)
    {
        var id = Encoding.UTF8.GetBytes(BaseSnapshotId ?? "");
        var bitmap = Changed.ToBytes();
        var bytes = new byte[9 + id.Length + 20 + bitmap.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        span[4] = Clean ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32LittleEndian(span[5..], id.Length);
        id.CopyTo(span[9..]);
        var rest = span[(9 + id.Length)..];
        BinaryPrimitives.WriteInt64LittleEndian(rest, ImageLength);
        BinaryPrimitives.WriteInt64LittleEndian(rest[8..], ImageWriteTicks);
        BinaryPrimitives.WriteInt32LittleEndian(rest[16..], Changed.Count);
        bitmap.CopyTo(rest[20..]);
        DurableFile.WriteAllBytes(path, bytes);
    }
}
