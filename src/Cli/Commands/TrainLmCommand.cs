using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Model.Training;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine train-lm --text FILE …</c>: trains a character-level GPT on a text file. The run directory holds
/// checkpoint sets (model, tokenizer, optimizer, trainer state and loss log of one step, published atomically),
/// <c>model/</c> with the final model in the Hugging Face layout, loss.csv and loss.svg. <c>--resume</c> continues
/// from the newest complete set exactly, or refuses; a run is never overwritten without <c>--force</c>.
/// </summary>
static class TrainLmCommand
{
    public const string Usage = "engine train-lm --text FILE [--config tiny|small|gpt2] [--steps N] [--out DIR] [--device D] [--batch B] [--lr LR] " +
        "[--seed S] [--eval-every N] [--checkpoint-every N] [--keep-checkpoints N] [--resume] [--force]";
    const string StateFile = "trainer_state.json", LossFile = "loss.csv", Command = "train-lm";

    /// <summary>What a run keeps fixed from its start: a resumed run must train with the same settings and text.</summary>
    sealed record State(int Step, long DataPosition, string Config, int Steps, int Batch, float LearningRate, long Seed, string CorpusSha256);

    public static int Run(Arguments args)
    {
        string text = args.String("text") ?? throw new UsageException("train-lm needs --text FILE");
        string? configName = args.String("config");
        int? steps = args.Int("steps"), batch = args.Int("batch"), seed = args.Int("seed");
        float? lr = args.Float("lr");
        string outDir = args.String("out", "runs/lm");
        var device = Device.Parse(args.String("device", "cpu"));
        int? evalEvery = args.Int("eval-every"), checkpointEvery = args.Int("checkpoint-every");
        int keep = args.Int("keep-checkpoints", 3);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        args.RejectUnknown();
        if (resume && force) throw new UsageException("--resume continues a run and --force replaces it: give one of them");
        foreach (var (name, value) in new[] { ("steps", steps), ("batch", batch), ("eval-every", evalEvery), ("checkpoint-every", checkpointEvery) })
            if (value is <= 0) throw new UsageException($"--{name} must be positive, got {value}");
        if (keep <= 0) throw new UsageException($"--keep-checkpoints must be positive, got {keep}");
        if (seed is < 0) throw new UsageException($"--seed must be ≥ 0, got {seed}");
        if (lr is { } rate && !(rate > 0)) throw new UsageException($"--lr must be positive, got {rate}");
        if (configName is not null && configName is not ("tiny" or "small" or "gpt2"))
            throw new UsageException($"--config must be tiny, small or gpt2, got '{configName}'");
        InputFile.Check(text, "train-lm: --text");
        if (!resume) RunDirectory.CheckCreate(Command, outDir, force, [text]);

        RunDirectory? run = null;
        CheckpointSet? latest = null;
        State? saved = null;
        try
        {
            if (resume)
            {
                (run, latest) = RunDirectory.Resume(Command, outDir, keep);
                saved = ReadState(latest.File(StateFile));
            }
            string corpus = InputFile.ReadAllText(text, "train-lm: --text");
            string corpusSha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(corpus)));
            var state = saved is null
                ? new State(0, 0, configName ?? "tiny", steps ?? 200, batch ?? (configName is null or "tiny" ? 32 : 8),
                    lr ?? 1e-3f, seed ?? 1, corpusSha)
                : Continue(saved, latest!.File(StateFile), text, configName, steps, batch, lr, seed, corpusSha);
            var tokenizer = latest is null ? CharTokenizer.FromText(corpus) : CharTokenizer.LoadFromDirectory(latest.Directory);
            int[] tokens = tokenizer.Encode(corpus);
            int split = (int)(tokens.Length * 0.9);
            var config = GptConfig.Named(state.Config) with { VocabSize = tokenizer.VocabSize };
            double parameterBytes = Gpt.CountParameters(config) * 4.0 * sizeof(float); // weights, gradients, AdamW's two moments
            HostMemory.Require(parameterBytes + Gpt.ActivationBytes(config, state.Batch, config.ContextLength, training: true),
                $"train-lm: {state.Config} with batch {state.Batch} × context {config.ContextLength}");
            if (split < config.ContextLength + 1 || tokens.Length - split < config.ContextLength + 1)
                throw new ArgumentException($"train-lm: {text} has {tokens.Length} characters, too few for context {config.ContextLength} " +
                    $"(need about {10 * (config.ContextLength + 1)})");
            run ??= RunDirectory.Create(Command, outDir, force, keep, [text]);
            return Train(run, latest, state, tokenizer, tokens, split, config, device, evalEvery ?? Math.Max(1, state.Steps / 10),
                checkpointEvery ?? Math.Max(1, state.Steps / 4));
        }
        finally
        {
            run?.Dispose();
        }
    }

    static int Train(RunDirectory run, CheckpointSet? latest, State state, CharTokenizer tokenizer, int[] tokens, int split, GptConfig config,
        Device device, int evalEvery, int checkpointEvery)
    {
        using var model = latest is null ? new Gpt(config, (ulong)state.Seed, device) : Gpt2Checkpoint.Load(latest.Directory, device);
        if (model.Config != config)
            throw new CheckpointException(
                $"train-lm: {latest!.File(Gpt2Checkpoint.ConfigFileName)} describes {model.Config}, but the run's settings give {config}");
        var options = new LmTrainOptions(state.Steps, state.Batch, state.LearningRate, WarmupSteps: Math.Max(1, state.Steps / 20),
            MinLearningRate: state.LearningRate / 10, EvalEvery: evalEvery);
        using var trainer = new LmTrainer(model, tokens[..split], tokens[split..], options);
        string csv = run.File(LossFile);
        if (latest is not null)
        {
            if (state.DataPosition > split)
                throw new CheckpointException($"train-lm: {latest.File(StateFile)}: 'data_position' {state.DataPosition} " +
                    $"is past the {split} training tokens; refusing to resume");
            Gpt2Checkpoint.LoadOptimizer(trainer.Optimizer, latest.Directory);
            (trainer.Step, trainer.Data.Position) = (state.Step, state.DataPosition);
            // The log goes back to exactly the steps the set has seen; lines written after it are dropped.
            AtomicFile.Write(csv, s => { using var f = InputFile.OpenRead(latest.File(LossFile), "train-lm: loss log"); f.CopyTo(s); });
            Console.WriteLine($"resuming {run.Path} at step {trainer.Step} of {state.Steps}");
        }
        else File.WriteAllText(csv, LmTrainer.CsvHeader + "\n");
        Console.WriteLine($"gpt {config.Layers} layers, width {config.Width}, {config.Heads} heads, vocab {config.VocabSize}, " +
            $"context {config.ContextLength}: " +
            $"{model.ParameterCount:N0} parameters on {device}");
        Console.WriteLine($"{tokens.Length:N0} tokens ({split:N0} train), batch {state.Batch}, {state.Steps} steps, " +
            $"lr {state.LearningRate.ToString(CultureInfo.InvariantCulture)}");

        void Checkpoint(int step) => run.Checkpoints.Save(step, dir =>
        {
            Gpt2Checkpoint.Save(model, dir);
            tokenizer.Save(dir);
            Gpt2Checkpoint.SaveOptimizer(trainer.Optimizer, dir);
            File.WriteAllText(Path.Combine(dir, StateFile), WriteState(state with { Step = step, DataPosition = trainer.Data.Position }));
            File.Copy(csv, Path.Combine(dir, LossFile));
        });
        trainer.Run(onStep: s =>
        {
            LmTrainer.AppendCsv(csv, [s]);
            if (s.Step % checkpointEvery == 0 || s.Step == state.Steps)
            {
                Checkpoint(s.Step);
                LmTrainer.PlotCsv(csv, run.File("loss.svg"));
            }
        });
        run.ExportModel(dir =>
        {
            Gpt2Checkpoint.Save(model, dir);
            tokenizer.Save(dir);
        });
        LmTrainer.PlotCsv(csv, run.File("loss.svg"));
        if (trainer.History.Count > 0)
        {
            var last = trainer.History[^1];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {last.Step}: train loss {last.TrainLoss:F4}, val loss {last.ValLoss ?? float.NaN:F4}, " +
                $"{trainer.History.Average(h => h.TokensPerSecond):F0} tokens/s"));
        }
        Console.WriteLine($"wrote {run.Path}/: model/ (config.json, model.safetensors, char-tokenizer.json), checkpoints/, loss.csv, loss.svg");
        return 0;
    }

    /// <summary>The saved state with the step count the command line may extend; any other setting that differs is refused.</summary>
    static State Continue(State saved, string path, string text, string? config, int? steps, int? batch, float? lr, int? seed, string corpusSha)
    {
        void Same<T>(string option, T? given, T kept) where T : struct
        {
            if (given is { } g && !g.Equals(kept))
                throw new UsageException($"--{option} {Convert.ToString(g, CultureInfo.InvariantCulture)} differs from the run's " +
                    $"{Convert.ToString(kept, CultureInfo.InvariantCulture)} ({path}); a resumed run keeps its settings (only --steps may change)");
        }
        if (config is not null && config != saved.Config)
            throw new UsageException($"--config {config} differs from the run's {saved.Config} ({path}); a resumed run keeps its settings");
        Same("batch", batch, saved.Batch);
        Same("lr", lr, saved.LearningRate);
        Same<long>("seed", seed, saved.Seed);
        if (corpusSha != saved.CorpusSha256)
            throw new IOException(
                $"train-lm: --text '{text}' is not the text the run was trained on (its SHA-256 differs from {path}); refusing to resume");
        if (steps is { } s && s < saved.Step)
            throw new UsageException($"--steps {s} is below the {saved.Step} steps the run has already done ({path})");
        return saved with { Steps = steps ?? saved.Steps };
    }

    static string WriteState(State s) => new JsonObject
    {
        ["step"] = s.Step,
        ["data_position"] = s.DataPosition,
        ["config"] = s.Config,
        ["steps"] = s.Steps,
        ["batch"] = s.Batch,
        ["learning_rate"] = s.LearningRate,
        ["seed"] = s.Seed,
        ["corpus_sha256"] = s.CorpusSha256,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>The trainer state in <paramref name="path"/>; any malformed or missing field is an error naming the file and the field.</summary>
    static State ReadState(string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(InputFile.ReadAllText(path, "train-lm: trainer state"), InputFile.StrictJson());
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"train-lm: {path} is not valid JSON ({e.Message}); refusing to resume");
        }
        if (root.ValueKind != JsonValueKind.Object) throw new CheckpointException($"train-lm: {path} must hold a JSON object; refusing to resume");
        JsonElement Field(string name, JsonValueKind kind)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind != kind)
                throw new CheckpointException(
                    $"train-lm: {path}: field '{name}' is missing or not a {kind.ToString().ToLowerInvariant()}; refusing to resume");
            return v;
        }
        long Integer(string name, long min, long max)
        {
            var v = Field(name, JsonValueKind.Number);
            if (!v.TryGetInt64(out long x) || x < min || x > max)
                throw new CheckpointException(
                    $"train-lm: {path}: field '{name}' is {v.GetRawText()}, not an integer in [{min}, {max}]; refusing to resume");
            return x;
        }
        int step = (int)Integer("step", 0, int.MaxValue);
        long position = Integer("data_position", 0, long.MaxValue);
        string config = Field("config", JsonValueKind.String).GetString()!;
        if (config is not ("tiny" or "small" or "gpt2"))
            throw new CheckpointException($"train-lm: {path}: field 'config' is '{config}', not tiny, small or gpt2; refusing to resume");
        int steps = (int)Integer("steps", 1, int.MaxValue), batch = (int)Integer("batch", 1, int.MaxValue);
        var rate = Field("learning_rate", JsonValueKind.Number);
        if (!rate.TryGetSingle(out float learningRate) || !(learningRate > 0) || !float.IsFinite(learningRate))
            throw new CheckpointException(
                $"train-lm: {path}: field 'learning_rate' is {rate.GetRawText()}, not a positive float32; refusing to resume");
        var state = new State(step, position, config, steps, batch, learningRate, Integer("seed", 0, int.MaxValue),
            Field("corpus_sha256", JsonValueKind.String).GetString()!);
        if (state.Step > state.Steps)
            throw new CheckpointException($"train-lm: {path}: 'step' {state.Step} is past 'steps' {state.Steps}; refusing to resume");
        return state;
    }
}
