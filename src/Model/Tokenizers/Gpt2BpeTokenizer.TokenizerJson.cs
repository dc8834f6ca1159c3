using System.Text.Json;
using Engine.Model.Checkpoints;

namespace Engine.Model.Tokenizers;

public sealed partial class Gpt2BpeTokenizer
{
    /// <summary>The Hugging Face tokenizers file name in a model directory.</summary>
    public const string TokenizerJsonFileName = "tokenizer.json";

    /// <summary>
    /// Reads a Hugging Face <c>tokenizer.json</c> that describes a byte-level BPE (GPT-2's, RoBERTa's vocabulary, and
    /// their kin): <c>model</c> of type BPE with <c>vocab</c> and <c>merges</c> ("a b" strings or ["a", "b"] pairs),
    /// the ByteLevel pre-tokenizer (alone or as the one entry of a Sequence), the ByteLevel decoder, and
    /// <c>added_tokens</c>. Anything that would make the ids differ from what Hugging Face computes (a normalizer, a
    /// post-processor that adds tokens, truncation, padding, a prefix space, dropout, an unknown token, other models)
    /// is refused with the field that holds it.
    /// </summary>
    public static Gpt2BpeTokenizer LoadTokenizerJson(string path)
    {
        using var doc = Tokenizer.ParseJson(path, InputFile.ReadAllText(path, "tokenizer.json"), "tokenizer");
        return FromTokenizerJson(path, doc.RootElement);
    }

    /// <summary>The tokenizer that <paramref name="root"/>, the JSON of the tokenizer.json <paramref name="path"/>, describes.</summary>
    internal static Gpt2BpeTokenizer FromTokenizerJson(string path, JsonElement root)
    {
        try
        {
            return new TokenizerJsonReader(path).Read(root);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json reports a string it cannot decode (an escaped lone surrogate) this way.
            throw new CheckpointException($"tokenizer {path}: {e.Message}", e);
        }
    }

    /// <summary>One tokenizer.json being read: every error names the file and the field.</summary>
    sealed class TokenizerJsonReader(string path)
    {
        public Gpt2BpeTokenizer Read(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object) throw new CheckpointException($"tokenizer {path}: not a JSON object");
            // The model's type first: a WordPiece or Unigram file is refused for what it is, not for a missing pre-tokenizer.
            var model = Optional(root, "model") ?? throw Error("model", "is missing");
            if (model.ValueKind != JsonValueKind.Object) throw Error("model", "is not an object");
            string type = TypeOf(model, "model");
            if (type != "BPE") throw Error("model.type", $"is \"{type}\"; only byte-level \"BPE\" (GPT-2's kind) is supported");
            foreach (string unused in new[] { "truncation", "padding" })
                if (IsSet(root, unused)) throw Error(unused, "is set; only null is supported (it would change the ids)");
            CheckNormalizer(Optional(root, "normalizer"), "normalizer");
            CheckPreTokenizer(Optional(root, "pre_tokenizer") ?? throw Error("pre_tokenizer", "is missing; ByteLevel is needed"), "pre_tokenizer");
            CheckDecoder(Optional(root, "decoder"));
            if (Optional(root, "post_processor") is { } post && TypeOf(post, "post_processor") != "ByteLevel")
                throw Error("post_processor", $"of type \"{TypeOf(post, "post_processor")}\" is not supported (it adds tokens around the text)");

            CheckBpeOptions(model);
            var vocab = ReadVocab(Optional(model, "vocab") ?? throw Error("model.vocab", "is missing"));
            var merges = ReadMerges(Optional(model, "merges") ?? throw Error("model.merges", "is missing"));
            var added = ReadAddedTokens(Optional(root, "added_tokens"));
            try
            {
                return new Gpt2BpeTokenizer(vocab, merges, added);
            }
            catch (ArgumentException e)
            {
                throw new CheckpointException($"tokenizer {path}: {e.Message}", e);
            }
        }

        void CheckBpeOptions(JsonElement model)
        {
            if (Optional(model, "dropout") is { } dropout && (dropout.ValueKind != JsonValueKind.Number || dropout.GetDouble() != 0))
                throw Error("model.dropout", $"is {dropout.GetRawText()}; only null or 0 is supported (dropout makes encoding random)");
            if (IsSet(model, "unk_token")) throw Error("model.unk_token", "is set; only null is supported (byte-level BPE needs no unknown token)");
            foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
                if (Optional(model, affix) is { } value && (value.ValueKind != JsonValueKind.String || value.GetString()!.Length != 0))
                    throw Error($"model.{affix}", $"is {value.GetRawText()}; only null or \"\" is supported");
            foreach (string flag in new[] { "byte_fallback", "ignore_merges" })
                if (Optional(model, flag) is { } value && value.ValueKind != JsonValueKind.False)
                    throw Error($"model.{flag}", $"is {value.GetRawText()}; only false is supported");
        }

