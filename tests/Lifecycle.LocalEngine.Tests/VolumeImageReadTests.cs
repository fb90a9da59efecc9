using Lifecycle.LocalEngine.Storage;
using Lifecycle.LocalEngine.Volumes;

namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// Reading image blocks for a snapshot: exact bytes, zeros past a short image's end even in a reused buffer, and the
/// mapping that serves whole blocks inside the file (the rest is read with pread).
/// </summary>
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

    [Fact]
    public void ImageMapping_ServesTheWholeBlocksInsideTheFile_AndNothingPastThem()
    {
        const int Block = BlockCodec.BlockSize;
        var content = new byte[2 * Block + Block / 2]; // two whole blocks and half of a third
        new Random(12).NextBytes(content);
        var path = Path.Combine(TestDirectory, "m.img");
        File.WriteAllBytes(path, content);
        using var volume = new VolumeRuntime("m", 4L * Block, path, path + ".cbt", path + ".hyd");

        using (var mapping = ImageMapping.TryCreate(volume, [0, 1, 2, 3]))
        {
            Assert.NotNull(mapping);
            Assert.Equal(2, mapping.Blocks);
            Assert.True(mapping.TryGetBlock(0, out var first));
            Assert.True(mapping.TryGetBlock(1, out var second));
            Assert.Equal(content[..Block], first.ToArray());
            Assert.Equal(content[Block..(2 * Block)], second.ToArray());
            Assert.False(mapping.TryGetBlock(2, out _)); // partly past the end: read with pread, zero-filled
            Assert.False(mapping.TryGetBlock(-1, out _));
        }

        File.WriteAllBytes(path, new byte[Block / 2]);
        volume.CloseImage();
        Assert.Null(ImageMapping.TryCreate(volume, [0, 1, 2, 3])); // no whole block to map
    }
}
