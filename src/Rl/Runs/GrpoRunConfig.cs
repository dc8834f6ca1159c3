using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Autograd.Optimizers;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;

namespace Engine.Rl.Runs;

/// <summary>A reward of the config: its function and weight, and the entry it came from.</summary>
/// <param name="Function">The reward function.</param>
/// <param name="Weight">Its weight in the outcome reward.</param>
/// <param name="Type">The entry's type.</param>
/// <param name="Fields">The prompt-record fields it reads: every record must have them.</param>
public sealed record ConfiguredReward(IRewardFunction Function, float Weight, string Type, IReadOnlyList<string> Fields);

/// <summary>Where and how often a run evaluates: greedy completions of <paramref name="Prompts"/>, scored with the run's rewards.</summary>
public sealed record EvalConfig(string Prompts, int Every);

/// <summary>
/// The JSON config of <c>engine grpo run</c>: snake_case keys, every one optional but <c>model</c>, <c>prompts</c> and
/// <c>rewards</c>, paths relative to the config file's folder. An unknown key is an error that lists the valid ones;
/// every number is range-checked, and every message names the file and the key. docs/grpo-run.md documents each key.
/// </summary>
public sealed record GrpoRunConfig
{
    /// <summary>The config file.</summary>
    public required string Path { get; init; }
    /// <summary>The model directory (Hugging Face GPT-2 layout, with its tokenizer).</summary>
    public required string Model { get; init; }
    /// <summary>The training prompts (JSONL).</summary>
    public required string Prompts { get; init; }
    /// <summary>The rewards; the outcome reward is their weighted sum.</summary>
    public required IReadOnlyList<ConfiguredReward> Rewards { get; init; }
    /// <summary>Completions per prompt (k).</summary>
    public int GroupSize { get; init; } = 8;
    /// <summary>Prompts (groups) per step.</summary>
    public int PromptsPerStep { get; init; } = 4;
    /// <summary>Optimizer steps of the run.</summary>
    public int Steps { get; init; } = 100;
    /// <summary>Token budget per completion.</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Sampling temperature (also the loss's).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Top-k (0: off).</summary>
    public int TopK { get; init; }
    /// <summary>Top-p (1: off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Strings that end a completion.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>λ-GRPO (true) or GRPO.</summary>
    public bool Lambda { get; init; }
    /// <summary>The aggregation.</summary>
    public Aggregation Loss { get; init; } = Aggregation.TokenMean;
    /// <summary>The advantages' scaling.</summary>
    public RewardScaling ScaleRewards { get; init; } = RewardScaling.Group;
    /// <summary>Lower clip range.</summary>
    public float EpsilonLow { get; init; } = 0.2f;
    /// <summary>Upper clip range.</summary>
    public float EpsilonHigh { get; init; } = 0.2f;
    /// <summary>KL weight against the initial policy.</summary>
    public float Beta { get; init; }
    /// <summary>Passes over each sampled batch.</summary>
    public int Mu { get; init; } = 1;
    /// <summary>Leave truncated completions out of the loss.</summary>
    public bool MaskTruncated { get; init; }
    /// <summary>Leave groups of equal rewards out of the update.</summary>
    public bool DropZeroStdGroups { get; init; }
    /// <summary>Train groups on their packed trie where cheaper.</summary>
    public bool PackedTree { get; init; } = true;
    /// <summary>AdamW's peak learning rate.</summary>
    public float LearningRate { get; init; } = 1e-5f;
    /// <summary>The schedule: constant or cosine.</summary>
    public LrScheduleKind LrSchedule { get; init; } = LrScheduleKind.Constant;
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>AdamW's decoupled weight decay.</summary>
    public float WeightDecay { get; init; }
    /// <summary>Gradient clipping (0: off).</summary>
    public float MaxGradNorm { get; init; } = 1f;
    /// <summary>Seed of the prompt order and of sampling.</summary>
    public int Seed { get; init; }
    /// <summary>Steps between checkpoint sets (the last step always saves one).</summary>
    public int CheckpointEvery { get; init; } = 50;
    /// <summary>Checkpoint sets kept.</summary>
    public int KeepCheckpoints { get; init; } = 3;
    /// <summary>The evaluation, if any.</summary>
    public EvalConfig? Eval { get; init; }
    /// <summary>The device: cpu, cuda or ilgpu-cpu.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Every key a config may hold.</summary>
    public static IReadOnlyList<string> Keys { get; } =
    [
        "model", "prompts", "rewards", "group_size", "prompts_per_step", "steps", "max_new_tokens", "temperature", "top_k", "top_p", "stop",
        "lambda", "loss", "scale_rewards", "epsilon_low", "epsilon_high", "beta", "mu", "mask_truncated", "drop_zero_std_groups", "packed_tree",
        "learning_rate", "lr_schedule", "warmup_steps", "weight_decay", "max_grad_norm", "seed", "checkpoint_every", "keep_checkpoints",
        "eval", "device",
    ];

