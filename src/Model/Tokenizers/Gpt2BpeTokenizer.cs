using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Engine.Model.Checkpoints;

namespace Engine.Model.Tokenizers;

/// <summary>
/// Byte-level BPE as GPT-2 defines it, the one implementation behind both of its file formats: GPT-2's own
/// <c>vocab.json</c> (token → id) with <c>merges.txt</c> (one merge "a b" per line, highest priority first), and a
/// Hugging Face <c>tokenizer.json</c> (<see cref="LoadTokenizerJson"/>). Encoding first splits the text on the added
/// tokens (leftmost, then longest, match), pre-tokenizes each piece between them with GPT-2's pattern (letters and
/// digits outside the Basic Multilingual Plane count as letters and digits, as in tiktoken), maps each pre-token's
/// UTF-8 bytes to printable characters (GPT-2's bytes→unicode table, so a space is <c>Ġ</c>), and merges adjacent
/// symbols by rank until no ranked pair is left. Results are cached per pre-token.
/// </summary>
public sealed partial class Gpt2BpeTokenizer : IUtf8Tokenizer
{
    /// <summary>The vocabulary file name in a model directory.</summary>
    public const string VocabFileName = "vocab.json";

    /// <summary>The merges file name in a model directory.</summary>
    public const string MergesFileName = "merges.txt";

    /// <summary>GPT-2's end-of-text token.</summary>
    public const string EndOfText = "<|endoftext|>";

    const int CacheLimit = 100_000;

    /// <summary>The largest id a vocabulary may use (ids index an array; real vocabularies stay far below it).</summary>
    public const int MaxId = (1 << 24) - 1;

    static readonly char[] s_byteToChar = BuildByteTable();
    static readonly Dictionary<char, byte> s_charToByte = Enumerable.Range(0, 256).ToDictionary(b => s_byteToChar[b], b => (byte)b);

    readonly Dictionary<string, int> _vocab;
    /// <summary>(left id, right id) packed in a long → the merge's rank and the id of the merged token.</summary>
    readonly Dictionary<long, (int Rank, int Merged)> _merges = [];
    /// <summary>The id of each byte's one-character token; -1 where the vocabulary has none.</summary>
    readonly int[] _byteIds = new int[256];
    readonly byte[]?[] _tokenBytes;
    readonly (string Content, int Id)[] _addedTokens;
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    int _cacheSize;

