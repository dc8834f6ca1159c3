using Engine.Model.Tokenizers;

namespace Engine.Model;

/// <summary>
/// Strings that end a completion, looked for in its decoded text. As the completion grows, <see cref="ReachedBy"/> decodes only
/// the tail in which a stop string can have just appeared, so that a check costs the same at every length.
/// </summary>
public sealed class StopStrings
{
    readonly string[] _strings;
    readonly ITokenizer _tokenizer;
    readonly int _tailBytes;

    /// <summary>Looks for <paramref name="strings"/> (none empty) in the text that <paramref name="tokenizer"/> decodes.</summary>
    public StopStrings(IReadOnlyList<string> strings, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(strings);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (strings.Count == 0 || strings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("stop strings: need at least one, and none may be empty", nameof(strings));
        _strings = [.. strings];
        _tokenizer = tokenizer;
        // A UTF-16 unit of the text comes from at most 3 bytes, so 3 bytes per unit of the longest string hold it.
        _tailBytes = 3 * _strings.Max(s => s.Length);
    }

    /// <summary>Where in <paramref name="text"/> the earliest stop string starts; -1 when none is there.</summary>
    public int FirstIn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int first = -1;
        foreach (var stop in _strings)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }

    /// <summary>
    /// Whether the text of <paramref name="ids"/> holds a stop string, given that the text of all of them but the last does not:
    /// generation asks after every token and stops at the first yes. For a tokenizer whose text is the UTF-8 of its ids' bytes, only
    /// a tail is decoded; any other tokenizer decodes every id.
    /// </summary>
    public bool ReachedBy(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int start = TailStart(ids);
        var tail = new int[ids.Count - start];
        for (int i = 0; i < tail.Length; i++) tail[i] = ids[start + i];
        return FirstIn(_tokenizer.Decode(tail)) >= 0;
    }

    /// <summary>
    /// The first id of the tail to decode. The text before the last id holds no stop string, so a new one ends in what the last id
    /// changed: its own text, and at most one U+FFFD before it that stood for a character cut short. The tail starts
    /// <see cref="_tailBytes"/> bytes or more before the last id, so such a string lies in it, and at an id whose first byte is
    /// not a continuation byte: UTF-8 decoding ends any sequence left open there, so the tail's text is the end of the whole text
    /// and a string found in it is in the text.
    /// </summary>
    int TailStart(IReadOnlyList<int> ids)
    {
        if (_tokenizer is not IUtf8Tokenizer utf8) return 0;
        int bytes = 0;
        for (int start = ids.Count - 1; start > 0; start--)
        {
            if (bytes >= _tailBytes && BeginsASequence(utf8.TokenBytes(ids[start]))) return start;
            bytes += utf8.TokenBytes(ids[start - 1]).Length;
        }
        return 0;
    }

    static bool BeginsASequence(ReadOnlySpan<byte> bytes) => bytes.Length > 0 && (bytes[0] & 0xC0) != 0x80;
}
