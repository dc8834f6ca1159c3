using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model.Checkpoints;

namespace Engine.Rl.Grpo;

/// <summary>
/// What a GRPO trainer needs to resume exactly, as files of one checkpoint set: the policy (Hugging Face layout),
/// AdamW's state, the frozen reference policy when β &gt; 0, and the step. The sampling streams, the prompt order and
/// the learning rate are functions of the step and the seed, so nothing else is needed.
/// </summary>
public static class GrpoCheckpoint
{
    /// <summary>The trainer's state file.</summary>
    public const string StateFileName = "trainer_state.json";

    /// <summary>The reference policy's weights.</summary>
    public const string ReferenceFileName = "reference.safetensors";

    /// <summary>Writes the trainer's state into <paramref name="directory"/>.</summary>
    public static void Save(GrpoTrainer trainer, string directory)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        Gpt2Checkpoint.Save(Gpt(trainer.Policy), directory);
        Gpt2Checkpoint.SaveOptimizer(trainer.Optimizer, directory);
        if (trainer.Reference is { } reference) Gpt2Checkpoint.SaveWeights(Gpt(reference), Path.Combine(directory, ReferenceFileName));
        File.WriteAllText(Path.Combine(directory, StateFileName), new JsonObject
        {
            ["format"] = "engine-grpo-trainer",
            ["step"] = trainer.StepCount,
            ["seed"] = trainer.Options.Seed,
        }.ToJsonString() + "\n");
    }

    /// <summary>
    /// Restores the optimizer, the reference and the step saved in <paramref name="directory"/> into a trainer built on
    /// the policy loaded from the same set. Any missing or malformed part is an error naming the file.
    /// </summary>
    public static void Restore(GrpoTrainer trainer, string directory)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        string path = Path.Combine(directory, StateFileName);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(InputFile.ReadAllText(path, "grpo trainer state"), documentOptions: InputFile.StrictJson());
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"grpo trainer state {path}: not valid JSON: {e.Message}", e);
        }
        if (root is not JsonObject state || (string?)state["format"] != "engine-grpo-trainer")
            throw new CheckpointException($"grpo trainer state {path}: not a trainer state of format \"engine-grpo-trainer\"");
        if (state["step"] is not JsonValue s || !s.TryGetValue(out int step) || step < 0)
            throw new CheckpointException($"grpo trainer state {path}: 'step' is {state["step"]?.ToJsonString() ?? "missing"}, not a step count");
        if (state["seed"] is not JsonValue seedValue || !seedValue.TryGetValue(out ulong seed) || seed != trainer.Options.Seed)
            throw new CheckpointException($"grpo trainer state {path}: 'seed' is {state["seed"]?.ToJsonString() ?? "missing"}, " +
                $"but the run's seed is {trainer.Options.Seed}");
        Gpt2Checkpoint.LoadOptimizer(trainer.Optimizer, directory);
        if (trainer.Reference is { } reference) Gpt2Checkpoint.LoadWeights(Gpt(reference), Path.Combine(directory, ReferenceFileName));
        trainer.StepCount = step;
    }

    /// <summary>The checkpoint format is GPT-2's: other policies save their own weights.</summary>
    static Engine.Model.Gpt Gpt(Engine.Model.ILanguageModel model) => model as Engine.Model.Gpt
        ?? throw new NotSupportedException($"grpo checkpoint: only a Gpt policy is saved in the GPT-2 layout, got {model.GetType().Name}");
}
