using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;

namespace Engine.Rl.Runs;

/// <summary>How to run a config: where, how long, and whether to continue or replace a run already there.</summary>
/// <param name="OutDir">The run directory (default <c>runs/grpo-&lt;config name&gt;</c>).</param>
/// <param name="Steps">Overrides the config's step count (a resumed run can be extended).</param>
/// <param name="Resume">Continue from the newest complete checkpoint set.</param>
/// <param name="Force">Replace a run that is already in the directory.</param>
public sealed record GrpoRunOptions(string? OutDir = null, int? Steps = null, bool Resume = false, bool Force = false)
{
    /// <summary>
    /// Throws <see cref="RunSettingsException"/> for options that cannot run (<see cref="GrpoRun.Execute"/> checks them before it
    /// reads anything): steps that are not positive, or both <see cref="Resume"/> and <see cref="Force"/>.
    /// </summary>
    public void Validate()
    {
        RunSettingsException.CheckResumeOrForce(Resume, Force);
        if (Steps is <= 0) throw new RunSettingsException($"--steps must be positive, got {Steps}");
    }
}

/// <summary>What a run did.</summary>
/// <param name="Directory">The run directory.</param>
/// <param name="Steps">Steps the run has completed in all.</param>
/// <param name="Last">The metrics of the last step run by this call (null if it ran none).</param>
/// <param name="TrainerSeconds">Seconds inside the trainer's steps (sampling, scoring, updates) in this call.</param>
/// <param name="OverheadSeconds">Seconds of everything else in this call: data, metrics, plots, checkpoints (not evaluation).</param>
public sealed record GrpoRunResult(string Directory, int Steps, GrpoStepMetrics? Last, double TrainerSeconds, double OverheadSeconds);

/// <summary>Where a run starts, once its inputs are checked and its policy is loaded.</summary>
/// <param name="Directory">The run directory.</param>
/// <param name="Config">The config as run (with the step count of <see cref="GrpoRunOptions.Steps"/>).</param>
/// <param name="ModelDirectory">The directory the policy was loaded from (a checkpoint set when resuming).</param>
/// <param name="Parameters">The policy's parameter count.</param>
/// <param name="Device">Where it trains.</param>
/// <param name="Prompts">Prompts in the training set.</param>
/// <param name="ResumedAt">The step a resumed run continues from; null for a new run.</param>
public sealed record GrpoRunStart(string Directory, GrpoRunConfig Config, string ModelDirectory, long Parameters, Device Device, int Prompts,
    int? ResumedAt);

/// <summary>One finished step of a run.</summary>
/// <param name="Directory">The run directory, whose metrics files hold this step.</param>
/// <param name="Steps">The steps the run will reach.</param>
/// <param name="Metrics">The step's metrics (with the evaluation, on the steps that evaluate).</param>
/// <param name="Checkpointed">Whether a checkpoint set of this step was just saved.</param>
public sealed record GrpoRunStep(string Directory, int Steps, GrpoStepMetrics Metrics, bool Checkpointed);

/// <summary>What a run reports to its caller as it goes, synchronously on the run's thread; the library itself prints nothing.</summary>
/// <param name="Started">Called once, before the first step.</param>
/// <param name="Stepped">Called after every step (and after its checkpoint, if any).</param>
public sealed record GrpoRunCallbacks(Action<GrpoRunStart>? Started = null, Action<GrpoRunStep>? Stepped = null);

/// <summary>
/// <c>engine grpo run</c> as a library call: GRPO or λ-GRPO on a model directory, a prompt file and rewards, with
/// checkpoint sets that resume bit-exactly, metrics in JSONL and CSV, greedy evaluations and the final policy in <c>model/</c>.
/// </summary>
public static class GrpoRun
{
    /// <summary>The command's name in messages.</summary>
    public const string Command = "grpo run";

    const string ConfigFileName = "run_config.json";

