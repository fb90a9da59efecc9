namespace Lifecycle.LocalEngine.Tests;

/// <summary>
/// Payloads written by the engine's native codecs (liblz4 1.9.4, libzstd 1.5.4, through the bindings it used before
/// ZstdSharp and K4os) over <see cref="Block"/>, checked in under <c>Fixtures/Codec</c>, so every later build proves it
/// still reads what those versions stored, whatever libraries the machine has.
/// </summary>
internal static class CodecFixtures
{
    public const string Lz4BlockChecksum = "lz4-block-checksum.lz4";    // the frames written since the block checksum
    public const string Lz4ContentChecksum = "lz4-content-checksum.lz4"; // the frames written before it
    public const string ZstdLevel1 = "zstd-level1-checksum.zst";          // zstd level 1 with a content checksum

    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Codec", name);

    /// <summary>
    /// The 512 KiB block the fixtures hold: 64 pages of 8 KiB, each a random header, a shared run of log lines with a
    /// random number per line, and zeros; compressible like a disk block, yet small when compressed.
    /// </summary>
    public static byte[] Block()
    {
        var random = new Random(2026);
        var block = new byte[512 * 1024];
        var lines = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 40).Select(i => $"2026-01-01T00:00:{i:00}Z INFO request {i} ok\n")));
        for (var page = 0; page < 64; page++)
        {
            var at = page * 8192;
            random.NextBytes(block.AsSpan(at, 64));
            lines.CopyTo(block, at + 64);
            for (var line = 0; line < 40; line++)
            {
                block[at + 64 + line * 36 + 20] = (byte)('0' + random.Next(10));
            }
        }

        return block;
    }
}