    /// <summary>The trainer's settings.</summary>
    public GrpoOptions Options => new(GroupSize: GroupSize, PromptsPerStep: PromptsPerStep, Mu: Mu, EpsilonLow: EpsilonLow, EpsilonHigh: EpsilonHigh,
        Beta: Beta, Aggregation: Loss, Scaling: ScaleRewards, LambdaScaling: Lambda, Temperature: Temperature, TopK: TopK, TopP: TopP,
        MaxNewTokens: MaxNewTokens, LearningRate: LearningRate, WeightDecay: WeightDecay, GradClip: MaxGradNorm, Seed: (ulong)Seed,
        PackedTree: PackedTree, Schedule: LrSchedule, WarmupSteps: WarmupSteps, TotalSteps: Steps, DropZeroStdGroups: DropZeroStdGroups,
        MaskTruncated: MaskTruncated, Stop: Stop);

    /// <summary>The rewards as the trainer takes them.</summary>
    public IReadOnlyList<WeightedReward> WeightedRewards => [.. Rewards.Select(r => new WeightedReward(r.Function, r.Weight))];

    /// <summary>The run's name: the config file's name without its extension.</summary>
    public string Name => System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    public static GrpoRunConfig Load(string path)
    {
        try
        {
            return LoadChecked(path);
        }
        catch (InvalidOperationException e) when (e is not RewardException)
        {
            // System.Text.Json reports a string it cannot decode (a lone surrogate) this way.
            throw new ArgumentException($"{path}: {e.Message}", e);
        }
    }

