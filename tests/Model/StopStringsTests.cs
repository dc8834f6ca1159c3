using Engine.Model;
using Engine.Model.Tokenizers;

namespace Engine.Tests;

/// <summary>
/// Stop strings looked for in the tail of a growing completion: the first length at which <see cref="StopStrings.ReachedBy"/> says
/// yes is the first at which the whole decoded text holds a stop string, also where byte-level tokens cut characters apart.
/// </summary>
public sealed class StopStringsTests
{
    static readonly Lazy<Gpt2BpeTokenizer> s_gpt2 = new(() => new Gpt2BpeTokenizer(Gpt2Vocabulary.Vocab, Gpt2Vocabulary.Merges));

    /// <summary>The reference: the whole completion decoded after every token.</summary>
    static int FirstStopInWholeText(StopStrings stops, ITokenizer tokenizer, int[] ids)
    {
        for (int length = 1; length <= ids.Length; length++)
            if (stops.FirstIn(tokenizer.Decode(ids.AsSpan(0, length))) >= 0) return length;
        return -1;
    }

    /// <summary>As generation asks: after every token, until the first yes.</summary>
    static int FirstStopReached(StopStrings stops, int[] ids)
    {
        var completion = new List<int>();
        foreach (int id in ids)
        {
            completion.Add(id);
            if (stops.ReachedBy(completion)) return completion.Count;
        }
        return -1;
    }

    /// <summary>A tokenizer that does not say its text is the UTF-8 of its tokens' bytes: every check decodes it all.</summary>
    sealed class OpaqueTokenizer(ITokenizer inner) : ITokenizer
    {
        public int VocabSize => inner.VocabSize;
        public int? EosId => inner.EosId;
        public int[] Encode(string text) => inner.Encode(text);
        public string Decode(ReadOnlySpan<int> ids) => inner.Decode(ids);
    }

    [Fact]
    public void AStopStringCutAcrossTheBytesOfACharacterIsFoundAtTheTokenThatCompletesIt()
    {
        // One token per byte: "€" is E2 82 AC, so ";€" is in the text from the sixth byte on, and not at the fifth, where the text
        // ends in the U+FFFD of E2 82.
        var bytes = new ByteTokenizer();
        var stops = new StopStrings([";€"], bytes);
        int[] ids = bytes.Encode("ab;€cd");
        Assert.Equal(6, FirstStopInWholeText(stops, bytes, ids));
        Assert.Equal(6, FirstStopReached(stops, ids));
        Assert.Equal(2, stops.FirstIn("ab;€cd"));
    }

    [Fact]
    public void TheTailIsNeverCutInsideACharacterWhereItWouldReadU_FFFDThatTheTextDoesNotHold()
    {
        // Nine bytes (3 per UTF-16 unit of the stop string) before the eleventh byte reach back to 82, inside "€": a tail from there
        // would read "\uFFFD\uFFFDa", which the text "€axxx…" never holds.
        var bytes = new ByteTokenizer();
        var stops = new StopStrings(["\uFFFD\uFFFDa"], bytes);
        int[] ids = bytes.Encode("€a" + new string('x', 12));
        Assert.Equal(-1, FirstStopInWholeText(stops, bytes, ids));
        Assert.Equal(-1, FirstStopReached(stops, ids));
    }

    [Fact]
    public void TheFirstStopIsTheOneTheWholeTextGivesForRandomCompletions()
    {
        var rng = new System.Random(11);
        // Bytes: ASCII, lead bytes and continuation bytes, so that characters are complete, cut short or invalid.
        int RandomByte() => rng.Next(3) switch { 0 => rng.Next(0x20, 0x7F), 1 => rng.Next(0xC2, 0xF5), _ => rng.Next(0x80, 0xC0) };
        var chars = CharTokenizer.FromText("ab;€😀\n");
        var cases = new (ITokenizer Tokenizer, Func<int> NextId)[]
        {
            (new ByteTokenizer(), RandomByte),
            (s_gpt2.Value, () => rng.Next(2) == 0 ? RandomByte() : rng.Next(s_gpt2.Value.VocabSize)),
            (chars, () => rng.Next(chars.VocabSize)),
            (new OpaqueTokenizer(new ByteTokenizer()), RandomByte),
        };
        foreach (var (tokenizer, nextId) in cases)
        {
            int found = 0;
            const int Trials = 300;
            for (int trial = 0; trial < Trials; trial++)
            {
                int[] ids = [.. Enumerable.Range(0, rng.Next(1, 80)).Select(_ => nextId())];
                string text = tokenizer.Decode(ids);
                // Mostly pieces of the text itself, which may hold U+FFFD or half of a surrogate pair, so that many trials stop.
                string[] strings = [.. Enumerable.Range(0, rng.Next(1, 4)).Select(_ =>
                {
                    int length = rng.Next(1, Math.Min(12, text.Length) + 1), at = rng.Next(text.Length - length + 1);
                    return rng.Next(4) == 0 ? "zq" : text.Substring(at, length);
                })];
                var stops = new StopStrings(strings, tokenizer);
                int expected = FirstStopInWholeText(stops, tokenizer, ids);
                Assert.True(expected == FirstStopReached(stops, ids),
                    $"{tokenizer.GetType().Name}, ids [{string.Join(", ", ids)}], stops [{string.Join(", ", strings.Select(Escape))}]");
                if (expected > 0) found++;
            }
            Assert.True(found > Trials / 2, $"{tokenizer.GetType().Name}: only {found} of {Trials} completions reached a stop string");
        }
    }

    [Fact]
    public void EmptyStopStringsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new StopStrings([], new ByteTokenizer()));
        Assert.Throws<ArgumentException>(() => new StopStrings(["a", ""], new ByteTokenizer()));
    }

    static string Escape(string s) => string.Concat(s.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}"));
}