    /// <summary>Runs <paramref name="config"/>, telling <paramref name="callbacks"/> where it starts and each step it finishes.</summary>
    public static GrpoRunResult Execute(GrpoRunConfig config, GrpoRunOptions options, GrpoRunCallbacks? callbacks = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        config = config with { Steps = options.Steps ?? config.Steps };
        string outDir = options.OutDir ?? Path.Combine("runs", $"grpo-{config.Name}");
        var device = Device.Parse(config.Device);

        RunDirectory? run = null;
        CheckpointSet? latest = null;
        try
        {
            if (options.Resume)
            {
                (run, latest) = RunDirectory.Resume(Command, outDir, config.KeepCheckpoints);
                if (latest.Step > config.Steps)
                    throw new ArgumentException(
                        $"{Command}: the run in '{outDir}' is already at step {latest.Step}, past the {config.Steps} steps asked for");
            }
            else RunDirectory.CheckCreate(Command, outDir, options.Force, Inputs(config));

            string modelDir;
            try
            {
                modelDir = latest?.Directory ?? Gpt2Checkpoint.ResolveDirectory(config.Model);
            }
            catch (DirectoryNotFoundException e)
            {
                throw new ArgumentException($"{config.Path}: 'model': {e.Message}", e);
            }
            // Read once, with the bytes that every checkpoint set copies: the set they come from may be pruned while the run goes on.
            var (tokenizer, tokenizerFiles) = Tokenizer.LoadWithFiles(modelDir)
                ?? throw new ArgumentException(
                    $"{config.Path}: the model '{modelDir}' has no tokenizer: expected {Tokenizer.ExpectedFiles}");
            var modelConfig = Gpt2Checkpoint.ReadConfig(modelDir);
            if (tokenizer.VocabSize > modelConfig.VocabSize)
                throw new ArgumentException($"{Command}: the tokenizer in {modelDir} has {tokenizer.VocabSize} tokens, " +
                    $"more than the model's vocab_size {modelConfig.VocabSize}");
            var dataset = PromptDataset.Load(config.Prompts, tokenizer, modelConfig.ContextLength, (ulong)config.Seed, "prompts file");
            var evalSet = config.Eval is null ? null
                : PromptDataset.Load(config.Eval.Prompts, tokenizer, modelConfig.ContextLength, what: "eval prompts file");
            // Every checkpoint set stores it, and a resume compares against it.
            var fingerprint = config.Fingerprint(dataset, evalSet);
            string fingerprintText = fingerprint.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
            if (latest is not null) CheckSameRun(config, fingerprint, latest);
            // Every record must carry the fields the rewards read, or a run could fail hours in, at the prompt that lacks one.
            foreach (var set in evalSet is null ? [dataset] : new[] { dataset, evalSet })
                foreach (var prompt in set.All)
                    foreach (var (reward, i) in config.Rewards.Select((r, i) => (r, i)))
                        foreach (var field in reward.Fields)
                            if (((PromptRecord)prompt.TaskData!).Fields[field] is null)
                                throw new ArgumentException($"{((PromptRecord)prompt.TaskData!).Source}: has no field '{field}', " +
                                    $"which rewards[{i}] " +
                                    $"({reward.Function.Name}) reads");
            int longest = Math.Min(modelConfig.ContextLength, dataset.All.Max(p => p.Ids.Length) + config.MaxNewTokens);
            double weights = Gpt.CountParameters(modelConfig) * (double)sizeof(float) * (config.Beta > 0 ? 5 : 4);
            HostMemory.Require(weights + Math.Max(Gpt.ActivationBytes(modelConfig, config.GroupSize, longest, training: true),
                    Gpt.GenerationBytes(modelConfig, (long)config.PromptsPerStep * config.GroupSize)),
                $"{Command}: a {modelConfig.Layers}-layer model sampling {config.PromptsPerStep} × {config.GroupSize} completions " +
                $"and training groups of {config.GroupSize} × {longest} tokens");
            run ??= RunDirectory.Create(Command, outDir, options.Force, config.KeepCheckpoints, Inputs(config));

            using var policy = Gpt2Checkpoint.Load(modelDir, device);
            var stop = tokenizer.EosId is int eos ? new HashSet<int> { eos } : null;
            // A vocabulary padded beyond the tokenizer's: the policy samples, and is trained on, only ids the tokenizer can decode.
            int[]? decodable = tokenizer.VocabSize < modelConfig.VocabSize ? [.. Enumerable.Range(0, tokenizer.VocabSize)] : null;
            using var trainer = new GrpoTrainer(policy, config.Options, config.WeightedRewards, tokenizer, decodable, stop);
            if (latest is not null)
            {
                GrpoCheckpoint.Restore(trainer, latest.Directory);
                foreach (var name in GrpoLog.FileNames)
                    AtomicFile.Write(run.File(name), s =>
                    {
                        using var f = InputFile.OpenRead(latest.File(name), "grpo run: metrics");
                        f.CopyTo(s);
                    });
            }
            var evalKeys = evalSet is null ? null
                : (IReadOnlyList<string>)["eval/reward_mean", .. Enumerable.Range(0, config.Rewards.Count).Select(i => $"eval/reward/{i}"),
                    "eval/truncated_fraction"];
            var log = new GrpoLog(run.Path, GrpoStepMetrics.ColumnNames(config.Rewards.Count, evalKeys), append: latest is not null);
            callbacks?.Started?.Invoke(new GrpoRunStart(run.Path, config, modelDir, policy.ParameterCount, device, dataset.Count,
                latest is null ? null : trainer.StepCount));

            void Checkpoint() => run.Checkpoints.Save(trainer.StepCount, dir =>
            {
                GrpoCheckpoint.Save(trainer, dir);
                foreach (var (name, bytes) in tokenizerFiles) File.WriteAllBytes(Path.Combine(dir, name), bytes);
                foreach (var name in GrpoLog.FileNames)
                    File.Copy(run.File(name), Path.Combine(dir, name));
                File.WriteAllText(Path.Combine(dir, ConfigFileName),
                    fingerprintText);
            });

            double trainerSeconds = 0, overheadSeconds = 0;
            GrpoStepMetrics? last = null;
            while (trainer.StepCount < config.Steps)
            {
                var iteration = Stopwatch.StartNew();
                var prompts = dataset.Batch(trainer.StepCount, config.PromptsPerStep);
                var inTrainer = Stopwatch.StartNew();
                GrpoStepMetrics metrics;
                using (TensorScope.Open()) metrics = trainer.Step(prompts).Metrics;
                double stepSeconds = inTrainer.Elapsed.TotalSeconds, evalSeconds = 0;
                // On multiples of `every` only, so that a run stopped early with --steps and resumed logs what an uninterrupted one does.
                if (evalSet is not null && metrics.Step % config.Eval!.Every == 0)
                {
                    var evalClock = Stopwatch.StartNew();
                    var (mean, parts, truncated) = trainer.Evaluate(evalSet.All);
                    evalSeconds = evalClock.Elapsed.TotalSeconds;
                    var eval = new Dictionary<string, double>(StringComparer.Ordinal)
                    {
                        ["eval/reward_mean"] = mean, ["eval/truncated_fraction"] = truncated
                    };
                    for (int i = 0; i < parts.Length; i++) eval[$"eval/reward/{i}"] = parts[i];
                    metrics = metrics with { Eval = eval };
                }
                metrics = metrics with { Seconds = stepSeconds + evalSeconds };
                log.Append(metrics);
                bool checkpointed = metrics.Step % config.CheckpointEvery == 0 || metrics.Step == config.Steps;
                if (checkpointed) Checkpoint();
                callbacks?.Stepped?.Invoke(new GrpoRunStep(run.Path, config.Steps, metrics, checkpointed));
                trainerSeconds += stepSeconds;
                overheadSeconds += iteration.Elapsed.TotalSeconds - stepSeconds - evalSeconds;
                last = metrics;
            }
            run.ExportModel(dir =>
            {
                Gpt2Checkpoint.Save(policy, dir);
                foreach (var (name, bytes) in tokenizerFiles) File.WriteAllBytes(Path.Combine(dir, name), bytes);
            });
            return new GrpoRunResult(run.Path, trainer.StepCount, last, trainerSeconds, overheadSeconds);
        }
        finally
        {
            run?.Dispose();
        }
    }

    /// <summary>The files a run reads: replacing a run with --force must not delete them.</summary>
    static string[] Inputs(GrpoRunConfig config) =>
        [config.Path, config.Model, config.Prompts, .. config.Eval is null ? [] : new[] { config.Eval.Prompts }];

    /// <summary>Refuses to resume with settings, prompts or rewards other than the run's own, listing what differs.</summary>
    static void CheckSameRun(GrpoRunConfig config, JsonObject current, CheckpointSet latest)
    {
        string path = latest.File(ConfigFileName);
        JsonObject saved;
        try
        {
            saved = JsonNode.Parse(InputFile.ReadAllText(path, "grpo run: saved config"), documentOptions: InputFile.StrictJson()) as JsonObject
                ?? throw new CheckpointException($"{path}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON: {e.Message}", e);
        }
        var differ = current.Select(p => p.Key).Union(saved.Select(p => p.Key))
            .Where(k => !JsonNode.DeepEquals(current[k], saved[k])).ToList();
        if (differ.Count > 0)
            throw new ArgumentException($"{Command}: {config.Path} differs from the run's own settings ({path}) in {string.Join(", ", differ)}; " +
                "a resumed run keeps them (only steps, checkpoint_every, keep_checkpoints and device may change)");
    }
}
