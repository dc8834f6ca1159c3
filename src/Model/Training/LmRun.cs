using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;

namespace Engine.Model.Training;

/// <summary>How to start, or continue, a resumable language-model run; a null setting takes its default (or, resuming, the run's own).</summary>
/// <param name="TextPath">The training text (UTF-8); its last tenth validates.</param>
/// <param name="OutDir">The run directory.</param>
/// <param name="Config">The model: tiny (the default), small or gpt2, with the text's characters as its vocabulary.</param>
/// <param name="Steps">Optimizer steps in all (default 200); a resumed run may be extended.</param>
/// <param name="Batch">Rows of one context each per step (default 32 for tiny, 8 otherwise).</param>
/// <param name="LearningRate">The peak learning rate (default 1e-3).</param>
/// <param name="Seed">The initialisation seed (default 1).</param>
/// <param name="EvalEvery">Steps between validations (default a tenth of the steps).</param>
/// <param name="CheckpointEvery">Steps between checkpoint sets (default a quarter of the steps).</param>
/// <param name="KeepCheckpoints">Checkpoint sets kept.</param>
/// <param name="Resume">Continue from the newest complete checkpoint set, with the same settings and text.</param>
/// <param name="Force">Replace a run already in the directory.</param>
/// <param name="Device">Where to train (default: the CPU).</param>
public sealed record LmRunOptions(string TextPath, string OutDir = "runs/lm", string? Config = null, int? Steps = null, int? Batch = null,
    float? LearningRate = null, int? Seed = null, int? EvalEvery = null, int? CheckpointEvery = null, int KeepCheckpoints = 3,
    bool Resume = false, bool Force = false, Device? Device = null);

/// <summary>
/// What a run keeps fixed from its start (a resumed run trains with the same settings and text), with where it is: saved as
/// <see cref="FileName"/> in every checkpoint set.
/// </summary>
/// <param name="Step">Steps done.</param>
/// <param name="DataPosition">The position in the training tokens of the next batch.</param>
/// <param name="Config">The model's name: tiny, small or gpt2.</param>
/// <param name="Steps">Steps the run will reach.</param>
/// <param name="Batch">Rows per step.</param>
/// <param name="LearningRate">The peak learning rate.</param>
/// <param name="Seed">The initialisation seed.</param>
/// <param name="CorpusSha256">The SHA-256 of the text's UTF-8 bytes, in lower-case hex.</param>
public sealed record LmRunState(int Step, long DataPosition, string Config, int Steps, int Batch, float LearningRate, long Seed,
    string CorpusSha256)
{
    /// <summary>The state's file in a checkpoint set.</summary>
    public const string FileName = "trainer_state.json";

    /// <summary>The state as the JSON object of <see cref="FileName"/>.</summary>
    public string ToJson() => new JsonObject
    {
        ["step"] = Step,
        ["data_position"] = DataPosition,
        ["config"] = Config,
        ["steps"] = Steps,
        ["batch"] = Batch,
        ["learning_rate"] = LearningRate,
        ["seed"] = Seed,
        ["corpus_sha256"] = CorpusSha256,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>
    /// The state in <paramref name="path"/>; any malformed or missing field is a <see cref="CheckpointException"/> naming the file and
    /// the field.
    /// </summary>
    public static LmRunState Read(string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(InputFile.ReadAllText(path, $"{LmRun.Command}: trainer state"), InputFile.StrictJson());
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{LmRun.Command}: {path} is not valid JSON ({e.Message}); refusing to resume");
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{LmRun.Command}: {path} must hold a JSON object; refusing to resume");
        JsonElement Field(string name, JsonValueKind kind)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind != kind)
                throw new CheckpointException(
                    $"{LmRun.Command}: {path}: field '{name}' is missing or not a {kind.ToString().ToLowerInvariant()}; refusing to resume");
            return v;
        }
        long Integer(string name, long min, long max)
        {
            var v = Field(name, JsonValueKind.Number);
            if (!v.TryGetInt64(out long x) || x < min || x > max)
                throw new CheckpointException(
                    $"{LmRun.Command}: {path}: field '{name}' is {v.GetRawText()}, not an integer in [{min}, {max}]; refusing to resume");
            return x;
        }
        int step = (int)Integer("step", 0, int.MaxValue);
        long position = Integer("data_position", 0, long.MaxValue);
        string config = Field("config", JsonValueKind.String).GetString()!;
        if (!LmRun.Configs.Contains(config))
            throw new CheckpointException($"{LmRun.Command}: {path}: field 'config' is '{config}', not tiny, small or gpt2; refusing to resume");
        int steps = (int)Integer("steps", 1, int.MaxValue), batch = (int)Integer("batch", 1, int.MaxValue);
        var rate = Field("learning_rate", JsonValueKind.Number);
        if (!rate.TryGetSingle(out float learningRate) || !(learningRate > 0) || !float.IsFinite(learningRate))
            throw new CheckpointException(
                $"{LmRun.Command}: {path}: field 'learning_rate' is {rate.GetRawText()}, not a positive float32; refusing to resume");
        var state = new LmRunState(step, position, config, steps, batch, learningRate, Integer("seed", 0, int.MaxValue),
            Field("corpus_sha256", JsonValueKind.String).GetString()!);
        if (state.Step > state.Steps)
            throw new CheckpointException($"{LmRun.Command}: {path}: 'step' {state.Step} is past 'steps' {state.Steps}; refusing to resume");
        return state;
    }
}

