using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// Byte, char and GPT-2 BPE tokenizers, and how a model directory's tokenizer is found. The BPE fixture (tests/Fixtures/tiny-bpe)
/// is hand-made: 23 tokens, 10 merges, and every expected id below is derived by hand in the comments.
/// </summary>
public class TokenizerTests
{
    const string Multilingual = "Hello, wörld! Ünïcödé ✓ 日本語 😀 mixed\ttabs\nand lines";

    static string BpeDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe");

    [Theory]
    [InlineData("")]
    [InlineData("plain ascii")]
    [InlineData(Multilingual)]
    public void ByteTokenizerRoundTrips(string text)
    {
        var t = new ByteTokenizer();
        var ids = t.Encode(text);
        Assert.All(ids, id => Assert.InRange(id, 0, 255));
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Length);
        Assert.Equal(text, t.Decode(ids));
    }

    [Fact]
    public void ByteTokenizerEncodesUtf8()
    {
        // 'é' is U+00E9 = UTF-8 C3 A9 = 195 169.
        Assert.Equal([97, 195, 169], new ByteTokenizer().Encode("aé"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ByteTokenizer().Decode([256]));
    }

    [Fact]
    public void CharTokenizerIsSortedDistinctCodePointsAndRoundTrips()
    {
        var t = CharTokenizer.FromText("baca😀é");
        // Ordinal code-point order: a (61) < b (62) < c (63) < é (E9) < 😀 (1F600); the emoji is one symbol.
        Assert.Equal(["a", "b", "c", "é", "😀"], t.Chars);
        Assert.Equal(5, t.VocabSize);
        Assert.Equal([1, 0, 2, 0, 4, 3], t.Encode("baca😀é"));
        Assert.Equal("baca😀é", t.Decode([1, 0, 2, 0, 4, 3]));

        var all = CharTokenizer.FromText(Multilingual);
        Assert.Equal(Multilingual, all.Decode(all.Encode(Multilingual)));
    }

    [Fact]
    public void CharTokenizerRejectsUnknownCharactersAndIds()
    {
        var t = CharTokenizer.FromText("ab");
        var e = Assert.Throws<ArgumentException>(() => t.Encode("abz"));
        Assert.Contains("'z' (U+007A) at position 2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([2]));
        Assert.Throws<ArgumentException>(() => new CharTokenizer(["a", "a"]));
        Assert.Throws<ArgumentException>(() => new CharTokenizer(["ab"]));
    }

    [Fact]
    public void CharTokenizerSavesAndLoadsThroughTheModelDirectory()
    {
        using var dir = new TempDirectory();
        var t = CharTokenizer.FromText(Multilingual);
        t.Save(dir.Path);
        // tokenizer.json is Hugging Face's name: the char format has its own.
        Assert.Equal(["char-tokenizer.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        var loaded = Assert.IsType<CharTokenizer>(Tokenizer.Load(dir.Path));
        Assert.Equal(t.Chars, loaded.Chars);
        Assert.Equal(t.Encode(Multilingual), loaded.Encode(Multilingual));
        Assert.Equal(t.Chars, CharTokenizer.LoadFromDirectory(dir.Path).Chars);
    }

    [Fact]
    public void ACharTokenizerThatOlderRunsSavedAsTokenizerJsonStillLoads()
    {
        using var dir = new TempDirectory();
        CharTokenizer.FromText("abc").Save(dir.Path);
        File.Move(dir.File("char-tokenizer.json"), dir.File("tokenizer.json"));
        Assert.Equal(["a", "b", "c"], Assert.IsType<CharTokenizer>(Tokenizer.Load(dir.Path)).Chars);
        Assert.Equal(["a", "b", "c"], CharTokenizer.LoadFromDirectory(dir.Path).Chars);
        // Copied with the model (grpo run does), it takes the new name.
        var (name, bytes) = Assert.Single(Tokenizer.LoadWithFiles(dir.Path)!.Files);
        Assert.Equal("char-tokenizer.json", name);
        Assert.Equal(File.ReadAllBytes(dir.File("tokenizer.json")), bytes);
    }

    [Fact]
    public void TheFilesCopiedWithAModelAreTheOnesItsTokenizerWasReadFromUnderTheirCurrentNames()
    {
        using var dir = new TempDirectory();
        CharTokenizer.FromText("abc").Save(dir.Path);
        File.WriteAllText(dir.File("special_tokens_map.json"), "{}");
        // A stale char file under the old name beside the current one: the current one is the tokenizer, and the only copy.
        File.WriteAllText(dir.File("tokenizer.json"), """{"type": "char", "chars": ["x"]}""");
        var loaded = Tokenizer.LoadWithFiles(dir.Path)!;
        Assert.Equal(["a", "b", "c"], Assert.IsType<CharTokenizer>(loaded.Tokenizer).Chars);
        Assert.Equal(["char-tokenizer.json", "special_tokens_map.json"], loaded.Files.Select(f => f.Name).ToArray());
        Assert.Equal(File.ReadAllBytes(dir.File("char-tokenizer.json")), loaded.Files[0].Bytes);

        // A Hugging Face file beside it is not the tokenizer, but is copied as it is.
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe-hf", "tokenizer.json"), dir.File("tokenizer.json"), true);
        loaded = Tokenizer.LoadWithFiles(dir.Path)!;
        Assert.IsType<CharTokenizer>(loaded.Tokenizer);
        Assert.Equal(["char-tokenizer.json", "tokenizer.json", "special_tokens_map.json"], loaded.Files.Select(f => f.Name).ToArray());
        Assert.Equal(File.ReadAllBytes(dir.File("tokenizer.json")), loaded.Files[1].Bytes);
    }

    [Fact]
    public void ATokenizerFileThatIsNotARegularFileIsRefusedInsteadOfHanging()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDirectory();
        CharTokenizer.FromText("abc").Save(dir.Path);
        using (var make = System.Diagnostics.Process.Start("mkfifo", [dir.File("tokenizer_config.json")])) make.WaitForExit();
        var e = Assert.Throws<IOException>(() => Tokenizer.LoadWithFiles(dir.Path));
        Assert.Contains($"'{dir.File("tokenizer_config.json")}' is not a regular file", e.Message);
    }

    [Theory]
    [InlineData("""{"type": "char", "chars": ["a", "bc"]}""", "entry 1 ('bc' (U+0062 U+0063)) is not exactly one character")]
    [InlineData("""{"type": "char", "chars": ["a", "a"]}""", "listed twice")]
    [InlineData("""{"type": "char", "chars": ["a", 3]}""", "'chars' entry 1 is not a string")]
    [InlineData("""{"type": "char"}""", "missing 'chars'")]
    [InlineData("""{"type": "char", "version": 2, "chars": []}""", "unsupported 'version' 2")]
    [InlineData("""{"type": "ch""", "not valid JSON")]
    public void BadCharTokenizerFileIsReported(string json, string expected)
    {
        foreach (string name in new[] { "char-tokenizer.json", "tokenizer.json" })
        {
            using var dir = new TempDirectory();
            File.WriteAllText(dir.File(name), json);
            var e = Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path));
            Assert.Contains(expected, e.Message);
            Assert.Contains(dir.File(name), e.Message);
        }
    }

    [Fact]
    public void ADirectoryWithoutATokenizerGivesNullOrOneClearError()
    {
        using var dir = new TempDirectory();
        Assert.Null(Tokenizer.Load(dir.Path));
        Assert.Null(Tokenizer.LoadWithFiles(dir.Path));
        var e = Assert.Throws<CheckpointException>(() => Tokenizer.LoadRequired(dir.Path));
        Assert.Equal($"{dir.Path} has no tokenizer: expected tokenizer.json, char-tokenizer.json, or vocab.json and merges.txt", e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => Tokenizer.LoadRequired(dir.File("missing")));

        File.Copy(Path.Combine(BpeDir, "vocab.json"), dir.File("vocab.json"));
        Assert.Contains("has vocab.json but no merges.txt", Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path)).Message);
    }

    [Fact]
    public void HuggingFaceTokenizerJsonGivesTheSameIdsAsVocabAndMerges()
    {
        // tests/Fixtures/tiny-bpe-hf/tokenizer.json holds tiny-bpe's vocabulary and merges (as ["a", "b"] pairs) in the layout of
        // GPT-2's tokenizer.json; <|endoftext|> is only in added_tokens.
        var hf = Assert.IsType<Gpt2BpeTokenizer>(Tokenizer.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe-hf")));
        var gpt2 = Gpt2BpeTokenizer.Load(BpeDir);
        Assert.Equal(23, hf.VocabSize);
        Assert.Equal(10, hf.MergeCount);
        Assert.Equal(22, hf.EosId);
        Assert.Equal([(Gpt2BpeTokenizer.EndOfText, 22)], hf.AddedTokens);
        foreach (string text in new[] { "hello world!\n<|endoftext|>é", "hello  world", "ehe", "oll", "hell o", "<|endoftext|><|endoftext|>" })
            Assert.Equal(gpt2.Encode(text), hf.Encode(text));
        Assert.Equal("hello world!", hf.Decode([15, 20, 8]));
    }

    [Fact]
    public void BpeMergesByRankWithHandCheckedIds()
    {
        var t = Assert.IsType<Gpt2BpeTokenizer>(Tokenizer.Load(BpeDir));
        Assert.Equal(23, t.VocabSize);
        Assert.Equal(10, t.MergeCount);
        Assert.Equal(22, t.EosId);
        // "hello": h e l l o → (h e, rank 0) he l l o → (l l, 1) he ll o → (he ll, 2) hell o → (hell o, 3) hello = 15.
        // " world": Ġ w o r l d → (Ġ w, 4) → (o r, 5) → (Ġw or, 6) → (Ġwor l, 7) → (Ġworl d, 8) Ġworld = 20.
        // "!" = 8, "\n" = Ċ = 9, <|endoftext|> = 22, "é" = bytes C3 A9 = "Ã©" → (Ã ©, 9) = 21.
        Assert.Equal([15, 20, 8, 9, 22, 21], t.Encode("hello world!\n<|endoftext|>é"));
        // Two spaces: the regex's \s+(?!\S) takes the first space alone (Ġ = 4), the second joins "world".
        Assert.Equal([15, 4, 20], t.Encode("hello  world"));
        // The lowest rank wins wherever it is: "ehe" has only (h e) → e he; "oll" has only (l l) → o ll.
        Assert.Equal([1, 12], t.Encode("ehe"));
        Assert.Equal([3, 13], t.Encode("oll"));
        // "hell o" pre-tokenizes as "hell", " o": no merge joins Ġ and o.
        Assert.Equal([14, 4, 3], t.Encode("hell o"));
        Assert.Equal("hello  world!\n<|endoftext|>é", t.Decode([15, 4, 20, 8, 9, 22, 21]));
        Assert.Equal([15, 15], t.Encode("hellohello")); // second call served from the cache
    }

    [Fact]
    public void BpeReportsSymbolsOutsideTheVocabulary()
    {
        var t = Gpt2BpeTokenizer.Load(BpeDir);
        var e = Assert.Throws<ArgumentException>(() => t.Encode("hello zoo"));
        // " zoo" maps to Ġ z o o; no merge applies and 'z' has no id.
        Assert.Contains("symbol 'z' (from text ' zoo')", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([23]));
    }

    [Fact]
    public void ByteLevelBpeRoundTripsAnyText()
    {
        // With all 256 byte symbols and a few merges, any text encodes and decodes back exactly.
        var vocab = new Dictionary<string, int>();
        foreach (char c in Gpt2BpeTokenizer.ByteToChar) vocab[c.ToString()] = vocab.Count;
        vocab["Ġt"] = vocab.Count;
        vocab["Ġth"] = vocab.Count;
        var t = new Gpt2BpeTokenizer(vocab, [("Ġ", "t"), ("Ġt", "h")]);
        Assert.Equal(258, t.VocabSize);
        Assert.Null(t.EosId);
        Assert.Equal(Multilingual, t.Decode(t.Encode(Multilingual)));
        Assert.Equal([257, (int)'e'], t.Encode(" the"));
        // GPT-2's table maps space (byte 32) to 'Ġ' (U+0120) and newline (10) to 'Ċ' (U+010A); '!' stands for itself.
        Assert.Equal('Ġ', Gpt2BpeTokenizer.ByteToChar[32]);
        Assert.Equal('Ċ', Gpt2BpeTokenizer.ByteToChar[10]);
        Assert.Equal('!', Gpt2BpeTokenizer.ByteToChar['!']);
        Assert.Equal(256, Gpt2BpeTokenizer.ByteToChar.Distinct().Count());
    }

    [Theory]
    [InlineData("""{"a": 0, "b": 0}""", "a b\n", "id 0 is given to more than one token")]
    [InlineData("""{"a": -1}""", "", "token 'a' has id -1")]
    [InlineData("""{"a": "x"}""", "", "token 'a' has a non-integer id")]
    [InlineData("""{"a": 0""", "", "not valid JSON")]
    [InlineData("""{"a": 0}""", "#version: 0.2\na b c\n", "line 2 is not two symbols")]
    [InlineData("""{"a": 0, "b": 1}""", "a b\n", "merge 0 'a b' uses or makes a token that is not in the vocabulary")]
    [InlineData("""{"a": 16777216}""", "", "token 'a' has id 16777216, past the largest supported id 16777215")]
    [InlineData("""{"\ud800": 0}""", "", "UTF-16")] // an escaped lone surrogate
    public void BadBpeFilesAreReported(string vocab, string merges, string expected)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("vocab.json"), vocab);
        File.WriteAllText(dir.File("merges.txt"), merges);
        var e = Assert.Throws<CheckpointException>(() => Gpt2BpeTokenizer.Load(dir.Path));
        Assert.Contains(expected, e.Message);
    }

    // The lone surrogate is put in by the test: xunit would pass it through its serializer as U+FFFD.
    [Theory]
    [InlineData("a", 0xD800, "b", 1)]
    [InlineData("ok ", 0xDC00, "", 3)]
    [InlineData("𝐨'm", 0xD835, "", 4)]          // a pair, then a high surrogate with nothing after it
    public void EveryTokenizerRefusesALoneSurrogateInsteadOfEncodingU_FFFD(string before, int surrogate, string after, int position)
    {
        string text = before + (char)surrogate + after, code = surrogate.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
        var tokenizers = new (ITokenizer Tokenizer, string Name)[]
        {
            (new ByteTokenizer(), "byte tokenizer"), (CharTokenizer.FromText("abok 𝐨'm"), "char tokenizer"), (Gpt2BpeTokenizer.Load(BpeDir), "bpe"),
        };
        foreach (var (tokenizer, name) in tokenizers)
        {
            var e = Assert.Throws<ArgumentException>(() => tokenizer.Encode(text));
            Assert.Equal($"{name}: the text has a lone surrogate U+{code} at position {position}, which is not Unicode", e.Message);
        }
        Assert.Throws<ArgumentException>(() => CharTokenizer.FromText(text));
        Assert.Equal([0xF0, 0x9D, 0x90, 0xA8], new ByteTokenizer().Encode("𝐨"));
    }

    [Fact]
    public void AMergesFileThatIsNotUtf8IsRefused()
    {
        using var dir = new TempDirectory();
        File.Copy(Path.Combine(BpeDir, "vocab.json"), dir.File("vocab.json"));
        File.WriteAllBytes(dir.File("merges.txt"), [0x23, 0x76, 0x0A, 0x68, 0x20, 0xFF, 0x0A]);
        var e = Assert.Throws<IOException>(() => Gpt2BpeTokenizer.Load(dir.Path));
        Assert.Contains("is not valid UTF-8 text (an invalid sequence at byte 5)", e.Message);
    }
}
