using System.CommandLine;
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
    static readonly Option<string?> ModelDir = CliOptions.Path("model", "the model directory (config.json, model.safetensors, a tokenizer)",
        "DIR", required: true);
    static readonly Option<string?> Prompt = CliOptions.Text("prompt",
        "the prompt as text, with the model's tokenizer (give --prompt or --prompt-ids)", "TEXT");
    static readonly Option<string?> PromptIds = CliOptions.Text("prompt-ids", "the prompt as comma-separated token ids", "1,2,3");
    static readonly Option<int?> MaxNewTokens = CliOptions.Integer("max-new-tokens",
        "tokens to add (fewer when the model's context fills: stderr says so, and --json adds \"stopped\": \"context_limit\")");
    static readonly Option<bool> Greedy = CliOptions.Flag("greedy", "always take the most likely token");
    static readonly Option<float?> Temperature = CliOptions.Number("temperature", "divides the logits (0 is greedy; default 1)", "T");
    static readonly Option<int?> TopK = CliOptions.Integer("top-k", "sample among the K most likely tokens (0, the default: all)", "K");
    static readonly Option<float?> TopP = CliOptions.Number("top-p", "sample among the most likely tokens whose mass reaches P (default 1)", "P");
    static readonly Option<int> Seed = CliOptions.Integer("seed", "the sampling seed", 0, "S");
    static readonly Option<bool> Json = CliOptions.Flag("json", "print one JSON object: {\"ids\":[…]} and \"text\" when there is a tokenizer");
    static readonly Option<string> DeviceName = CliOptions.Device();

    public static Command Build()
    {
        var command = new Command("sample", "continue a prompt with the KV cache")
        {
            ModelDir, Prompt, PromptIds, MaxNewTokens, Greedy, Temperature, TopK, TopP, Seed, Json, DeviceName,
        };
        MaxNewTokens.Required = true;
        command.SetAction(Run);
        return command;
    }

    /// <summary>Non-ASCII text as itself, not as \uXXXX escapes (control characters and quotes are still escaped).</summary>
    static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static int Run(ParseResult args)
    {
        string dir = args.GetValue(ModelDir)!;
        string? text = args.GetValue(Prompt), idList = args.GetValue(PromptIds);
        int maxNew = args.GetValue(MaxNewTokens) ?? -1;
        bool greedy = args.GetValue(Greedy);
        float? givenTemperature = args.GetValue(Temperature), givenTopP = args.GetValue(TopP);
        int? givenTopK = args.GetValue(TopK);
        float temperature = givenTemperature ?? 1f, topP = givenTopP ?? 1f;
        int topK = givenTopK ?? 0;
        int seed = args.GetValue(Seed);
        bool json = args.GetValue(Json);
        var device = Device.Parse(args.GetValue(DeviceName)!);
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
            prompt = idList!.Split(',', StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
                    ? v : throw new UsageException($"--prompt-ids: '{s}' is not an integer"))
                .ToArray();
            // The ids are decoded with the text they lead to, so each must be one the tokenizer knows.
            int limit = tokenizer?.VocabSize ?? model.Config.VocabSize;
            int outside = Array.FindIndex(prompt, id => id < 0 || id >= limit);
            if (outside >= 0)
                throw new ArgumentException($"sample: --prompt-ids holds {prompt[outside]}, outside the " + (tokenizer is null
                    ? $"model's vocabulary of {limit}" : $"tokenizer's vocabulary of {limit} (the model's has {model.Config.VocabSize})"));
        }
        var sampling = greedy ? SamplingOptions.ArgMax : new SamplingOptions(false, temperature, topK, topP);
        var stop = tokenizer?.EosId is int eos ? new HashSet<int> { eos } : null;
        var ids = Generation.Generate(model, [prompt], new GenerationOptions(maxNew, sampling, (ulong)seed, stop, decodable))[0];
        // The model cannot see past its context: a continuation that fills it ends there, and the output says so.
        bool stoppedAtContext = ids.Length < maxNew && (ids.Length == 0 || stop?.Contains(ids[^1]) != true);
        if (stoppedAtContext)
            Console.Error.WriteLine($"sample: stopped after {ids.Length} of the {maxNew} new tokens asked for: the prompt's {prompt.Length} " +
                $"tokens and the continuation fill the model's context of {model.Config.ContextLength}");
        // Decoded together, a character whose bytes straddle the prompt and the continuation comes out whole.
        string? whole = tokenizer?.Decode([.. prompt, .. ids]);
        if (json)
        {
            var result = new Dictionary<string, object> { ["ids"] = ids };
            if (tokenizer is not null)
            {
                string head = tokenizer.Decode(prompt);
                result["text"] = whole!.StartsWith(head, StringComparison.Ordinal) ? whole[head.Length..] : tokenizer.Decode(ids);
            }
            if (stoppedAtContext) result["stopped"] = "context_limit";
            Console.WriteLine(JsonSerializer.Serialize(result, Readable));
        }
        else
        {
            Console.WriteLine(whole ?? string.Join(",", ids));
        }
        return 0;
    }
}
