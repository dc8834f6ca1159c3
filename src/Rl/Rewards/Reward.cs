namespace Engine.Rl.Rewards;

/// <summary>What a reward function sees of one completion.</summary>
/// <param name="Prompt">The prompt's token ids.</param>
/// <param name="Completion">The completion's token ids.</param>
/// <param name="Text">The decoded completion, when the run has a tokenizer.</param>
/// <param name="TaskData">Whatever the task attached to the prompt (e.g. the expected answer).</param>
public sealed record RewardInput(IReadOnlyList<int> Prompt, IReadOnlyList<int> Completion, string? Text, object? TaskData);

/// <summary>An outcome reward: a finite score for a whole completion.</summary>
public interface IRewardFunction
{
    /// <summary>A short name for metrics and messages.</summary>
    string Name { get; }

    /// <summary>The score of one completion.</summary>
    float Score(RewardInput input);
}

/// <summary>A reward function from a delegate.</summary>
public sealed class DelegateReward(string name, Func<RewardInput, float> score) : IRewardFunction
{
    /// <inheritdoc/>
    public string Name { get; } = name;

    /// <inheritdoc/>
    public float Score(RewardInput input) => score(input);
}

/// <summary>A reward function and its weight in the total.</summary>
public sealed record WeightedReward(IRewardFunction Function, float Weight = 1f);

/// <summary>A reward function threw or returned a non-finite value; no update has been applied.</summary>
public sealed class RewardException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public RewardException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public RewardException() { }

    /// <summary>Creates the exception.</summary>
    public RewardException(string message) : base(message) { }
}

/// <summary>Scores completions with a weighted sum of reward functions.</summary>
public static class RewardScoring
{
    /// <summary>
    /// Σ weight · score, or a <see cref="RewardException"/> naming the function, prompt and completion. Each function's
    /// own score goes into <paramref name="parts"/> (one per function) when it is given.
    /// </summary>
    public static float Score(IReadOnlyList<WeightedReward> rewards, RewardInput input, float[]? parts = null)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        ArgumentNullException.ThrowIfNull(input);
        if (rewards.Count == 0) throw new ArgumentException("grpo: at least one reward function is needed");
        if (parts is not null && parts.Length != rewards.Count)
            throw new ArgumentException($"grpo: {rewards.Count} rewards but room for {parts.Length} scores");
        double total = 0;
        for (int r = 0; r < rewards.Count; r++)
        {
            var (fn, weight) = rewards[r];
            float s;
            try
            {
                s = fn.Score(input);
            }
            catch (Exception e) when (e is not RewardException)
            {
                throw new RewardException($"reward '{fn.Name}' threw for {Describe(input)}: {e.Message}", e);
            }
            if (!float.IsFinite(s)) throw new RewardException($"reward '{fn.Name}' returned {s} for {Describe(input)}");
            if (parts is not null) parts[r] = s;
            total += (double)weight * s;
        }
        if (!(Math.Abs(total) <= float.MaxValue))
            throw new RewardException($"the weighted sum of the rewards, {total}, is beyond float32's range for {Describe(input)}");
        return (float)total;
    }

    /// <summary>The prompt (its text and line, when it came from a file) and the completion, for messages.</summary>
    static string Describe(RewardInput input)
    {
        string prompt = input.TaskData is PromptRecord record ? $" (\"{record.Prompt}\", {record.Source})" : "";
        return $"prompt [{string.Join(",", input.Prompt)}]{prompt} and completion [{string.Join(",", input.Completion)}]{Quote(input.Text)}";
    }

    static string Quote(string? text) => text is null ? "" : $" (\"{text}\")";
}