    static GrpoRunConfig LoadChecked(string path)
    {
        InputFile.Check(path, "grpo run: config");
        const long MaxBytes = 16 << 20;
        if (new FileInfo(path).Length > MaxBytes)
            throw new ArgumentException($"{path}: is {new FileInfo(path).Length} bytes; a run config is at most {MaxBytes} bytes");
        string text = InputFile.ReadAllText(path, "grpo run: config");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: InputFile.StrictJson(16));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not valid JSON: {e.Message}", e);
        }
        if (root is not JsonObject json) throw new ArgumentException($"{path}: must hold a JSON object");
        var unknown = json.Select(p => p.Key).Where(k => !Keys.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"{path}: unknown key{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => $"'{k}'"))}; " +
                $"valid keys: {string.Join(", ", Keys)}");
        var read = new Reader(path, json);
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        string Resolve(string p) => System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, p));

        var config = new GrpoRunConfig
        {
            Path = System.IO.Path.GetFullPath(path),
            Model = Resolve(read.String("model") ?? throw new ArgumentException($"{path}: needs 'model' (a model directory)")),
            Prompts = Resolve(read.String("prompts") ?? throw new ArgumentException($"{path}: needs 'prompts' (a JSONL file)")),
            Rewards = ReadRewards(path, json["rewards"]),
            GroupSize = read.Int("group_size", 8, 1, 4096),
            PromptsPerStep = read.Int("prompts_per_step", 4, 1, 4096),
            Steps = read.Int("steps", 100, 1, 100_000_000),
            MaxNewTokens = read.Int("max_new_tokens", 64, 1, 1 << 20),
            Temperature = read.Float("temperature", 1f, 1e-6f, 1e6f),
            TopK = read.Int("top_k", 0, 0, int.MaxValue),
            TopP = read.Float("top_p", 1f, 0f, 1f, lowOpen: true),
            Stop = read.Strings("stop"),
            Lambda = read.Bool("lambda", false),
            Loss = read.Choice("loss", "token-mean", ["seq-mean", "token-mean", "dr-grpo", "group-token-mean"]) switch
            {
                "seq-mean" => Aggregation.SeqMean,
                "dr-grpo" => Aggregation.DrGrpo,
                "group-token-mean" => Aggregation.GroupTokenMean,
                _ => Aggregation.TokenMean,
            },
            ScaleRewards = read.Choice("scale_rewards", "group", ["group", "batch", "none"]) switch
            {
                "batch" => RewardScaling.Batch,
                "none" => RewardScaling.None,
                _ => RewardScaling.Group,
            },
            EpsilonLow = read.Float("epsilon_low", 0.2f, 0f, 1f, highOpen: true),
            EpsilonHigh = read.Float("epsilon_high", 0.2f, 0f, 1e6f),
            Beta = read.Float("beta", 0f, 0f, 1e6f),
            Mu = read.Int("mu", 1, 1, 1000),
            MaskTruncated = read.Bool("mask_truncated", false),
            DropZeroStdGroups = read.Bool("drop_zero_std_groups", false),
            PackedTree = read.Bool("packed_tree", true),
            LearningRate = read.Float("learning_rate", 1e-5f, 0f, 10f),
            LrSchedule = read.Choice("lr_schedule", "constant", ["constant", "cosine"]) == "cosine"
                ? LrScheduleKind.Cosine : LrScheduleKind.Constant,
            WarmupSteps = read.Int("warmup_steps", 0, 0, int.MaxValue),
            WeightDecay = read.Float("weight_decay", 0f, 0f, 1e6f),
            MaxGradNorm = read.Float("max_grad_norm", 1f, 0f, float.MaxValue),
            Seed = read.Int("seed", 0, 0, int.MaxValue),
            CheckpointEvery = read.Int("checkpoint_every", 50, 1, int.MaxValue),
            KeepCheckpoints = read.Int("keep_checkpoints", 3, 1, 1_000_000),
            Eval = ReadEval(path, json["eval"], Resolve),
            Device = read.Choice("device", "cpu", ["cpu", "cuda", "ilgpu-cpu"]),
        };
        if ((long)config.GroupSize * config.PromptsPerStep > 65_536)
            throw new ArgumentException($"{path}: group_size × prompts_per_step is {(long)config.GroupSize * config.PromptsPerStep}; " +
                "at most 65536 completions per step");
        return config;
    }

    /// <summary>
    /// The settings that decide what a run computes, with the SHA-256 of its prompt files (<paramref name="prompts"/> and
    /// <paramref name="eval"/>, as loaded from <see cref="Prompts"/> and <see cref="Eval"/>), as one JSON object; a resumed
    /// run must match its own. Only <c>steps</c> (which extends a run, and stretches a cosine schedule from there on), the
    /// checkpointing and the device may change.
    /// </summary>
    public JsonObject Fingerprint(PromptDataset prompts, PromptDataset? eval)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if ((eval is null) != (Eval is null))
            throw new ArgumentException(Eval is null ? "fingerprint: the config names no eval set, but one was given"
                : $"fingerprint: the config's eval set ({Eval.Prompts}) was not given", nameof(eval));
        var json = new JsonObject
        {
            ["prompts_sha256"] = prompts.Sha256,
            ["rewards"] = new JsonArray([.. Rewards.Select(r => (JsonNode)new JsonObject { ["name"] = r.Function.Name, ["weight"] = r.Weight })]),
            ["group_size"] = GroupSize, ["prompts_per_step"] = PromptsPerStep, ["max_new_tokens"] = MaxNewTokens,
            ["temperature"] = Temperature, ["top_k"] = TopK, ["top_p"] = TopP, ["stop"] = new JsonArray([.. Stop.Select(s => (JsonNode)s)]),
            ["lambda"] = Lambda, ["loss"] = Loss.ToString(), ["scale_rewards"] = ScaleRewards.ToString(), ["epsilon_low"] = EpsilonLow,
            ["epsilon_high"] = EpsilonHigh, ["beta"] = Beta, ["mu"] = Mu, ["mask_truncated"] = MaskTruncated,
            ["drop_zero_std_groups"] = DropZeroStdGroups, ["packed_tree"] = PackedTree, ["learning_rate"] = LearningRate,
            ["lr_schedule"] = LrSchedule.ToString(), ["warmup_steps"] = WarmupSteps, ["weight_decay"] = WeightDecay, ["max_grad_norm"] = MaxGradNorm,
            ["seed"] = Seed, ["eval_sha256"] = eval?.Sha256, ["eval_every"] = Eval?.Every,
        };
        return json;
    }

    static List<ConfiguredReward> ReadRewards(string path, JsonNode? node)
    {
        if (node is not JsonArray list || list.Count == 0)
            throw new ArgumentException($"{path}: 'rewards' must be a non-empty list of {{\"type\": …, \"weight\": w, …}}; " +
                $"types: {string.Join(", ", RewardTypes.Names)}");
        var rewards = new List<ConfiguredReward>();
        for (int i = 0; i < list.Count; i++)
        {
            string where = $"{path}: rewards[{i}]";
            if (list[i] is not JsonObject entry) throw new ArgumentException($"{where} must be an object");
            if (entry["type"] is not JsonValue t || t.GetValueKind() != JsonValueKind.String)
                throw new ArgumentException($"{where} needs a 'type' string; types: {string.Join(", ", RewardTypes.Names)}");
            float weight = 1f;
            if (entry["weight"] is { } w)
            {
                if (w.GetValueKind() != JsonValueKind.Number || !(Math.Abs(w.GetValue<double>()) <= 1e6))
                    throw new ArgumentException($"{where}: 'weight' must be a number in [−1e6, 1e6], got {w.ToJsonString()}");
                weight = (float)w.GetValue<double>();
            }
            string type = t.GetValue<string>();
            var spec = new RewardSpec(entry, where);
            rewards.Add(new ConfiguredReward(RewardTypes.Create(type, spec), weight, type, spec.RecordFields));
        }
        return rewards;
    }

    static EvalConfig? ReadEval(string path, JsonNode? node, Func<string, string> resolve)
    {
        if (node is null) return null;
        if (node is not JsonObject json) throw new ArgumentException($"{path}: 'eval' must be an object {{\"prompts\": FILE, \"every\": N}}");
        var unknown = json.Select(p => p.Key).Where(k => k is not ("prompts" or "every")).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"{path}: eval: unknown key {string.Join(", ", unknown.Select(k => $"'{k}'"))}; valid keys: prompts, every");
        var read = new Reader($"{path}: eval", json);
        string prompts = read.String("prompts") ?? throw new ArgumentException($"{path}: eval needs 'prompts' (a JSONL file)");
        return new EvalConfig(resolve(prompts), read.Int("every", 10, 1, int.MaxValue));
    }

    /// <summary>Typed, range-checked reads of a JSON object's keys; each message names the file and the key.</summary>
    sealed class Reader(string where, JsonObject json)
    {
        /// <summary>The key's node; null when the key is absent, and an error when it is present as JSON null.</summary>
        JsonNode? Node(string key) =>
            json.TryGetPropertyValue(key, out var node) && node is null
                ? throw new ArgumentException($"{where}: '{key}' is null; leave it out for its default")
                : node;

        public string? String(string key)
        {
            var node = Node(key);
            if (node is null) return null;
            if (node.GetValueKind() != JsonValueKind.String || node.GetValue<string>().Length == 0)
                throw new ArgumentException($"{where}: '{key}' must be a non-empty string, got {node.ToJsonString()}");
            return node.GetValue<string>();
        }

        public int Int(string key, int fallback, int min, int max)
        {
            var node = Node(key);
            if (node is null) return fallback;
            if (node.GetValueKind() != JsonValueKind.Number || !((JsonValue)node).TryGetValue(out double d) || d != Math.Floor(d)
                || d < min || d > max)
                throw new ArgumentException($"{where}: '{key}' must be an integer in [{min}, {max}], got {node.ToJsonString()}");
            return (int)d;
        }

        public float Float(string key, float fallback, float min, float max, bool lowOpen = false, bool highOpen = false)
        {
            var node = Node(key);
            if (node is null) return fallback;
            string range = $"{(lowOpen ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, " +
                $"{max.ToString(CultureInfo.InvariantCulture)}{(highOpen ? ")" : "]")}";
            if (node.GetValueKind() != JsonValueKind.Number || !((JsonValue)node).TryGetValue(out double d)
                || !(lowOpen ? d > min : d >= min) || !(highOpen ? d < max : d <= max) || !float.IsFinite((float)d))
                throw new ArgumentException($"{where}: '{key}' must be a number in {range}, got {node.ToJsonString()}");
            return (float)d;
        }

        public bool Bool(string key, bool fallback)
        {
            var node = Node(key);
            if (node is null) return fallback;
            return node.GetValueKind() switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new ArgumentException($"{where}: '{key}' must be true or false, got {node.ToJsonString()}"),
            };
        }

        public string Choice(string key, string fallback, string[] choices)
        {
            var node = Node(key);
            if (node is null) return fallback;
            string? value = node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;
            return value is not null && choices.Contains(value) ? value
                : throw new ArgumentException(
                    $"{where}: '{key}' must be one of {string.Join(", ", choices.Select(c => $"\"{c}\""))}, got {node.ToJsonString()}");
        }

        public IReadOnlyList<string> Strings(string key)
        {
            var node = Node(key);
            if (node is null) return [];
            if (node is not JsonArray list
                || list.Any(s => s is null || s.GetValueKind() != JsonValueKind.String || s.GetValue<string>().Length == 0))
                throw new ArgumentException($"{where}: '{key}' must be a list of non-empty strings, got {node.ToJsonString()}");
            return [.. list.Select(s => s!.GetValue<string>())];
        }
    }
}
