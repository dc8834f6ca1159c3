using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Model.Tokenizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// GPT-2's byte-level BPE against the real vocabulary (<see cref="Gpt2Vocabulary"/>). The expected ids of
/// tests/Fixtures/gpt2-tokens/gpt2_tokens.json come from tiktoken (its script sits beside it); Microsoft.ML.Tokenizers is a
/// second oracle on text where it is right (it, like .NET's regex, splits a letter outside the BMP into two non-letters).
/// </summary>
public class Gpt2TokenizerTests
{
    const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    sealed record Case(string Name, string Text, int[] Ids);

    static readonly Lazy<Case[]> s_corpus = new(() =>
        JsonSerializer.Deserialize<Case[]>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2-tokens", "gpt2_tokens.json")),
            new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!);

    static readonly Lazy<Gpt2BpeTokenizer> s_gpt2 = new(() => new Gpt2BpeTokenizer(Gpt2Vocabulary.Vocab, Gpt2Vocabulary.Merges));

    [Fact]
    public void TheVocabularyIsGpt2s()
    {
        var t = s_gpt2.Value;
        Assert.Equal(50257, t.VocabSize);
        Assert.Equal(50000, t.MergeCount);
        Assert.Equal(50256, t.EosId);
        // GPT-2's merges.txt opens with "Ġ t", "Ġ a", "h e"; "hello world" is [31373, 995] in every GPT-2 tokenizer.
        Assert.Equal([("Ġ", "t"), ("Ġ", "a"), ("h", "e")], Gpt2Vocabulary.Merges.Take(3));
        Assert.Equal([31373, 995], t.Encode("hello world"));
    }

