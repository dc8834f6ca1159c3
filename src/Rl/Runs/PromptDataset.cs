using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model.Tokenizers;
using Engine.Random;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;

namespace Engine.Rl.Runs;

/// <summary>
/// The prompts of a JSONL file, one object per line with a <c>prompt</c> string and any other fields, tokenized.
/// The run visits them epoch by epoch, each epoch in its own seeded order, so that the prompts of step s are a pure
/// function of (seed, s) and a resumed run draws the same ones.
/// </summary>
public sealed class PromptDataset
{
    readonly GrpoPrompt[] _prompts;
    readonly ulong _seed;
    readonly Dictionary<long, int[]> _orders = [];

    PromptDataset(GrpoPrompt[] prompts, ulong seed, string sha256)
    {
        _prompts = prompts;
        _seed = seed;
        Sha256 = sha256;
    }

    /// <summary>Prompts in the file.</summary>
    public int Count => _prompts.Length;

    /// <summary>Every prompt in file order.</summary>
    public IReadOnlyList<GrpoPrompt> All => _prompts;

    /// <summary>The SHA-256 of the bytes these prompts were read from, in lower-case hex.</summary>
    public string Sha256 { get; }

    /// <summary>
    /// Reads <paramref name="path"/>: blank lines are skipped; any other line must be a JSON object with a non-empty
    /// string <c>prompt</c> whose tokens leave room for a completion in <paramref name="contextLength"/>. The file is strict
    /// UTF-8 (an invalid byte is an error that names its offset); every other error names the file and the line.
    /// </summary>
    public static PromptDataset Load(string path, ITokenizer tokenizer, int contextLength, ulong seed = 0, string what = "prompts file")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        using var lines = new StringReader(InputFile.ReadAllText(path, what, out byte[] bytes));
        var prompts = new List<GrpoPrompt>();
        int line = 0;
        for (string? text; (text = lines.ReadLine()) is not null;)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            string where = $"{path}:{line}";
            try
            {
                JsonNode? node;
                try
                {
                    node = JsonNode.Parse(text, documentOptions: InputFile.StrictJson(32));
                }
                catch (JsonException e)
                {
                    throw new ArgumentException($"{where}: not valid JSON: {e.Message}", e);
                }
                if (node is not JsonObject fields) throw new ArgumentException($"{where}: each line must be a JSON object with a \"prompt\" string");
                if (fields["prompt"] is not JsonValue p || p.GetValueKind() != JsonValueKind.String)
                    throw new ArgumentException($"{where}: needs a \"prompt\" string, got {fields["prompt"]?.ToJsonString() ?? "nothing"}");
                string prompt = p.GetValue<string>();
                int[] ids;
                try
                {
                    ids = tokenizer.Encode(prompt);
                }
                catch (ArgumentException e)
                {
                    string reason = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
                    throw new ArgumentException($"{where}: the prompt cannot be tokenized: {reason}", e);
                }
                if (ids.Length == 0) throw new ArgumentException($"{where}: the prompt encodes to no tokens");
                if (ids.Length >= contextLength)
                    throw new ArgumentException($"{where}: the prompt has {ids.Length} tokens, " +
                        $"which leaves no room for a completion in the model's context of {contextLength}");
                prompts.Add(new GrpoPrompt(ids, new PromptRecord(prompt, fields, where)));
            }
            catch (InvalidOperationException e)
            {
                // System.Text.Json reports a string it cannot decode (a lone surrogate) this way.
                throw new ArgumentException($"{where}: {e.Message}", e);
            }
        }
        if (prompts.Count == 0) throw new ArgumentException($"{path}: holds no prompts");
        return new PromptDataset([.. prompts], seed, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    /// <summary>The <paramref name="count"/> prompts of step <paramref name="step"/> (0-based).</summary>
    public GrpoPrompt[] Batch(int step, int count)
    {
        var batch = new GrpoPrompt[count];
        for (int j = 0; j < count; j++)
        {
            long index = (long)step * count + j;
            batch[j] = _prompts[Order(index / _prompts.Length)[(int)(index % _prompts.Length)]];
        }
        return batch;
    }

    /// <summary>The visiting order of epoch <paramref name="epoch"/>: a Fisher–Yates shuffle drawn from Philox(seed, epoch).</summary>
    int[] Order(long epoch)
    {
        if (_orders.TryGetValue(epoch, out var order)) return order;
        if (_orders.Count > 4) _orders.Clear();
        order = Enumerable.Range(0, _prompts.Length).ToArray();
        // Another multiplier than the sampling streams' (GrpoTrainer), so no epoch's order shares a Philox stream with a group.
        var rng = new Generator(unchecked(_seed * 0xD1342543DE82EF95UL + 0x632BE59BD9B4E019UL + (ulong)epoch));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(rng.NextUniform() * (i + 1));
            if (j > i) j = i;
            (order[i], order[j]) = (order[j], order[i]);
        }
        return _orders[epoch] = order;
    }
}
