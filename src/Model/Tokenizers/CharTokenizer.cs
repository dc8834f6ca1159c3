using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model.Checkpoints;

namespace Engine.Model.Tokenizers;

/// <summary>
/// One token per character (Unicode code point) of a fixed alphabet; id i is the i-th character in
/// ordinal order. It is saved in a model directory as <c>char-tokenizer.json</c>:
/// <code>{"type": "char", "version": 1, "chars": ["\n", " ", "a", "b", …]}</code>
/// where <c>chars</c> lists the alphabet in id order, each entry exactly one code point, none repeated.
/// Runs written before that name was chosen hold the same format as <c>tokenizer.json</c>, which is still read
/// (<see cref="LegacyFileName"/>); it is never written, since that name belongs to Hugging Face's format.
/// </summary>
public sealed class CharTokenizer : IUtf8Tokenizer
{
    /// <summary>The file name in a model directory.</summary>
    public const string FileName = "char-tokenizer.json";

    /// <summary>The name older runs gave the same file; read when it holds the char format, never written.</summary>
    public const string LegacyFileName = "tokenizer.json";

    /// <summary>The value of the <c>type</c> field.</summary>
    public const string TypeName = "char";

    readonly Rune[] _symbols;
    readonly byte[][] _utf8;
    readonly Dictionary<Rune, int> _ids = [];

    /// <summary>A tokenizer over <paramref name="chars"/> in the given order (each exactly one code point, none repeated).</summary>
    public CharTokenizer(IEnumerable<string> chars)
    {
        ArgumentNullException.ThrowIfNull(chars);
        var symbols = new List<Rune>();
        foreach (string c in chars)
        {
            if (c is null || Rune.DecodeFromUtf16(c, out var rune, out int used) != System.Buffers.OperationStatus.Done || used != c.Length)
                throw new ArgumentException($"char tokenizer: entry {symbols.Count} ({Describe(c)}) is not exactly one character", nameof(chars));
            if (!_ids.TryAdd(rune, symbols.Count))
                throw new ArgumentException($"char tokenizer: character {Describe(c)} is listed twice", nameof(chars));
            symbols.Add(rune);
        }
        _symbols = [.. symbols];
        _utf8 = [.. symbols.Select(r => Encoding.UTF8.GetBytes(r.ToString()))];
    }

    /// <summary>The alphabet of <paramref name="text"/>: its distinct characters in ordinal order.</summary>
    public static CharTokenizer FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Tokenizer.RequireWellFormed(text, "char tokenizer");
        var distinct = new SortedSet<Rune>();
        foreach (var r in text.EnumerateRunes()) distinct.Add(r);
        return new CharTokenizer(distinct.Select(r => r.ToString()));
    }

    /// <summary>The alphabet in id order.</summary>
    public IReadOnlyList<string> Chars => _symbols.Select(r => r.ToString()).ToArray();

    /// <inheritdoc/>
    public int VocabSize => _symbols.Length;

    /// <inheritdoc/>
    public int? EosId => null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Tokenizer.RequireWellFormed(text, "char tokenizer");
        var ids = new List<int>(text.Length);
        int position = 0;
        foreach (var r in text.EnumerateRunes())
        {
            if (!_ids.TryGetValue(r, out int id))
                throw new ArgumentException($"char tokenizer: character {Describe(r.ToString())} at position {position} is not in the alphabet",
                    nameof(text));
            ids.Add(id);
            position += r.Utf16SequenceLength;
        }
        return [.. ids];
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length);
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)_symbols.Length)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"char tokenizer: id at position {i} is outside [0, {_symbols.Length})");
            sb.Append(_symbols[ids[i]].ToString());
        }
        return sb.ToString();
    }

    ReadOnlySpan<byte> IUtf8Tokenizer.TokenBytes(int id) => (uint)id < (uint)_utf8.Length ? _utf8[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"char tokenizer: the id is outside [0, {_symbols.Length})");

    /// <summary>Writes <c>char-tokenizer.json</c> into <paramref name="directory"/> (atomically).</summary>
    public void Save(string directory)
    {
        var json = new JsonObject
        {
            ["type"] = TypeName,
            ["version"] = 1,
            ["chars"] = new JsonArray(_symbols.Select(r => (JsonNode?)JsonValue.Create(r.ToString())).ToArray()),
        };
        Directory.CreateDirectory(directory);
        AtomicFile.WriteText(Path.Combine(directory, FileName), json.ToJsonString() + "\n");
    }

    /// <summary>Reads a tokenizer written by <see cref="Save"/> from the file <paramref name="path"/>.</summary>
    public static CharTokenizer Load(string path) => Parse(path, InputFile.ReadAllText(path, "char tokenizer"));

    /// <summary>
    /// Reads the char tokenizer that <paramref name="directory"/> holds: <c>char-tokenizer.json</c>, or, in a run written
    /// before that name, <c>tokenizer.json</c> in the char format.
    /// </summary>
    public static CharTokenizer LoadFromDirectory(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string legacy = Path.Combine(directory, LegacyFileName);
        return Load(File.Exists(path) || !File.Exists(legacy) ? path : legacy);
    }

    /// <summary>The text of a char tokenizer file, <paramref name="path"/>, as its tokenizer; every error names it as a char tokenizer.</summary>
    internal static CharTokenizer Parse(string path, string text)
    {
        using var doc = Tokenizer.ParseJson(path, text, "char tokenizer");
        return IsCharFormat(doc.RootElement) ? FromJson(path, doc.RootElement)
            : throw new CheckpointException($"char tokenizer {path}: not a tokenizer of type \"{TypeName}\"");
    }

    /// <summary>Whether <paramref name="root"/> says it is a char tokenizer: an object whose <c>type</c> is "char".</summary>
    internal static bool IsCharFormat(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
        && type.ValueEquals(TypeName);

    /// <summary>The tokenizer of <paramref name="root"/>, a file of the char format (<see cref="IsCharFormat"/>).</summary>
    internal static CharTokenizer FromJson(string path, JsonElement root)
    {
        try
        {
            return Read(path, JsonObject.Create(root)!);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json reports text it cannot decode (a lone surrogate) this way.
            throw new CheckpointException($"char tokenizer {path}: {e.Message}", e);
        }
    }

    static CharTokenizer Read(string path, JsonObject obj)
    {
        if (obj["version"] is JsonValue v && (!v.TryGetValue(out int version) || version != 1))
            throw new CheckpointException($"char tokenizer {path}: unsupported 'version' {v.ToJsonString()}");
        if (obj["chars"] is not JsonArray chars) throw new CheckpointException($"char tokenizer {path}: missing 'chars' list");
        var list = new List<string>(chars.Count);
        foreach (var c in chars)
        {
            if (c is not JsonValue cv || !cv.TryGetValue(out string? s))
                throw new CheckpointException($"char tokenizer {path}: 'chars' entry {list.Count} is not a string: {c?.ToJsonString() ?? "null"}");
            list.Add(s);
        }
        try
        {
            return new CharTokenizer(list);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"char tokenizer {path}: {e.Message}", e);
        }
    }

    static string Describe(string? c)
    {
        if (c is null) return "null";
        // A control character (a newline) would break the one-line message: only its code point is shown.
        var sb = new StringBuilder(c.Any(char.IsControl) ? "(" : "'" + c + "' (");
        bool first = true;
        foreach (var r in c.EnumerateRunes())
        {
            sb.Append(first ? "U+" : " U+").Append(r.Value.ToString("X4", CultureInfo.InvariantCulture));
            first = false;
        }
        return sb.Append(')').ToString();
    }
}