        void CheckNormalizer(JsonElement? normalizer, string field)
        {
            if (normalizer is not { } n) return;
            string type = TypeOf(n, field);
            if (type == "Sequence" && Optional(n, "normalizers") is { ValueKind: JsonValueKind.Array } list)
            {
                int i = 0;
                foreach (var inner in list.EnumerateArray()) CheckNormalizer(inner, $"{field}.normalizers[{i++}]");
                return;
            }
            throw Error(field, $"of type \"{type}\" is not supported: it changes the text before tokenization");
        }

        void CheckPreTokenizer(JsonElement preTokenizer, string field)
        {
            string type = TypeOf(preTokenizer, field);
            if (type == "Sequence")
            {
                var list = Optional(preTokenizer, "pretokenizers") is { ValueKind: JsonValueKind.Array } l ? l
                    : throw Error($"{field}.pretokenizers", "is missing or not a list");
                if (list.GetArrayLength() != 1) throw Error($"{field}.pretokenizers", "must hold exactly one pre-tokenizer, ByteLevel");
                CheckPreTokenizer(list[0], $"{field}.pretokenizers[0]");
                return;
            }
            if (type != "ByteLevel") throw Error($"{field}.type", $"is \"{type}\"; only ByteLevel is supported");
            // add_prefix_space has no default in Hugging Face's format; use_regex defaults to true.
            var prefix = Optional(preTokenizer, "add_prefix_space");
            if (prefix?.ValueKind != JsonValueKind.False)
                throw Error($"{field}.add_prefix_space", $"is {prefix?.GetRawText() ?? "missing"}; only false is supported");
            if (Optional(preTokenizer, "use_regex") is { } regex && regex.ValueKind != JsonValueKind.True)
                throw Error($"{field}.use_regex", $"is {regex.GetRawText()}; only true (GPT-2's pattern) is supported");
        }

        void CheckDecoder(JsonElement? decoder)
        {
            if (decoder is not { } d) throw Error("decoder", "is missing or null; ByteLevel is needed");
            string type = TypeOf(d, "decoder");
            if (type != "ByteLevel") throw Error("decoder.type", $"is \"{type}\"; only ByteLevel is supported");
        }

        Dictionary<string, int> ReadVocab(JsonElement element)
        {
            if (element.ValueKind != JsonValueKind.Object) throw Error("model.vocab", "is not an object of token → id");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var p in element.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                    throw Error("model.vocab", $"token '{p.Name}' has a non-integer id {p.Value.GetRawText()}");
                vocab[p.Name] = id;
            }
            return vocab;
        }

        List<(string, string)> ReadMerges(JsonElement element)
        {
            if (element.ValueKind != JsonValueKind.Array) throw Error("model.merges", "is not a list");
            var merges = new List<(string, string)>(element.GetArrayLength());
            foreach (var merge in element.EnumerateArray())
            {
                (string, string)? pair = merge.ValueKind switch
                {
                    JsonValueKind.String => SplitMerge(merge.GetString()!),
                    JsonValueKind.Array when merge.GetArrayLength() == 2 && merge[0].ValueKind == JsonValueKind.String
                        && merge[1].ValueKind == JsonValueKind.String && merge[0].GetString()!.Length > 0 && merge[1].GetString()!.Length > 0
                        => (merge[0].GetString()!, merge[1].GetString()!),
                    _ => null,
                };
                merges.Add(pair ?? throw Error($"model.merges[{merges.Count}]",
                    $"is not \"a b\" (two symbols around one space) or [\"a\", \"b\"]: {merge.GetRawText()}"));
            }
            return merges;
        }

        List<(string, int)> ReadAddedTokens(JsonElement? element)
        {
            var added = new List<(string, int)>();
            if (element is not { } list) return added;
            if (list.ValueKind != JsonValueKind.Array) throw Error("added_tokens", "is not a list");
            foreach (var token in list.EnumerateArray())
            {
                string field = $"added_tokens[{added.Count}]";
                if (token.ValueKind != JsonValueKind.Object) throw Error(field, "is not an object");
                if (Optional(token, "id") is not { ValueKind: JsonValueKind.Number } idElement || !idElement.TryGetInt32(out int id))
                    throw Error($"{field}.id", "is missing or not an integer");
                if (Optional(token, "content") is not { ValueKind: JsonValueKind.String } content)
                    throw Error($"{field}.content", "is missing or not a string");
                foreach (string flag in new[] { "single_word", "lstrip", "rstrip" })
                    if (Optional(token, flag) is { } value && value.ValueKind != JsonValueKind.False)
                        throw Error($"{field}.{flag}", $"is {value.GetRawText()}; only false is supported");
                added.Add((content.GetString()!, id));
            }
            return added;
        }

        string TypeOf(JsonElement element, string field)
        {
            if (element.ValueKind != JsonValueKind.Object) throw Error(field, $"is not an object: {element.GetRawText()}");
            return Optional(element, "type") is { ValueKind: JsonValueKind.String } type ? type.GetString()!
                : throw Error($"{field}.type", "is missing or not a string");
        }

        /// <summary>The property, or null when it is absent or JSON null.</summary>
        static JsonElement? Optional(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        static bool IsSet(JsonElement element, string name) => Optional(element, name) is not null;

        CheckpointException Error(string field, string problem) => new($"tokenizer {path}: '{field}' {problem}");
    }
}
