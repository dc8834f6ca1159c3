using System.Text.Json.Nodes;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// What the Hugging Face tokenizer.json reader refuses: each case changes one field of tests/Fixtures/tiny-bpe-hf/tokenizer.json
/// (a valid file) and expects an error that names the file and the field, rather than ids that differ from Hugging Face's.
/// </summary>
public class TokenizerJsonTests
{
    static string Fixture => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe-hf", "tokenizer.json");

    [Theory]
    [InlineData("model.type", "\"WordPiece\"", "'model.type' is \"WordPiece\"; only byte-level \"BPE\" (GPT-2's kind) is supported")]
    [InlineData("model", null, "'model' is missing")]
    [InlineData("model.vocab", null, "'model.vocab' is missing")]
    [InlineData("model.vocab.h", "\"x\"", "'model.vocab' token 'h' has a non-integer id \"x\"")]
    [InlineData("model.merges[0]", "\"h e x\"", "'model.merges[0]' is not \"a b\"")]
    [InlineData("model.merges[1]", "[\"l\"]", "'model.merges[1]' is not \"a b\"")]
    [InlineData("model.merges[2]", "[\"q\", \"z\"]", "merge 2 'q z' uses or makes a token that is not in the vocabulary")]
    [InlineData("model.dropout", "0.1", "'model.dropout' is 0.1")]
    [InlineData("model.unk_token", "\"<unk>\"", "'model.unk_token' is set")]
    [InlineData("model.byte_fallback", "true", "'model.byte_fallback' is true")]
    [InlineData("model.ignore_merges", "true", "'model.ignore_merges' is true")]
    [InlineData("model.continuing_subword_prefix", "\"##\"", "'model.continuing_subword_prefix' is \"##\"")]
    [InlineData("normalizer", """{"type": "NFC"}""", "'normalizer' of type \"NFC\" is not supported")]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}""",
        "'normalizer.normalizers[0]' of type \"Lowercase\"")]
    [InlineData("pre_tokenizer", null, "'pre_tokenizer' is missing")]
    [InlineData("pre_tokenizer", """{"type": "Whitespace"}""", "'pre_tokenizer.type' is \"Whitespace\"; only ByteLevel")]
    [InlineData("pre_tokenizer.add_prefix_space", "true", "'pre_tokenizer.add_prefix_space' is true; only false")]
    [InlineData("pre_tokenizer.use_regex", "false", "'pre_tokenizer.use_regex' is false")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Split"}, {"type": "ByteLevel"}]}""",
        "'pre_tokenizer.pretokenizers' must hold exactly one pre-tokenizer")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": true}]}""",
        "'pre_tokenizer.pretokenizers[0].add_prefix_space' is true")]
    [InlineData("decoder", null, "'decoder' is missing or null")]
    [InlineData("decoder", """{"type": "WordPiece"}""", "'decoder.type' is \"WordPiece\"")]
    [InlineData("post_processor", """{"type": "TemplateProcessing"}""", "'post_processor' of type \"TemplateProcessing\" is not supported")]
    [InlineData("truncation", """{"max_length": 5}""", "'truncation' is set")]
    [InlineData("padding", """{"strategy": "BatchLongest"}""", "'padding' is set")]
    [InlineData("added_tokens[0].lstrip", "true", "'added_tokens[0].lstrip' is true")]
    [InlineData("added_tokens[0].content", "7", "'added_tokens[0].content' is missing or not a string")]
    [InlineData("added_tokens[0].id", "15", "id 15 is given to more than one token ('hello' and '<|endoftext|>')")]
    [InlineData("added_tokens[0].content", "\"hello\"", "added token 'hello' has id 22, but the vocabulary gives it id 15")]
    public void UnsupportedOrMalformedFieldsAreRefusedByName(string field, string? json, string expected)
    {
        using var dir = new TempDirectory();
        var root = JsonNode.Parse(File.ReadAllText(Fixture))!.AsObject();
        Set(root, field, json is null ? null : JsonNode.Parse(json));
        File.WriteAllText(dir.File("tokenizer.json"), root.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path));
        Assert.StartsWith($"tokenizer {dir.File("tokenizer.json")}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": []}""")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": false}]}""")]
    [InlineData("post_processor", null)]
    [InlineData("added_tokens", null)]
    [InlineData("model.dropout", "0")]
    [InlineData("model.merges[0]", "\"h e\"")]
    public void EquivalentSpellingsAreAccepted(string field, string? json)
    {
        using var dir = new TempDirectory();
        var root = JsonNode.Parse(File.ReadAllText(Fixture))!.AsObject();
        Set(root, field, json is null ? null : JsonNode.Parse(json));
        File.WriteAllText(dir.File("tokenizer.json"), root.ToJsonString());
        var t = Assert.IsType<Gpt2BpeTokenizer>(Tokenizer.Load(dir.Path));
        Assert.Equal([15, 20, 8], t.Encode("hello world!"));
    }

    [Fact]
    public void WithoutAddedTokensEndOfTextIsOrdinaryText()
    {
        // Hugging Face matches only the listed added tokens; with none, "<|endoftext|>" is pre-tokenized like any text,
        // and tiny-bpe has no '<' or '|' tokens.
        using var dir = new TempDirectory();
        var root = JsonNode.Parse(File.ReadAllText(Fixture))!.AsObject();
        root["added_tokens"] = new JsonArray();
        File.WriteAllText(dir.File("tokenizer.json"), root.ToJsonString());
        var t = Gpt2BpeTokenizer.LoadTokenizerJson(dir.File("tokenizer.json"));
        Assert.Equal(22, t.VocabSize);
        Assert.Null(t.EosId);
        Assert.Contains("symbol '<'", Assert.Throws<ArgumentException>(() => t.Encode("hello<|endoftext|>")).Message);
    }

    [Fact]
    public void AnAddedTokenListedTwiceIsRefused()
    {
        using var dir = new TempDirectory();
        var root = JsonNode.Parse(File.ReadAllText(Fixture))!.AsObject();
        root["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 23, ["content"] = "<|endoftext|>" });
        File.WriteAllText(dir.File("tokenizer.json"), root.ToJsonString());
        Assert.Contains("added token '<|endoftext|>' is listed twice", Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path)).Message);
    }

    [Fact]
    public void AnEscapedLoneSurrogateIsRefused()
    {
        using var dir = new TempDirectory();
        string text = File.ReadAllText(Fixture);
        Assert.Contains("\"h\": 0,", text);
        File.WriteAllText(dir.File("tokenizer.json"), text.Replace("\"h\": 0,", "\"\\ud800\": 0,"));
        var e = Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path));
        Assert.StartsWith($"tokenizer {dir.File("tokenizer.json")}: ", e.Message);
        Assert.Contains("UTF-16", e.Message);
    }

    [Fact]
    public void AFileThatIsNotJsonIsRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("tokenizer.json"), "{\"model\": ");
        Assert.Contains("not valid JSON", Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path)).Message);
        File.WriteAllText(dir.File("tokenizer.json"), "[1, 2]");
        Assert.Equal($"tokenizer {dir.File("tokenizer.json")}: not a JSON object",
            Assert.Throws<CheckpointException>(() => Tokenizer.Load(dir.Path)).Message);
    }

    /// <summary>Sets (or, for null, removes) the field at a path such as "model.merges[0]" or "added_tokens[0].id".</summary>
    static void Set(JsonObject root, string field, JsonNode? value)
    {
        var parts = field.Replace("[", ".[").Split('.');
        JsonNode parent = root;
        for (int i = 0; i < parts.Length - 1; i++) parent = Child(parent, parts[i]);
        string last = parts[^1];
        if (last.StartsWith('['))
        {
            var list = parent.AsArray();
            int index = int.Parse(last[1..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (value is null) list.RemoveAt(index);
            else list[index] = value;
        }
        else if (value is null) parent.AsObject().Remove(last);
        else parent[last] = value;
    }

    static JsonNode Child(JsonNode parent, string part) => part.StartsWith('[')
        ? parent.AsArray()[int.Parse(part[1..^1], System.Globalization.CultureInfo.InvariantCulture)]!
        : parent[part]!;
}
