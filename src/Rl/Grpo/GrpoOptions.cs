using Engine.Autograd.Optimizers;
using Engine.Model;

namespace Engine.Rl.Grpo;

/// <summary>How per-token losses are combined into one number (docs/science.md §1).</summary>
public enum Aggregation
{
    /// <summary>Mean over sequences of each sequence's mean token loss (the reference code's "grpo" default).</summary>
    SeqMean,

    /// <summary>
    /// Sum of all token losses over the step's completion tokens, every group's together (the paper's formula; TRL's "dapo", verl).
    /// </summary>
    TokenMean,

    /// <summary>Each group's token losses over that group's completion tokens, then the mean over groups.</summary>
    GroupTokenMean,

    /// <summary>Sum of all token losses over k · L_max, with L_max the generation budget (Dr. GRPO).</summary>
    DrGrpo,
}

/// <summary>What the advantages' r − mean(group) is divided by.</summary>
public enum RewardScaling
{
    /// <summary>The group's sample std + ε (GRPO).</summary>
    Group,

    /// <summary>The sample std of every reward of the step + ε (TRL's "batch").</summary>
    Batch,

    /// <summary>Nothing (Dr. GRPO).</summary>
    None,
}

/// <summary>Settings of a GRPO / λ-GRPO run. Every field has a default that works for the demos.</summary>
/// <param name="GroupSize">Completions sampled per prompt (k).</param>
/// <param name="PromptsPerStep">Prompts (groups) per optimizer step.</param>
/// <param name="Mu">Optimisation passes over each sampled batch (μ); with 1 the ratio is always 1.</param>
/// <param name="EpsilonLow">Lower clip range: the ratio is clipped at 1 − ε_low.</param>
/// <param name="EpsilonHigh">Upper clip range: the ratio is clipped at 1 + ε_high.</param>
/// <param name="Beta">Weight β of the k3 KL estimator against a frozen copy of the initial policy (0: no reference model).</param>
/// <param name="Aggregation">How token losses are combined.</param>
/// <param name="Scaling">What advantages are divided by: the group's std, the step's, or nothing (Dr. GRPO).</param>
/// <param name="StdEpsilon">ε added to the std.</param>
/// <param name="LambdaScaling">λ-GRPO: divide each token's loss (policy and KL terms) by |λ|, the number of trajectories through its
/// process step.</param>
/// <param name="Temperature">Sampling temperature; the loss, π_old and the reference use the same one.</param>
/// <param name="TopK">Sampling top-k (0: off).</param>
/// <param name="TopP">Sampling top-p (1: off).</param>
/// <param name="MaxNewTokens">Generation budget per completion (also L_max of Dr. GRPO).</param>
/// <param name="LearningRate">AdamW learning rate.</param>
/// <param name="Beta1">AdamW β₁.</param>
/// <param name="Beta2">AdamW β₂.</param>
/// <param name="WeightDecay">AdamW decoupled weight decay.</param>
/// <param name="GradClip">Maximum global gradient norm (0: off).</param>
/// <param name="Seed">Seed of every random choice of the run (sampling); the run is reproducible from it.</param>
/// <param name="Schedule">The learning rate's shape: constant (with linear warm-up when <paramref name="WarmupSteps"/> &gt; 0) or
/// cosine to 0.</param>
/// <param name="WarmupSteps">Steps of linear warm-up.</param>
/// <param name="TotalSteps">The run's length, where the cosine reaches 0.</param>
/// <param name="DropZeroStdGroups">Leave groups whose rewards are all equal (advantage 0 everywhere) out of the update and its denominators.</param>
/// <param name="MaskTruncated">Leave completions that reached the token budget without a stop out of the loss and its denominators.</param>
/// <param name="Stop">Strings that end a completion (with a tokenizer); the reward's text stops before the first of them.</param>
/// <param name="PackedTree">Train each group as one sequence of its trie's unique tokens (<see cref="PackedGroup"/>)
/// wherever that costs less than k separate rows; the loss and gradients are the same either way.</param>
public sealed record GrpoOptions(
    int GroupSize = 8,
    int PromptsPerStep = 1,
    int Mu = 1,
    float EpsilonLow = 0.2f,
    float EpsilonHigh = 0.2f,
    float Beta = 0f,
    Aggregation Aggregation = Aggregation.SeqMean,
    RewardScaling Scaling = RewardScaling.Group,
    float StdEpsilon = 1e-4f,
    bool LambdaScaling = false,
    float Temperature = 1f,
    int TopK = 0,
    float TopP = 1f,
    int MaxNewTokens = 32,
    float LearningRate = 1e-4f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float WeightDecay = 0f,
    float GradClip = 1f,
    ulong Seed = 0,
    bool PackedTree = true,
    LrScheduleKind Schedule = LrScheduleKind.Constant,
    int WarmupSteps = 0,
    int TotalSteps = 0,
    bool DropZeroStdGroups = false,
    bool MaskTruncated = false,
    IReadOnlyList<string>? Stop = null)
{
    /// <summary>Whether advantages are divided by a standard deviation.</summary>
    public bool ScalesRewards => Scaling != RewardScaling.None;

    /// <summary>The learning rate at each (0-based) step.</summary>
    public LrSchedule LearningRates => Schedule switch
    {
        LrScheduleKind.Cosine => LrSchedule.Cosine(LearningRate, WarmupSteps, TotalSteps),
        _ when WarmupSteps > 0 => LrSchedule.LinearWarmup(LearningRate, WarmupSteps),
        _ => LrSchedule.Constant(LearningRate),
    };

    /// <summary>The sampling settings.</summary>
    public SamplingOptions Sampling => new(false, Temperature, TopK, TopP);

    /// <summary>Throws if a setting is out of range, naming it.</summary>
    public void Validate()
    {
        if (GroupSize < 1) throw new ArgumentException($"grpo: group size must be ≥ 1, got {GroupSize}");
        if (PromptsPerStep < 1) throw new ArgumentException($"grpo: prompts per step must be ≥ 1, got {PromptsPerStep}");
        if (Mu < 1) throw new ArgumentException($"grpo: μ must be ≥ 1, got {Mu}");
        if (!(EpsilonLow is >= 0 and < 1) || !(EpsilonHigh >= 0))
            throw new ArgumentException($"grpo: clip range ε_low={EpsilonLow}, ε_high={EpsilonHigh} is invalid");
        if (!(Beta >= 0)) throw new ArgumentException($"grpo: β must be ≥ 0, got {Beta}");
        if (!(StdEpsilon >= 0)) throw new ArgumentException($"grpo: std ε must be ≥ 0, got {StdEpsilon}");
        if (MaxNewTokens < 1) throw new ArgumentException($"grpo: max new tokens must be ≥ 1, got {MaxNewTokens}");
        if (!(Temperature >= 1e-6f))
            throw new ArgumentException($"grpo: temperature must be at least 1e-6 (the loss divides the logits by it), got {Temperature}");
        if (!(LearningRate >= 0) || !float.IsFinite(LearningRate))
            throw new ArgumentException($"grpo: learning rate must be finite and ≥ 0, got {LearningRate}");
        if (WarmupSteps < 0 || TotalSteps < 0)
            throw new ArgumentException($"grpo: warm-up steps {WarmupSteps} and total steps {TotalSteps} must be ≥ 0");
        if (Schedule == LrScheduleKind.Cosine && TotalSteps < 1)
            throw new ArgumentException("grpo: a cosine schedule needs the total number of steps");
        if (Stop?.Any(string.IsNullOrEmpty) == true) throw new ArgumentException("grpo: a stop string must not be empty");
        Sampling.Validate();
    }
}
