using System.Globalization;
using System.Text.Json;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Model.Training;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine train-lm --text FILE [--config tiny|small|…] [--steps N] [--out DIR] [--device D]</c>: trains a
/// character-level GPT on a text file, writing a Hugging Face-layout model directory with its tokenizer,
/// optimizer state, trainer state, loss.csv and loss.svg. <c>--resume</c> continues a run in DIR exactly.
/// </summary>
static class TrainLmCommand
{
    public const string Usage = "engine train-lm --text FILE [--config tiny|small|gpt2] [--steps N] [--out DIR] [--device D] [--batch B] [--lr LR] [--seed S] [--eval-every N] [--checkpoint-every N] [--resume]";
    const string StateFile = "trainer_state.json";

    public static int Run(Arguments args)
    {
        string text = args.String("text") ?? throw new UsageException("train-lm needs --text FILE");
        var baseConfig = GptConfig.Named(args.String("config", "tiny"));
        int steps = args.Int("steps", 200);
        string outDir = args.String("out", "runs/lm");
        var device = Device.Parse(args.String("device", "cpu"));
        int batch = args.Int("batch", baseConfig == GptConfig.Tiny ? 32 : 8);
        float lr = args.Float("lr", 1e-3f);
        ulong seed = (ulong)args.Int("seed", 1);
        int evalEvery = args.Int("eval-every", Math.Max(1, steps / 10));
        int checkpointEvery = args.Int("checkpoint-every", Math.Max(1, steps / 4));
        bool resume = args.Flag("resume");
        args.RejectUnknown();
        if (steps <= 0 || batch <= 0 || evalEvery <= 0 || checkpointEvery <= 0)
            throw new UsageException("--steps, --batch, --eval-every and --checkpoint-every must be positive");
        if (Directory.Exists(text)) throw new IOException($"train-lm: --text '{text}' is a directory, not a file");
        if (!File.Exists(text)) throw new IOException($"train-lm: text file '{text}' not found");
        string statePath = Path.Combine(outDir, StateFile);
        if (resume && !File.Exists(statePath))
            throw new IOException($"train-lm: --resume, but {statePath} is missing: there is no run to resume in '{outDir}'");

        string corpus = File.ReadAllText(text);
        OutputDirectory.Prepare("train-lm", outDir);
        bool resuming = resume;
        var tokenizer = resuming ? CharTokenizer.Load(Path.Combine(outDir, CharTokenizer.FileName)) : CharTokenizer.FromText(corpus);
        int[] tokens = tokenizer.Encode(corpus);
        int split = (int)(tokens.Length * 0.9);
        var config = baseConfig with { VocabSize = tokenizer.VocabSize };
        if (split < config.ContextLength + 1 || tokens.Length - split < config.ContextLength + 1)
            throw new ArgumentException($"train-lm: {tokens.Length} characters are too few for context {config.ContextLength} (need about {10 * (config.ContextLength + 1)})");

        using var model = resuming ? Gpt2Checkpoint.Load(outDir, device) : new Gpt(config, seed, device);
        var options = new LmTrainOptions(steps, batch, lr, WarmupSteps: Math.Max(1, steps / 20), MinLearningRate: lr / 10, EvalEvery: evalEvery);
        using var trainer = new LmTrainer(model, tokens[..split], tokens[split..], options);
        string csv = Path.Combine(outDir, "loss.csv");
        if (resuming)
        {
            Gpt2Checkpoint.LoadOptimizer(trainer.Optimizer, outDir);
            (trainer.Step, trainer.Data.Position) = ReadState(statePath);
            Console.WriteLine($"resuming {outDir} at step {trainer.Step}");
        }
        else
        {
            File.Delete(csv);
            tokenizer.Save(outDir);
        }
        Console.WriteLine($"gpt {config.Layers} layers, width {config.Width}, {config.Heads} heads, vocab {config.VocabSize}, context {config.ContextLength}: {model.ParameterCount:N0} parameters on {device}");
        Console.WriteLine($"{tokens.Length:N0} tokens ({split:N0} train), batch {batch}, {steps} steps, lr {lr}");

        int saved = 0;
        void Checkpoint()
        {
            Gpt2Checkpoint.Save(model, outDir);
            Gpt2Checkpoint.SaveOptimizer(trainer.Optimizer, outDir);
            AtomicFile.WriteText(Path.Combine(outDir, StateFile), JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["step"] = trainer.Step,
                ["data_position"] = trainer.Data.Position,
                ["seed"] = seed,
            }));
            LmTrainer.AppendCsv(csv, trainer.History.Skip(saved));
            saved = trainer.History.Count;
            LmTrainer.PlotCsv(csv, Path.Combine(outDir, "loss.svg"));
        }
        trainer.Run(onStep: s =>
        {
            if (s.Step % checkpointEvery == 0 || s.Step == steps) Checkpoint();
        });
        if (trainer.History.Count > 0)
        {
            var last = trainer.History[^1];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {last.Step}: train loss {last.TrainLoss:F4}, val loss {last.ValLoss ?? float.NaN:F4}, {trainer.History.Average(h => h.TokensPerSecond):F0} tokens/s"));
        }
        Console.WriteLine($"wrote {outDir}/ (config.json, model.safetensors, tokenizer.json, optimizer.safetensors, loss.csv, loss.svg)");
        return 0;
    }

    /// <summary>The step and data position of <paramref name="path"/>; any malformed or missing field is an error naming the file.</summary>
    static (int Step, long DataPosition) ReadState(string path)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
        }
        catch (JsonException e)
        {
            throw new IOException($"train-lm: {path} is not valid JSON ({e.Message}); refusing to resume");
        }
        if (root.ValueKind != JsonValueKind.Object) throw new IOException($"train-lm: {path} must hold a JSON object; refusing to resume");
        long Field(string name, long max)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x) || x < 0 || x > max)
                throw new IOException($"train-lm: {path}: field '{name}' is missing or not an integer in [0, {max}]; refusing to resume");
            return x;
        }
        return ((int)Field("step", int.MaxValue), Field("data_position", long.MaxValue));
    }
}
