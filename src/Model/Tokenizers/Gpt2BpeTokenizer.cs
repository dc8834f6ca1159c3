using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Model.Checkpoints;

namespace Engine.Model.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE, read from its <c>vocab.json</c> (token → id) and <c>merges.txt</c> (one merge
/// "a b" per line, highest priority first). Encoding splits the text on <c>&lt;|endoftext|&gt;</c> (when the
/// vocabulary has it), pre-tokenizes each piece with GPT-2's regex, maps each piece's UTF-8 bytes to
/// printable characters (GPT-2's bytes→unicode table, so a space is <c>Ġ</c>), and merges adjacent symbols
/// by rank until no ranked pair is left. Results are cached per piece.
/// <para>.NET's regex classifies UTF-16 code units, so a letter or digit outside the Basic Multilingual Plane
/// is pre-tokenized as punctuation, where Python's <c>regex</c> would call it a letter; the ids of such
/// (rare) text can then differ from GPT-2's, though decoding still round-trips.</para>
/// </summary>
public sealed partial class Gpt2BpeTokenizer : ITokenizer
{
    /// <summary>The vocabulary file name in a model directory.</summary>
    public const string VocabFileName = "vocab.json";

    /// <summary>The merges file name in a model directory.</summary>
    public const string MergesFileName = "merges.txt";

    /// <summary>GPT-2's end-of-text token.</summary>
    public const string EndOfText = "<|endoftext|>";

    const int CacheLimit = 100_000;

    static readonly char[] s_byteToChar = BuildByteTable();
    static readonly Dictionary<char, byte> s_charToByte = Enumerable.Range(0, 256).ToDictionary(b => s_byteToChar[b], b => (byte)b);

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<(string, string), int> _ranks = [];
    readonly Dictionary<int, byte[]> _tokenBytes = [];
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex PreTokenizer();

    /// <summary>A tokenizer from a vocabulary (token → id; ids unique and non-negative) and merges in priority order.</summary>
    public Gpt2BpeTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        ArgumentNullException.ThrowIfNull(merges);
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        int max = -1;
        foreach (var (token, id) in _vocab)
        {
            if (id < 0) throw new ArgumentException($"bpe: token '{token}' has id {id}, which is negative", nameof(vocab));
            if (!_tokenBytes.TryAdd(id, TokenBytes(token)))
                throw new ArgumentException($"bpe: id {id} is given to more than one token (one is '{token}')", nameof(vocab));
            max = Math.Max(max, id);
        }
        VocabSize = max + 1;
        int rank = 0;
        foreach (var (left, right) in merges) _ranks[(left, right)] = rank++; // as GPT-2's dict(zip(merges, range)): a repeat keeps its last rank
        EosId = _vocab.TryGetValue(EndOfText, out int eos) ? eos : null;
    }

    /// <summary>Reads <c>vocab.json</c> and <c>merges.txt</c> from <paramref name="directory"/>.</summary>
    public static Gpt2BpeTokenizer Load(string directory) =>
        Load(Path.Combine(directory, VocabFileName), Path.Combine(directory, MergesFileName));

    /// <summary>Reads a vocabulary file and a merges file.</summary>
    public static Gpt2BpeTokenizer Load(string vocabPath, string mergesPath)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(InputFile.ReadAllText(vocabPath, "gpt2 vocabulary"), InputFile.StrictJson());
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"bpe vocab {vocabPath}: not a JSON object");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                    throw new CheckpointException($"bpe vocab {vocabPath}: token '{p.Name}' has a non-integer id {p.Value.GetRawText()}");
                if (!vocab.TryAdd(p.Name, id)) throw new CheckpointException($"bpe vocab {vocabPath}: token '{p.Name}' is listed twice");
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"bpe vocab {vocabPath}: not valid JSON: {e.Message}", e);
        }

        var merges = new List<(string, string)>();
        int lineNumber = 0;
        InputFile.Check(mergesPath, "gpt2 merges");
        foreach (string line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new CheckpointException($"bpe merges {mergesPath}: line {lineNumber} is not two symbols separated by one space: '{line}'");
            merges.Add((parts[0], parts[1]));
        }
        try
        {
            return new Gpt2BpeTokenizer(vocab, merges);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"bpe vocab {vocabPath}: {e.Message}", e);
        }
    }

    /// <summary>GPT-2's table from each byte to the printable character that stands for it in tokens.</summary>
    public static IReadOnlyList<char> ByteToChar => s_byteToChar;

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <summary>Number of merges.</summary>
    public int MergeCount => _ranks.Count;

    /// <summary>The id of <paramref name="token"/> (in its byte-mapped spelling, e.g. <c>Ġthe</c>), or null.</summary>
    public int? TokenId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (EosId is int eos)
        {
            int start = 0;
            for (int at; (at = text.IndexOf(EndOfText, start, StringComparison.Ordinal)) >= 0; start = at + EndOfText.Length)
            {
                EncodeOrdinary(text.AsSpan(start, at - start), ids);
                ids.Add(eos);
            }
            EncodeOrdinary(text.AsSpan(start), ids);
        }
        else
        {
            EncodeOrdinary(text, ids);
        }
        return [.. ids];
    }

    void EncodeOrdinary(ReadOnlySpan<char> text, List<int> ids)
    {
        var buffer = new byte[256];
        var mapped = new StringBuilder();
        foreach (var match in PreTokenizer().EnumerateMatches(text))
        {
            var piece = text.Slice(match.Index, match.Length);
            int byteCount = Encoding.UTF8.GetByteCount(piece);
            if (byteCount > buffer.Length) buffer = new byte[byteCount];
            Encoding.UTF8.GetBytes(piece, buffer);
            mapped.Clear();
            foreach (byte b in buffer.AsSpan(0, byteCount)) mapped.Append(s_byteToChar[b]);
            ids.AddRange(Bpe(mapped.ToString()));
        }
    }

    /// <summary>The ids of one pre-token (already mapped to byte characters), merging the lowest-ranked adjacent pair first.</summary>
    int[] Bpe(string word)
    {
        if (_cache.TryGetValue(word, out var cached)) return cached;
        var symbols = new List<string>(word.Length);
        foreach (char c in word) symbols.Add(c.ToString());
        while (symbols.Count > 1)
        {
            int best = int.MaxValue;
            (string, string) pair = default;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out int r) && r < best)
                {
                    best = r;
                    pair = (symbols[i], symbols[i + 1]);
                }
            if (best == int.MaxValue) break;
            // Merge every occurrence of the pair, left to right, as GPT-2's bpe() does.
            var merged = new List<string>(symbols.Count);
            for (int i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == pair.Item1 && symbols[i + 1] == pair.Item2)
                {
                    merged.Add(pair.Item1 + pair.Item2);
                    i++;
                }
                else
                {
                    merged.Add(symbols[i]);
                }
            }
            symbols = merged;
        }
        var ids = new int[symbols.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (!_vocab.TryGetValue(symbols[i], out ids[i]))
                throw new ArgumentException($"bpe: symbol '{symbols[i]}' (from text '{Unmap(word)}') is not in the vocabulary");
        }
        if (_cache.Count >= CacheLimit) _cache.Clear();
        _cache[word] = ids;
        return ids;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (!_tokenBytes.TryGetValue(id, out var b))
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"bpe: id at position {i} is not in the vocabulary");
            bytes.AddRange(b);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>The bytes a token stands for: each character through the byte table, or (for added tokens with other characters) its UTF-8.</summary>
    static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!s_charToByte.TryGetValue(token[i], out bytes[i])) return Encoding.UTF8.GetBytes(token);
        }
        return bytes;
    }

    static string Unmap(string word) => Encoding.UTF8.GetString(TokenBytes(word));

    /// <summary>
    /// GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    /// themselves; the other 68 bytes, in order, take the characters from U+0100 on.
    /// </summary>
    static char[] BuildByteTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }
}
