using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>Reading image blocks for a snapshot: exact bytes, and zeros past a short image's end even in a reused buffer.</summary>
public sealed class VolumeImageReadTests() : TempDirectoryTest("lifecycle-image-")
{
    [Fact]
    public void ReadImageBlock_ReturnsTheImageBytes_AndZerosPastAShortImagesEnd_OverwritingWhatTheBufferHeld()
    {
        const int Block = BlockCodec.BlockSize;
        var content = new byte[Block + Block / 3]; // the second block is cut short, as an image file whose tail was never written
        new Random(11).NextBytes(content);
        var path = Path.Combine(TestDirectory, "v.img");
        File.WriteAllBytes(path, content);
        using var volume = new VolumeRuntime("v", 2L * Block, path, path + ".cbt", path + ".hyd");
        var buffer = new byte[Block];

        Array.Fill(buffer, (byte)0xAB); // a pooled buffer still holding an earlier block
        volume.ReadImageBlock(0, buffer);
        Assert.Equal(content[..Block], buffer);

        Array.Fill(buffer, (byte)0xAB);
        volume.ReadImageBlock(1, buffer);
        Assert.Equal(content[Block..], buffer[..(Block / 3)]);
        Assert.False(buffer.AsSpan(Block / 3).ContainsAnyExcept((byte)0), "the part past the image's end must read as zeros");
    }
}