/// <summary>Where a run starts, once its text, settings and memory are checked and its model is built or loaded.</summary>
/// <param name="Directory">The run directory.</param>
/// <param name="State">The run's settings and the step it starts from.</param>
/// <param name="Model">The model's shape.</param>
/// <param name="Parameters">The model's parameter count.</param>
/// <param name="Device">Where it trains.</param>
/// <param name="Tokens">Tokens in the text.</param>
/// <param name="TrainTokens">Of them, the training tokens (the rest validate).</param>
/// <param name="Resumed">Whether the run continues from a checkpoint set.</param>
public sealed record LmRunStart(string Directory, LmRunState State, GptConfig Model, long Parameters, Device Device, int Tokens, int TrainTokens,
    bool Resumed);

/// <summary>One finished step of a run.</summary>
/// <param name="Directory">The run directory, whose loss log holds this step.</param>
/// <param name="Steps">The steps the run will reach.</param>
/// <param name="Step">The step's losses and rates.</param>
/// <param name="Checkpointed">Whether a checkpoint set of this step was just saved.</param>
public sealed record LmRunStep(string Directory, int Steps, LmStep Step, bool Checkpointed);

/// <summary>What a run did.</summary>
/// <param name="Directory">The run directory.</param>
/// <param name="Steps">Steps the run has completed in all.</param>
/// <param name="History">The steps this call ran.</param>
public sealed record LmRunResult(string Directory, int Steps, IReadOnlyList<LmStep> History);

/// <summary>What a run reports to its caller as it goes, synchronously on the run's thread; the library itself prints nothing.</summary>
/// <param name="Started">Called once, before the first step.</param>
/// <param name="Stepped">Called after every step (and after its checkpoint, if any).</param>
public sealed record LmRunCallbacks(Action<LmRunStart>? Started = null, Action<LmRunStep>? Stepped = null);

/// <summary>
/// <c>engine train-lm</c> as a library call: a character-level GPT trained on a text file. The run directory holds checkpoint sets
/// (model, tokenizer, optimizer, <see cref="LmRunState"/> and loss log of one step, published atomically), <c>model/</c> with the
/// final model in the Hugging Face layout, and <see cref="LossFileName"/>. Resuming continues from the newest complete set exactly, or
/// refuses; a run is never replaced without <see cref="LmRunOptions.Force"/>.
/// </summary>
public static class LmRun
{
    /// <summary>The command's name in messages and in the run's marker.</summary>
    public const string Command = "train-lm";

    /// <summary>The loss log: one <see cref="LmTrainer.CsvHeader"/> line per step.</summary>
    public const string LossFileName = "loss.csv";

    /// <summary>The model names a run may use.</summary>
    public static IReadOnlyList<string> Configs { get; } = ["tiny", "small", "gpt2"];