    [Fact]
    public void IdsMatchTiktokenOnTheCorpus()
    {
        var t = s_gpt2.Value;
        var corpus = s_corpus.Value;
        Assert.True(corpus.Length >= 145 && corpus.Sum(c => c.Ids.Length) > 20_000, "the fixture lost cases");
        var wrong = new List<string>();
        foreach (var c in corpus)
        {
            int[] ids = t.Encode(c.Text);
            if (!ids.AsSpan().SequenceEqual(c.Ids))
            {
                int at = 0;
                while (at < ids.Length && at < c.Ids.Length && ids[at] == c.Ids[at]) at++;
                wrong.Add($"'{c.Name}': first difference at id {at} of {c.Ids.Length} (got {ids.Length} ids)");
            }
            Assert.Equal(c.Text, t.Decode(c.Ids));
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {corpus.Length} texts differ from tiktoken: " + string.Join("; ", wrong));
    }

    [Theory]
    // From tiktoken (the fixture's script): "𝐨" is the byte tokens 47728 238 101, and "'m" stays one token (1101), as after an ASCII letter.
    [InlineData("𝐨'm", new[] { 47728, 238, 101, 1101 })]
    [InlineData("I'm", new[] { 40, 1101 })]
    public void AContractionAfterALetterOutsideTheBmpIsOneToken(string text, int[] expected) =>
        Assert.Equal(expected, s_gpt2.Value.Encode(text));

    [Fact]
    public void APreTokenOfAMillionBytesEncodes()
    {
        // One pre-token: merging it by scanning for the best pair each time would take ~10¹² steps; the heap takes seconds at most.
        string text = string.Concat(Enumerable.Repeat("abcdefghij", 100_000));
        int[] ids = s_gpt2.Value.Encode(text);
        Assert.InRange(ids.Length, 100_000, 500_000);
        Assert.Equal(text, s_gpt2.Value.Decode(ids));
    }

    [Fact]
    public void IdsMatchMicrosoftMlTokenizersOnBmpText()
    {
        var oracle = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForModel("gpt2");
        var t = s_gpt2.Value;
        var random = new System.Random(15);
        int compared = 0;
        for (int n = 0; n < 400; n++)
        {
            string text = RandomText(random, random.Next(1, 600), astralLetters: false);
            compared += text.Length;
            var expected = oracle.EncodeToIds(text);
            Assert.True(expected.SequenceEqual(t.Encode(text)), $"text {n} differs: {Escape(text)}");
        }
        Assert.True(compared > 100_000);
    }

    [Fact]
    public void ThePreTokenizerSplitsAsTheRegexWhereTheRegexIsRight()
    {
        // .NET's regex is GPT-2's pattern exactly as long as no code point needs a surrogate pair.
        var regex = new Regex(Pattern, RegexOptions.CultureInvariant);
        var random = new System.Random(7);
        for (int n = 0; n < 2000; n++)
        {
            string text = RandomText(random, random.Next(1, 200), astralLetters: false, astral: false);
            Assert.Equal(regex.Matches(text).Select(m => m.Value), PreTokens(text));
        }
    }

    [Theory]
    [InlineData("𝐨'm", new[] { "𝐨", "'m" })]
    [InlineData(" 𝐨𝐩 x𝐲z", new[] { " 𝐨𝐩", " x𝐲z" })]
    [InlineData("𝟏𝟐'd 𝟏", new[] { "𝟏𝟐", "'d", " 𝟏" })]
    [InlineData("😀'm", new[] { "😀'", "m" })] // an emoji is a symbol: the apostrophe joins its run
    [InlineData("\uD835'm", new[] { "\uD835'", "m" })] // a lone surrogate is neither letter, digit nor space
    [InlineData("a  \t\n b\n", new[] { "a", "  \t\n", " b", "\n" })] // a whitespace run leaves its last space to the word after it
    [InlineData("x's'S 'll''ve", new[] { "x", "'s", "'", "S", " '", "ll", "''", "ve" })]
    public void ThePreTokenizerTreatsCodePointsAsTiktokenDoes(string text, string[] expected) =>
        Assert.Equal(expected, PreTokens(text));

    [Fact]
    public void TokenizerJsonGivesTheSameIdsAsVocabAndMerges()
    {
        using var gpt2Files = new TempDirectory();
        using var stringMerges = new TempDirectory();
        using var pairMerges = new TempDirectory();
        Gpt2Vocabulary.WriteVocabAndMerges(gpt2Files.Path);
        Gpt2Vocabulary.WriteTokenizerJson(stringMerges.Path, mergesAsPairs: false);
        Gpt2Vocabulary.WriteTokenizerJson(pairMerges.Path, mergesAsPairs: true);
        var reference = Assert.IsType<Gpt2BpeTokenizer>(Tokenizer.Load(gpt2Files.Path));
        foreach (var dir in new[] { stringMerges.Path, pairMerges.Path })
        {
            var loaded = Assert.IsType<Gpt2BpeTokenizer>(Tokenizer.Load(dir));
            Assert.Equal(reference.VocabSize, loaded.VocabSize);
            Assert.Equal(reference.MergeCount, loaded.MergeCount);
            Assert.Equal(reference.EosId, loaded.EosId);
            foreach (var c in s_corpus.Value) Assert.Equal(reference.Encode(c.Text), loaded.Encode(c.Text));
        }
    }

    static List<string> PreTokens(string text)
    {
        var pieces = new List<string>();
        for (int at = 0; at < text.Length;)
        {
            int length = Gpt2PreTokenizer.NextLength(text.AsSpan(at));
            pieces.Add(text.Substring(at, length));
            at += length;
        }
        return pieces;
    }

    /// <summary>Code points drawn from weighted ranges, all long assigned in Unicode (every Unicode version agrees on them).</summary>
    static string RandomText(System.Random random, int length, bool astralLetters, bool astral = true)
    {
        (int Weight, int First, int Last)[] pools =
        [
            (30, 'a', 'z'), (8, 'A', 'Z'), (6, '0', '9'), (14, ' ', ' '), (6, '!', '/'), (4, '\'', '\''), (3, 's', 's'), (2, '\t', '\n'),
            (1, '\r', '\r'), (1, 0x0B, 0x0C), (1, 0x1C, 0x1F), (1, 0x85, 0x85), (1, ':', '@'), (3, 0xC0, 0xFF), (2, 0x391, 0x3A9),
            (2, 0x430, 0x44F), (2, 0x4E00, 0x4FFF), (1, 0x3041, 0x3093), (1, 0xAC00, 0xAD00), (1, 0x660, 0x669), (1, 0x300, 0x36F),
            (1, 0x2000, 0x200A), (1, 0x3000, 0x3000), (1, 0xA0, 0xA0), (1, 0x2028, 0x2029), (1, 0x2190, 0x21FF), (1, 0xBC, 0xBE),
            (astral ? 2 : 0, 0x1F600, 0x1F64F), (astralLetters ? 2 : 0, 0x1D400, 0x1D6A3), (astralLetters ? 1 : 0, 0x1D7CE, 0x1D7FF),
        ];
        int total = pools.Sum(p => p.Weight);
        var sb = new StringBuilder();
        for (int i = 0; i < length; i++)
        {
            int r = random.Next(total);
            var pool = pools.First(p => (r -= p.Weight) < 0);
            sb.Append(char.ConvertFromUtf32(random.Next(pool.First, pool.Last + 1)));
        }
        return sb.ToString();
    }

    static string Escape(string text) => JsonSerializer.Serialize(text);
}
