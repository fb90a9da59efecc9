using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lifecycle.Core.Providers;

namespace Lifecycle.LocalEngine.Encryption;

/// <summary>
/// Encryption keys of the local engine, kept in a JSON file outside the data directory:
/// <c>{ "defaultKey": "key-1", "keys": [ { "id": "key-1", "material": "&lt;base64 of 32 bytes&gt;" } ] }</c>.
/// Each key yields two derived keys: one for AES-256-GCM, one for the HMAC that names encrypted blocks.
/// </summary>
public sealed class KeyRing
{
    private readonly Dictionary<string, BlockKey> _keys;

    private KeyRing(string? defaultKeyId, Dictionary<string, BlockKey> keys)
    {
        DefaultKeyId = defaultKeyId;
        _keys = keys;
    }

    public static KeyRing Empty { get; } = new(null, []);

    public string? DefaultKeyId { get; }

    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    internal BlockKey Get(string keyId) =>
        _keys.TryGetValue(keyId, out var key)
            ? key
            : throw ProviderException.NotFound("InvalidKeyId.NotFound", $"key '{keyId}' is not in the key ring");

    /// <summary>The key to encrypt with: the named one, or the ring's default when null.</summary>
    internal BlockKey Resolve(string? keyId) =>
        Get(keyId ?? DefaultKeyId ?? throw ProviderException.InvalidParameter(
            "encryption was requested but the key ring has no default key (pass a key id or configure --key-ring)"));

    public static KeyRing Load(string path)
    {
        KeyRingFile? file;
        try
        {
            file = JsonSerializer.Deserialize<KeyRingFile>(File.ReadAllBytes(path), FileOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: error: {e.Path}: {e.Message}", e);
        }

        if (file is null)
        {
            throw new InvalidDataException($"{path}:1:1: error: key ring: the file is empty");
        }

        var keys = new Dictionary<string, BlockKey>(StringComparer.Ordinal);
        for (var i = 0; i < file.Keys.Count; i++)
        {
            var entry = file.Keys[i];
            byte[] material;
            try
            {
                material = Convert.FromBase64String(entry.Material);
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"{path}: error: keys[{i}].material: not base64");
            }

            if (material.Length != 32)
            {
                throw new InvalidDataException($"{path}: error: keys[{i}].material: must be 32 bytes, is {material.Length}");
            }

            if (!keys.TryAdd(entry.Id, new BlockKey(entry.Id, material)))
            {
                throw new InvalidDataException($"{path}: error: keys[{i}].id: duplicate key id '{entry.Id}'");
            }
        }

        if (file.DefaultKey is not null && !keys.ContainsKey(file.DefaultKey))
        {
            throw new InvalidDataException($"{path}: error: defaultKey: '{file.DefaultKey}' is not one of the keys");
        }

        return new KeyRing(file.DefaultKey, keys);
    }

    /// <summary>Creates a key ring file with one fresh random key (mode 0600), or adds a key to an existing one.</summary>
    public static void AddKey(string path, string keyId, bool makeDefault = true)
    {
        var file = File.Exists(path)
            ? JsonSerializer.Deserialize<KeyRingFile>(File.ReadAllBytes(path), FileOptions) ?? new KeyRingFile()
            : new KeyRingFile();
        if (file.Keys.Any(k => k.Id == keyId))
        {
            throw new InvalidOperationException($"key '{keyId}' already exists in {path}");
        }

        file.Keys.Add(new KeyRingEntry { Id = keyId, Material = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        if (makeDefault || file.DefaultKey is null)
        {
            file.DefaultKey = keyId;
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(file, FileOptions);
        Storage.DurableFile.WriteAllBytes(path, bytes);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static readonly JsonSerializerOptions FileOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private sealed class KeyRingFile
    {
        public string? DefaultKey { get; set; }

        public List<KeyRingEntry> Keys { get; set; } = [];
    }

    private sealed class KeyRingEntry
    {
        public string Id { get; set; } = "";

        public string Material { get; set; } = "";
    }
}

/// <summary>A key's derived secrets: AES-256-GCM for block payloads, HMAC-SHA256 for block ids.</summary>
internal sealed class BlockKey
{
    public BlockKey(string id, byte[] material)
    {
        Id = id;
        EncryptionKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, material, 32, info: Encoding.ASCII.GetBytes("lifecycle block encryption v1"));
        IdKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, material, 32, info: Encoding.ASCII.GetBytes("lifecycle block id v1"));
    }

    public string Id { get; }

    public byte[] EncryptionKey { get; }

    public byte[] IdKey { get; }
}