    /// <summary>Runs (or resumes) training as <paramref name="options"/> say, telling <paramref name="callbacks"/> each step.</summary>
    public static LmRunResult Execute(LmRunOptions options, LmRunCallbacks? callbacks = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        string text = options.TextPath, outDir = options.OutDir;
        var device = options.Device ?? Device.Cpu;
        InputFile.Check(text, $"{Command}: --text");
        if (!options.Resume) RunDirectory.CheckCreate(Command, outDir, options.Force, [text]);

        RunDirectory? run = null;
        try
        {
            CheckpointSet? latest = null;
            LmRunState? saved = null;
            if (options.Resume)
            {
                (run, latest) = RunDirectory.Resume(Command, outDir, options.KeepCheckpoints);
                saved = LmRunState.Read(latest.File(LmRunState.FileName));
            }
            string corpus = InputFile.ReadAllText(text, $"{Command}: --text");
            string corpusSha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(corpus)));
            var state = saved is null
                ? new LmRunState(0, 0, options.Config ?? "tiny", options.Steps ?? 200, options.Batch ?? (options.Config is null or "tiny" ? 32 : 8),
                    options.LearningRate ?? 1e-3f, options.Seed ?? 1, corpusSha)
                : Continue(saved, latest!.File(LmRunState.FileName), options, corpusSha);
            var tokenizer = latest is null ? CharTokenizer.FromText(corpus) : CharTokenizer.LoadFromDirectory(latest.Directory);
            int[] tokens = tokenizer.Encode(corpus);
            int split = (int)(tokens.Length * 0.9);
            var config = GptConfig.Named(state.Config) with { VocabSize = tokenizer.VocabSize };
            HostMemory.Require(Gpt.TrainingStepBytes(config, state.Batch, config.ContextLength),
                $"{Command}: {state.Config} with batch {state.Batch} × context {config.ContextLength}");
            if (split < config.ContextLength + 1 || tokens.Length - split < config.ContextLength + 1)
                throw new ArgumentException($"{Command}: {text} has {tokens.Length} characters, too few for context {config.ContextLength} " +
                    $"(need about {10 * (config.ContextLength + 1)})");
            run ??= RunDirectory.Create(Command, outDir, options.Force, options.KeepCheckpoints, [text]);
            int evalEvery = options.EvalEvery ?? Math.Max(1, state.Steps / 10);
            int checkpointEvery = options.CheckpointEvery ?? Math.Max(1, state.Steps / 4);
            return Train(run, latest, state, tokenizer, tokens, split, config, device, evalEvery, checkpointEvery, callbacks);
        }
        finally
        {
            run?.Dispose();
        }
    }

    static void Validate(LmRunOptions options)
    {
        foreach (var (name, value) in new[]
            {
                ("steps", options.Steps), ("batch", options.Batch), ("eval-every", options.EvalEvery), ("checkpoint-every", options.CheckpointEvery),
            })
            if (value is <= 0) throw new RunSettingsException($"--{name} must be positive, got {value}");
        if (options.KeepCheckpoints <= 0) throw new RunSettingsException($"--keep-checkpoints must be positive, got {options.KeepCheckpoints}");
        if (options.Seed is < 0) throw new RunSettingsException($"--seed must be ≥ 0, got {options.Seed}");
        if (options.LearningRate is { } rate && !(rate > 0 && float.IsFinite(rate)))
            throw new RunSettingsException($"--lr must be positive, got {rate}");
        if (options.Config is { } config && !Configs.Contains(config))
            throw new RunSettingsException($"--config must be tiny, small or gpt2, got '{config}'");
        RunSettingsException.CheckResumeOrForce(options.Resume, options.Force);
    }

    static LmRunResult Train(RunDirectory run, CheckpointSet? latest, LmRunState state, CharTokenizer tokenizer, int[] tokens, int split,
        GptConfig config, Device device, int evalEvery, int checkpointEvery, LmRunCallbacks? callbacks)
    {
        using var model = latest is null ? new Gpt(config, (ulong)state.Seed, device) : Gpt2Checkpoint.Load(latest.Directory, device);
        if (model.Config != config)
            throw new CheckpointException(
                $"{Command}: {latest!.File(Gpt2Checkpoint.ConfigFileName)} describes {model.Config}, but the run's settings give {config}");
        var options = new LmTrainOptions(state.Steps, state.Batch, state.LearningRate, WarmupSteps: Math.Max(1, state.Steps / 20),
            MinLearningRate: state.LearningRate / 10, EvalEvery: evalEvery);
        using var trainer = new LmTrainer(model, tokens[..split], tokens[split..], options);
        string csv = run.File(LossFileName);
        if (latest is not null)
        {
            if (state.DataPosition > split)
                throw new CheckpointException($"{Command}: {latest.File(LmRunState.FileName)}: 'data_position' {state.DataPosition} " +
                    $"is past the {split} training tokens; refusing to resume");
            Gpt2Checkpoint.LoadOptimizer(trainer.Optimizer, latest.Directory);
            (trainer.Step, trainer.Data.Position) = (state.Step, state.DataPosition);
            // The log goes back to exactly the steps the set has seen; lines written after it are dropped.
            AtomicFile.Write(csv, s => { using var f = InputFile.OpenRead(latest.File(LossFileName), $"{Command}: loss log"); f.CopyTo(s); });
        }
        else File.WriteAllText(csv, LmTrainer.CsvHeader + "\n");
        callbacks?.Started?.Invoke(new LmRunStart(run.Path, state with { Step = trainer.Step }, config, model.ParameterCount, device,
            tokens.Length, split, latest is not null));

        void Checkpoint(int step) => run.Checkpoints.Save(step, dir =>
        {
            Gpt2Checkpoint.Save(model, dir);
            tokenizer.Save(dir);
            Gpt2Checkpoint.SaveOptimizer(trainer.Optimizer, dir);
            File.WriteAllText(Path.Combine(dir, LmRunState.FileName), (state with { Step = step, DataPosition = trainer.Data.Position }).ToJson());
            File.Copy(csv, Path.Combine(dir, LossFileName));
        });
        trainer.Run(onStep: s =>
        {
            LmTrainer.AppendCsv(csv, [s]);
            bool checkpointed = s.Step % checkpointEvery == 0 || s.Step == state.Steps;
            if (checkpointed) Checkpoint(s.Step);
            callbacks?.Stepped?.Invoke(new LmRunStep(run.Path, state.Steps, s, checkpointed));
        });
        run.ExportModel(dir =>
        {
            Gpt2Checkpoint.Save(model, dir);
            tokenizer.Save(dir);
        });
        return new LmRunResult(run.Path, trainer.Step, trainer.History);
    }

    /// <summary>The saved state with the step count the options may extend; any other setting that differs is refused.</summary>
    static LmRunState Continue(LmRunState saved, string path, LmRunOptions options, string corpusSha)
    {
        void Same<T>(string option, T? given, T kept) where T : struct
        {
            if (given is { } g && !g.Equals(kept))
                throw new RunSettingsException($"--{option} {Convert.ToString(g, CultureInfo.InvariantCulture)} differs from the run's " +
                    $"{Convert.ToString(kept, CultureInfo.InvariantCulture)} ({path}); a resumed run keeps its settings (only --steps may change)");
        }
        if (options.Config is { } config && config != saved.Config)
            throw new RunSettingsException($"--config {config} differs from the run's {saved.Config} ({path}); a resumed run keeps its settings");
        Same("batch", options.Batch, saved.Batch);
        Same("lr", options.LearningRate, saved.LearningRate);
        Same<long>("seed", options.Seed, saved.Seed);
        if (corpusSha != saved.CorpusSha256)
            throw new IOException($"{Command}: --text '{options.TextPath}' is not the text the run was trained on " +
                $"(its SHA-256 differs from {path}); refusing to resume");
        if (options.Steps is { } s && s < saved.Step)
            throw new RunSettingsException($"--steps {s} is below the {saved.Step} steps the run has already done ({path})");
        return saved with { Steps = options.Steps ?? saved.Steps };
    }
}