    /// <summary>
    /// A tokenizer from a vocabulary (token → id; ids unique and non-negative), merges in priority order (both sides and
    /// their concatenation must be tokens), and the added tokens matched in the text before pre-tokenization (content → id;
    /// null means <see cref="EndOfText"/> alone, when the vocabulary has it, as GPT-2's files imply). Added tokens missing
    /// from <paramref name="vocab"/> join it.
    /// </summary>
    public Gpt2BpeTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges,
        IEnumerable<(string Content, int Id)>? addedTokens = null)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        ArgumentNullException.ThrowIfNull(merges);
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _addedTokens = addedTokens is null
            ? _vocab.TryGetValue(EndOfText, out int endOfText) ? [(EndOfText, endOfText)] : []
            : [.. addedTokens];
        var addedContents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (content, id) in _addedTokens)
        {
            if (string.IsNullOrEmpty(content)) throw new ArgumentException($"bpe: added token with id {id} is empty", nameof(addedTokens));
            if (!addedContents.Add(content)) throw new ArgumentException($"bpe: added token '{content}' is listed twice", nameof(addedTokens));
            if (_vocab.TryGetValue(content, out int existing) && existing != id)
                throw new ArgumentException($"bpe: added token '{content}' has id {id}, but the vocabulary gives it id {existing}",
                    nameof(addedTokens));
            _vocab[content] = id;
        }

        var tokens = new Dictionary<int, string>();
        foreach (var (token, id) in _vocab)
        {
            if (id < 0) throw new ArgumentException($"bpe: token '{token}' has id {id}, which is negative", nameof(vocab));
            if (id > MaxId) throw new ArgumentException($"bpe: token '{token}' has id {id}, past the largest supported id {MaxId}", nameof(vocab));
            if (!tokens.TryAdd(id, token))
                throw new ArgumentException($"bpe: id {id} is given to more than one token ('{tokens[id]}' and '{token}')", nameof(vocab));
        }
        VocabSize = tokens.Count == 0 ? 0 : tokens.Keys.Max() + 1;
        _tokenBytes = new byte[VocabSize][];
        foreach (var (id, token) in tokens) _tokenBytes[id] = TokenBytes(token);
        for (int b = 0; b < 256; b++) _byteIds[b] = _vocab.TryGetValue(s_byteToChar[b].ToString(), out int id) ? id : -1;

        int rank = 0;
        foreach (var (left, right) in merges)
        {
            if (!_vocab.TryGetValue(left, out int l) || !_vocab.TryGetValue(right, out int r) || !_vocab.TryGetValue(left + right, out int m))
                throw new ArgumentException($"bpe: merge {rank} '{left} {right}' uses or makes a token that is not in the vocabulary",
                    nameof(merges));
            _merges[Pair(l, r)] = (rank++, m); // as GPT-2's dict(zip(merges, range)): a repeat keeps its last rank
        }
        EosId = _vocab.TryGetValue(EndOfText, out int eos) ? eos : null;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Reads <c>vocab.json</c> and <c>merges.txt</c> from <paramref name="directory"/>.</summary>
    public static Gpt2BpeTokenizer Load(string directory) =>
        Load(Path.Combine(directory, VocabFileName), Path.Combine(directory, MergesFileName));

    /// <summary>Reads a vocabulary file and a merges file.</summary>
    public static Gpt2BpeTokenizer Load(string vocabPath, string mergesPath) =>
        Parse(vocabPath, InputFile.ReadAllText(vocabPath, "gpt2 vocabulary"), mergesPath, InputFile.ReadAllText(mergesPath, "gpt2 merges"));

    /// <summary>The tokenizer of a vocabulary file's text and a merges file's; errors name the files.</summary>
    internal static Gpt2BpeTokenizer Parse(string vocabPath, string vocabText, string mergesPath, string mergesText)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(vocabText, InputFile.StrictJson());
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
        catch (InvalidOperationException e)
        {
            // System.Text.Json reports a string it cannot decode (an escaped lone surrogate) this way.
            throw new CheckpointException($"bpe vocab {vocabPath}: {e.Message}", e);
        }

        var merges = new List<(string, string)>();
        int lineNumber = 0;
        foreach (string line in mergesText.ReplaceLineEndings("\n").Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            merges.Add(SplitMerge(line) ?? throw new CheckpointException(
                $"bpe merges {mergesPath}: line {lineNumber} is not two symbols separated by one space: '{line}'"));
        }
        try
        {
            return new Gpt2BpeTokenizer(vocab, merges);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"bpe {vocabPath} and {mergesPath}: {e.Message}", e);
        }
    }

    /// <summary>"a b" → (a, b); null unless the line is exactly two non-empty symbols around one space.</summary>
    internal static (string, string)? SplitMerge(string line)
    {
        var parts = line.Split(' ');
        return parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0 ? (parts[0], parts[1]) : null;
    }

    /// <summary>GPT-2's table from each byte to the printable character that stands for it in tokens.</summary>
    public static IReadOnlyList<char> ByteToChar => s_byteToChar;

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <summary>Number of distinct merges.</summary>
    public int MergeCount => _merges.Count;

    /// <summary>The added tokens, matched in the text before pre-tokenization, with their ids.</summary>
    public IReadOnlyList<(string Content, int Id)> AddedTokens => _addedTokens;

    /// <summary>The id of <paramref name="token"/> (in its byte-mapped spelling, e.g. <c>Ġthe</c>), or null.</summary>
    public int? TokenId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Tokenizer.RequireWellFormed(text, "bpe");
        var ids = new List<int>(text.Length / 3 + 4);
        if (_addedTokens.Length == 0)
        {
            EncodeOrdinary(text, ids);
            return [.. ids];
        }
        // Where each added token next occurs at or after `start` (-1: nowhere), found again only once `start` passes it.
        var next = new int[_addedTokens.Length];
        for (int k = 0; k < next.Length; k++) next[k] = text.IndexOf(_addedTokens[k].Content, StringComparison.Ordinal);
        int start = 0;
        while (true)
        {
            int best = -1;
            for (int k = 0; k < next.Length; k++)
            {
                if (next[k] >= 0 && next[k] < start) next[k] = text.IndexOf(_addedTokens[k].Content, start, StringComparison.Ordinal);
                if (next[k] < 0) continue;
                bool longer = best >= 0 && next[k] == next[best] && _addedTokens[k].Content.Length > _addedTokens[best].Content.Length;
                if (best < 0 || next[k] < next[best] || longer) best = k;
            }
            if (best < 0) break;
            EncodeOrdinary(text.AsSpan(start, next[best] - start), ids);
            ids.Add(_addedTokens[best].Id);
            start = next[best] + _addedTokens[best].Content.Length;
        }
        EncodeOrdinary(text.AsSpan(start), ids);
        return [.. ids];
    }

    void EncodeOrdinary(ReadOnlySpan<char> text, List<int> ids)
    {
        while (!text.IsEmpty)
        {
            int length = Gpt2PreTokenizer.NextLength(text);
            var piece = text[..length];
            ids.AddRange(_cacheBySpan.TryGetValue(piece, out var cached) ? cached : Bpe(piece));
            text = text[length..];
        }
    }

    static string Excerpt(ReadOnlySpan<char> piece) => piece.Length <= 40 ? piece.ToString() : $"{piece[..40]}…";

    static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>
    /// The ids of one pre-token: while some adjacent pair has a merge, the lowest-ranked pair (the leftmost of equals) is
    /// merged, as tiktoken and Hugging Face do. GPT-2's bpe() merges every occurrence of that pair at once, which gives the
    /// same tokens whenever each merge's parts come from earlier merges, as in every trained vocabulary.
    /// </summary>
    int[] Bpe(ReadOnlySpan<char> piece)
    {
        int count = Encoding.UTF8.GetByteCount(piece);
        Span<byte> bytes = count <= 256 ? stackalloc byte[count] : new byte[count];
        Encoding.UTF8.GetBytes(piece, bytes);
        var symbols = new int[count];
        for (int i = 0; i < count; i++)
        {
            symbols[i] = _byteIds[bytes[i]];
            // A merge never involves a byte without a token (the constructor checks), so such a byte would be left alone at the end.
            if (symbols[i] < 0)
                throw new ArgumentException($"bpe: symbol '{s_byteToChar[bytes[i]]}' (from text '{Excerpt(piece)}') is not in the vocabulary");
        }
        count = count <= LongPiece ? MergeShort(symbols, count) : MergeLong(symbols, count);
        var ids = symbols.AsSpan(0, count).ToArray();
        if (piece.Length > LongPiece) return ids; // rare, and a cache of them could hold megabytes
        // ConcurrentDictionary.Count takes every lock: an approximate count of our own keeps the cache bounded.
        if (Interlocked.Increment(ref _cacheSize) > CacheLimit)
        {
            _cache.Clear();
            Interlocked.Exchange(ref _cacheSize, 0);
        }
        _cacheBySpan[piece] = ids;
        return ids;
    }

    /// <summary>Pre-tokens longer than this many bytes merge through a heap, so a megabyte without a space takes no quadratic time.</summary>
    const int LongPiece = 128;

    /// <summary>Merges <paramref name="symbols"/>[..count] in place by scanning for the best pair; returns the new count.</summary>
    int MergeShort(int[] symbols, int count)
    {
        // ranks[i] and merged[i] describe the pair (symbols[i], symbols[i + 1]); int.MaxValue: no merge.
        Span<int> ranks = stackalloc int[count];
        Span<int> merged = stackalloc int[count];
        for (int i = 0; i + 1 < count; i++) (ranks[i], merged[i]) = Merge(symbols[i], symbols[i + 1]);
        while (count > 1)
        {
            int best = 0;
            for (int i = 1; i + 1 < count; i++)
                if (ranks[i] < ranks[best]) best = i;
            if (ranks[best] == int.MaxValue) break;
            symbols[best] = merged[best];
            int tail = count - best - 2;
            symbols.AsSpan(best + 2, tail).CopyTo(symbols.AsSpan(best + 1));
            ranks.Slice(best + 2, tail).CopyTo(ranks[(best + 1)..]);
            merged.Slice(best + 2, tail).CopyTo(merged[(best + 1)..]);
            count--;
            if (best > 0) (ranks[best - 1], merged[best - 1]) = Merge(symbols[best - 1], symbols[best]);
            if (best + 1 < count) (ranks[best], merged[best]) = Merge(symbols[best], symbols[best + 1]);
        }
        return count;
    }

    /// <summary>
    /// The same merges as <see cref="MergeShort"/> in O(n log n): symbols form a linked list, and a heap holds each pair
    /// keyed by (rank, position), so the lowest rank and then the leftmost comes first. An entry whose pair has changed since
    /// it was pushed no longer has its rank (a rank names one pair) and is skipped.
    /// </summary>
    int MergeLong(int[] symbols, int count)
    {
        var next = new int[count];
        var previous = new int[count];
        var heap = new PriorityQueue<int, long>(count);
        for (int i = 0; i < count; i++) (previous[i], next[i]) = (i - 1, i + 1);
        void Push(int left)
        {
            int rank = Merge(symbols[left], symbols[next[left]]).Rank;
            if (rank != int.MaxValue) heap.Enqueue(left, ((long)rank << 32) | (uint)left);
        }
        for (int i = 0; i + 1 < count; i++) Push(i);
        while (heap.TryDequeue(out int left, out long key))
        {
            int right = next[left];
            if (symbols[left] < 0 || right >= count) continue;
            var (rank, merged) = Merge(symbols[left], symbols[right]);
            if (rank != (int)(key >> 32)) continue;
            symbols[left] = merged;
            symbols[right] = -1;
            next[left] = next[right];
            if (next[left] < count) previous[next[left]] = left;
            if (previous[left] >= 0) Push(previous[left]);
            if (next[left] < count) Push(left);
        }
        int kept = 0;
        for (int i = 0; i < count; i = next[i]) symbols[kept++] = symbols[i];
        return kept;
    }

    (int Rank, int Merged) Merge(int left, int right) =>
        _merges.TryGetValue(Pair(left, right), out var m) ? m : (int.MaxValue, -1);

    /// <inheritdoc/>
    ReadOnlySpan<byte> IUtf8Tokenizer.TokenBytes(int id) => (uint)id < (uint)_tokenBytes.Length && _tokenBytes[id] is { } b ? b
        : throw new ArgumentOutOfRangeException(nameof(id), id, "bpe: the id is not in the vocabulary");

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)_tokenBytes.Length || _tokenBytes[id] is not { } b)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"bpe: id at position {i} is not in the vocabulary");
            bytes.AddRange(b);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>
    /// The bytes a token stands for: each character through the byte table, or (for added tokens with other characters)
    /// its UTF-8, as Hugging Face's ByteLevel decoder does.
    /// </summary>
    static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!s_charToByte.TryGetValue(token[i], out bytes[i])) return Encoding.UTF8.GetBytes(token);
        }
        return bytes;
    }

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
