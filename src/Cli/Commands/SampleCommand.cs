using System.Globalization;
using System.Text.Json;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine sample --model DIR (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N [--greedy |
/// --temperature T --top-k K --top-p P] [--seed S] [--json]</c>: continues a prompt with the KV cache.
/// </summary>
static class SampleCommand
{
    public const string Usage = "engine sample --model DIR (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N " +
        "[--greedy | --temperature T --top-k K --top-p P] [--seed S] [--json] [--device D]";

    public static int Run(Arguments args)
    {
        string dir = args.String("model") ?? throw new UsageException("sample needs --model DIR");
        string? text = args.String("prompt");
        string? idList = args.String("prompt-ids");
        int maxNew = args.Int("max-new-tokens", -1);
        bool greedy = args.Flag("greedy");
        float? givenTemperature = args.Float("temperature"), givenTopP = args.Float("top-p");
        int? givenTopK = args.Int("top-k");
        float temperature = givenTemperature ?? 1f, topP = givenTopP ?? 1f;
        int topK = givenTopK ?? 0;
        int seed = args.Int("seed", 0);
        bool json = args.Flag("json");
        var device = Device.Parse(args.String("device", "cpu"));
        args.RejectUnknown();
        if ((text is null) == (idList is null)) throw new UsageException("sample needs exactly one of --prompt TEXT and --prompt-ids 1,2,3");
        if (maxNew < 0) throw new UsageException("sample needs --max-new-tokens N (N ≥ 0)");
        if (temperature < 0) throw new UsageException($"--temperature must be ≥ 0 (0 is greedy), got {temperature}");
        if (topK < 0) throw new UsageException($"--top-k must be ≥ 0 (0 keeps every token), got {topK}");
        if (!(topP > 0 && topP <= 1)) throw new UsageException($"--top-p must be in (0, 1], got {topP}");
        if (seed < 0) throw new UsageException($"--seed must be ≥ 0, got {seed}");
        if (greedy && (givenTemperature, givenTopK, givenTopP) != (null, null, null))
            throw new UsageException("--greedy takes the most likely token; it cannot be combined with --temperature, --top-k or --top-p");

        dir = Gpt2Checkpoint.ResolveDirectory(dir);
        using var model = Gpt2Checkpoint.Load(dir, device);
        var tokenizer = Tokenizer.Load(dir);
        if (tokenizer is not null && tokenizer.VocabSize > model.Config.VocabSize)
            throw new ArgumentException($"sample: the tokenizer in {dir} has {tokenizer.VocabSize} tokens, " +
                $"more than the model's vocab_size {model.Config.VocabSize} in config.json");
        // A model whose vocabulary is padded beyond its tokenizer's may only produce ids the tokenizer can decode.
        int[]? decodable = tokenizer is not null && tokenizer.VocabSize < model.Config.VocabSize
            ? [.. Enumerable.Range(0, tokenizer.VocabSize)] : null;
        int[] prompt;
        if (text is not null)
        {
            if (tokenizer is null) throw new ArgumentException($"sample: {dir} has no tokenizer; pass --prompt-ids instead of --prompt");
            prompt = tokenizer.Encode(text);
        }
        else
        {
            prompt = idList!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
                    ? v : throw new UsageException($"--prompt-ids: '{s}' is not an integer"))
                .ToArray();
        }
        var sampling = greedy ? SamplingOptions.ArgMax : new SamplingOptions(false, temperature, topK, topP);
        var stop = tokenizer?.EosId is int eos ? new HashSet<int> { eos } : null;
        var ids = Generation.Generate(model, [prompt], new GenerationOptions(maxNew, sampling, (ulong)seed, stop, decodable))[0];
        if (ids.Length < maxNew && (ids.Length == 0 || stop?.Contains(ids[^1]) != true))
            Console.Error.WriteLine($"sample: stopped after {ids.Length} new tokens, at the model's context of {model.Config.ContextLength}");
        string? decoded = tokenizer?.Decode(ids);
        if (json)
        {
            var result = new Dictionary<string, object> { ["ids"] = ids };
            if (decoded is not null) result["text"] = decoded;
            Console.WriteLine(JsonSerializer.Serialize(result));
        }
        else
        {
            Console.WriteLine(decoded is not null ? (tokenizer!.Decode(prompt) + decoded) : string.Join(",", ids));
        }
        return 0;
    }
}
