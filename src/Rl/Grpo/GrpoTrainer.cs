using System.Diagnostics;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Model.Tokenizers;
using Engine.Rl.Rewards;

namespace Engine.Rl.Grpo;

/// <summary>A prompt to sample a group from, with whatever the reward functions need to score it.</summary>
public sealed record GrpoPrompt(int[] Ids, object? TaskData = null);

/// <summary>One group after sampling and scoring.</summary>
/// <param name="Prompt">The prompt.</param>
/// <param name="Completions">The k sampled completions.</param>
/// <param name="Rewards">Their outcome rewards (the weighted sum of the reward functions).</param>
/// <param name="Analysis">The trie's view of the group: advantages, |λ| and tree statistics.</param>
public sealed record SampledGroup(GrpoPrompt Prompt, int[][] Completions, float[] Rewards, GroupAnalysis Analysis)
{
    /// <summary>Each reward function's own score of each completion, [completion][function], before weighting.</summary>
    public float[][] RewardParts { get; init; } = [];

    /// <summary>Which completions reached the token budget (or the context) without a stop.</summary>
    public bool[] Truncated { get; init; } = [];

    /// <summary>Whether every reward of the group is equal, so that every advantage is 0.</summary>
    public bool ZeroStd => Rewards.All(r => r == Rewards[0]);
}

/// <summary>What the μ passes of one update measured, averaged over the passes.</summary>
/// <param name="Loss">The loss.</param>
/// <param name="GradNorm">The global gradient norm before clipping.</param>
/// <param name="ClipFraction">Share of tokens whose clipped term was the smaller one.</param>
/// <param name="Kl">Mean k3 KL to the reference.</param>
/// <param name="Entropy">Mean entropy of the policy at the trained positions.</param>
/// <param name="Tokens">Completion tokens trained (with a weight).</param>
public readonly record struct UpdateStats(double Loss, double GradNorm, double ClipFraction, double Kl, double Entropy, int Tokens);

/// <summary>
/// GRPO and λ-GRPO on a policy (any <see cref="ILanguageModel"/>, such as a <see cref="Gpt"/>): each step samples a
/// group per prompt (a Gpt with the KV cache, the prompt prefilled once per group), scores every completion with the
/// weighted reward functions, builds the group's prefix trie for advantages and |λ|, and applies μ AdamW updates of
/// the clipped objective (with the k3 KL to a frozen copy of the initial policy when β &gt; 0). For a Gpt, each
/// group's forward and backward run over its packed trie (<see cref="PackedGroup"/>) wherever that is cheaper, which
/// leaves the loss and gradients unchanged. Scoring completes before any update, so a failing reward function leaves
/// the model untouched.
/// </summary>
public sealed class GrpoTrainer : IDisposable
{
    readonly ILanguageModel _policy;
    readonly ILanguageModel? _reference;
    readonly IReadOnlyList<WeightedReward> _rewards;
    readonly ITokenizer? _tokenizer;
    readonly StopStrings? _stopStrings;
    readonly IReadOnlyList<int>? _allowed;
    readonly IReadOnlySet<int>? _stop;
    readonly Tensor? _logitMask;

    /// <summary>Prepares training of <paramref name="policy"/> (updated in place).</summary>
    /// <param name="policy">The model to train.</param>
    /// <param name="options">The run's settings.</param>
    /// <param name="rewards">Reward functions and weights; the outcome reward is their weighted sum.</param>
    /// <param name="tokenizer">Decodes completions for reward functions that read text (optional).</param>
    /// <param name="allowedTokens">If set, the only tokens the policy can produce: sampling and the loss both mask the rest.</param>
    /// <param name="stopTokens">A completion ends after one of these.</param>
    public GrpoTrainer(ILanguageModel policy, GrpoOptions options, IReadOnlyList<WeightedReward> rewards, ITokenizer? tokenizer = null,
        IReadOnlyList<int>? allowedTokens = null, IReadOnlySet<int>? stopTokens = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        options.Validate();
        if (rewards.Count == 0) throw new ArgumentException("grpo: at least one reward function is needed");
        _policy = policy;
        Options = options;
        _rewards = rewards;
        _tokenizer = tokenizer;
        _stopStrings = options.Stop is { Count: > 0 } && tokenizer is not null ? new StopStrings(options.Stop, tokenizer) : null;
        _allowed = allowedTokens;
        _stop = stopTokens;
        if (policy.TrainableParameters.Count == 0 || policy.TrainableParameters.Any(p => !p.RequiresGrad))
            throw new ArgumentException($"grpo: the policy {policy.GetType().Name} must have parameters, each requiring a gradient");
        if (allowedTokens?.Where(id => (uint)id >= (uint)policy.VocabSize).Select(id => (int?)id).FirstOrDefault() is int outside)
            throw new ArgumentException($"grpo: allowed token {outside} is outside the policy's vocabulary [0, {policy.VocabSize})");
        Optimizer = new AdamW(policy.TrainableParameters, options.LearningRate, options.Beta1, options.Beta2, weightDecay: options.WeightDecay);
        if (options.Beta > 0) _reference = policy.Clone();
        if (allowedTokens is not null)
        {
            // Finite, so that 0 · log p stays 0 in the entropy; exp(−1e9) is exactly 0 in float32 all the same.
            var mask = Enumerable.Repeat(-1e9f, policy.VocabSize).ToArray();
            foreach (int id in allowedTokens) mask[id] = 0f;
            _logitMask = TensorScope.Untrack(Tensor.FromArray(mask, new Shape(mask.Length), policy.Device));
        }
    }

    /// <summary>The run's settings.</summary>
    public GrpoOptions Options { get; }

    /// <summary>The policy's optimizer.</summary>
    public AdamW Optimizer { get; }

    /// <summary>
    /// Steps completed. Sampling streams and the learning rate are functions of it, so restoring it (with the
    /// policy, the optimizer and the reference) resumes a run exactly.
    /// </summary>
    public int StepCount
    {
        get => _stepCount;
        set => _stepCount = value >= 0 ? value : throw new ArgumentException($"grpo: step count must be ≥ 0, got {value}");
    }

    int _stepCount;

    /// <summary>The frozen reference policy of the KL term (null when β = 0).</summary>
    public ILanguageModel? Reference => _reference;

    /// <summary>The most prompts <see cref="Evaluate"/> decodes at once: its KV cache grows with the batch.</summary>
    public const int EvaluationBatch = 64;

    /// <summary>The policy being trained.</summary>
    public ILanguageModel Policy => _policy;

    /// <summary>
    /// Greedy completions of <paramref name="prompts"/>, stopped and scored as sampled ones are. Returns the mean
    /// outcome reward, each reward function's mean score, and the share of completions that were truncated.
    /// </summary>
    public (double RewardMean, double[] RewardParts, double TruncatedFraction) Evaluate(IReadOnlyList<GrpoPrompt> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new ArgumentException("grpo: evaluation needs at least one prompt");
        var gen = new GenerationOptions(Options.MaxNewTokens, SamplingOptions.ArgMax, 0, _stop, _allowed) { StopWhen = StopsAString };
        double total = 0;
        var parts = new double[_rewards.Count];
        int truncated = 0;
        // Prompts of one length decode together, up to EvaluationBatch at a time; greedy choices do not depend on the batch.
        foreach (var batch in prompts.GroupBy(p => p.Ids.Length).SelectMany(g => g.Chunk(EvaluationBatch)))
        {
            var completions = Generation.Generate(_policy, batch.Select(p => p.Ids).ToArray(), gen);
            for (int i = 0; i < batch.Length; i++)
            {
                var scores = new float[_rewards.Count];
                var (reward, wasTruncated) = Score(batch[i], completions[i], scores);
                total += reward;
                for (int r = 0; r < scores.Length; r++) parts[r] += scores[r];
                if (wasTruncated) truncated++;
            }
        }
        return (total / prompts.Count, [.. parts.Select(p => p / prompts.Count)], (double)truncated / prompts.Count);
    }

    /// <summary>Samples and scores one group per prompt, without updating anything.</summary>
    public IReadOnlyList<SampledGroup> Sample(IReadOnlyList<GrpoPrompt> prompts, out double generateSeconds, out double scoreSeconds) =>
        Sample(prompts, out generateSeconds, out scoreSeconds, out _);

    /// <summary>Samples and scores one group per prompt; also reports the seconds spent building tries and λ-scales.</summary>
    public IReadOnlyList<SampledGroup> Sample(IReadOnlyList<GrpoPrompt> prompts, out double generateSeconds, out double scoreSeconds,
        out double trieSeconds)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var clock = Stopwatch.StartNew();
        // Each group draws from its own Philox stream, a pure function of (seed, step, group).
        var seeds = Enumerable.Range(0, prompts.Count)
            .Select(g => Options.Seed * 0x9E3779B97F4A7C15UL + ((ulong)StepCount << 20) + (ulong)g).ToArray();
        var gen = new GenerationOptions(Options.MaxNewTokens, Options.Sampling, 0, _stop, _allowed) { StopWhen = StopsAString };
        // Prompts of one length decode as one batch; the groups' tokens are the same either way.
        var completions = prompts.All(p => p.Ids.Length == prompts[0].Ids.Length)
            ? Generation.GenerateGroups(_policy, prompts.Select(p => p.Ids).ToArray(), Options.GroupSize, gen, seeds)
            : prompts.Select((p, g) => Generation.GenerateGroup(_policy, p.Ids, Options.GroupSize, gen with { Seed = seeds[g] })).ToArray();
        generateSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var rewards = new float[prompts.Count][];
        var parts = new float[prompts.Count][][];
        var truncated = new bool[prompts.Count][];
        for (int g = 0; g < prompts.Count; g++)
        {
            rewards[g] = new float[completions[g].Length];
            parts[g] = new float[completions[g].Length][];
            truncated[g] = new bool[completions[g].Length];
            for (int i = 0; i < completions[g].Length; i++)
            {
                parts[g][i] = new float[_rewards.Count];
                (rewards[g][i], truncated[g][i]) = Score(prompts[g], completions[g][i], parts[g][i]);
            }
        }
        double batchStd = Options.Scaling == RewardScaling.Batch ? GroupAdvantages.SampleStd(rewards.SelectMany(r => r).ToArray()) : 0;
        var groups = new SampledGroup[prompts.Count];
        var trieClock = new Stopwatch();
        for (int g = 0; g < prompts.Count; g++)
        {
            trieClock.Start();
            var analysis = GroupAnalysis.Of(prompts[g].Ids, completions[g], rewards[g], Options, batchStd);
            trieClock.Stop();
            groups[g] = new SampledGroup(prompts[g], completions[g], rewards[g], analysis) { RewardParts = parts[g], Truncated = truncated[g] };
        }
        scoreSeconds = clock.Elapsed.TotalSeconds;
        trieSeconds = trieClock.Elapsed.TotalSeconds;
        return groups;
    }

    /// <summary>Whether the decoded completion already holds a stop string (null when there are none).</summary>
    Func<IReadOnlyList<int>, bool>? StopsAString => _stopStrings is null ? null : _stopStrings.ReachedBy;

    /// <summary>
    /// The weighted reward of <paramref name="completion"/> (each reward's score in <paramref name="parts"/>), and whether it
    /// was cut short: neither a stop token nor a stop string ended it before the token limit or the model's context.
    /// </summary>
    (float Reward, bool Truncated) Score(GrpoPrompt prompt, int[] completion, float[] parts)
    {
        var (text, stopped) = RewardText(completion);
        float reward = RewardScoring.Score(_rewards, new RewardInput(prompt.Ids, completion, text, prompt.TaskData), parts);
        int room = _policy.ContextLength - prompt.Ids.Length;
        return (reward, !stopped && (completion.Length >= Options.MaxNewTokens || completion.Length >= room));
    }

    /// <summary>
    /// What the rewards read of a completion: its text up to the first stop string, without a final stop token; and whether it stopped.
    /// </summary>
    (string? Text, bool Stopped) RewardText(int[] completion)
    {
        bool stopToken = completion.Length > 0 && _stop?.Contains(completion[^1]) == true;
        if (_tokenizer is null) return (null, stopToken);
        string text = _tokenizer.Decode(stopToken ? completion.AsSpan(0, completion.Length - 1) : completion);
        int at = _stopStrings?.FirstIn(text) ?? -1;
        return at >= 0 ? (text[..at], true) : (text, stopToken);
    }

    /// <summary>
    /// One GRPO step: sample, score, and μ updates. <paramref name="prompts"/> must hold
    /// <see cref="GrpoOptions.PromptsPerStep"/> prompts. Returns the sampled groups and the step's metrics.
    /// </summary>
    public (IReadOnlyList<SampledGroup> Groups, GrpoStepMetrics Metrics) Step(IReadOnlyList<GrpoPrompt> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count != Options.PromptsPerStep)
            throw new ArgumentException($"grpo: a step takes {Options.PromptsPerStep} prompts (prompts per step), got {prompts.Count}");
        var groups = Sample(prompts, out double generateSeconds, out double scoreSeconds, out double trieSeconds);
        var clock = Stopwatch.StartNew();
        var stats = Update(groups);
        float lr = Optimizer.LearningRate;       // the step's rate, which Update set
        double trainSeconds = clock.Elapsed.TotalSeconds;
        StepCount++;
        return (groups, GrpoStepMetrics.From(StepCount, groups, stats, generateSeconds, scoreSeconds, trainSeconds) with
        {
            TrieSeconds = trieSeconds, PackedShare = LastPackedShare, LearningRate = lr,
        });
    }

    /// <summary>The last update's inputs as a share of the unpacked layout's (1 when nothing was packed).</summary>
    public double LastPackedShare { get; private set; } = 1;

    /// <summary>The group's packed layout, when packing is on, the policy is a <see cref="Gpt"/> and it is cheaper for that model.</summary>
    PackedGroup? PackIfCheaper(GroupBatch batch, SampledGroup group)
    {
        if (!Options.PackedTree || _policy is not Gpt gpt) return null;
        var packed = new PackedGroup(batch, group.Analysis.Trie);
        return packed.IsCheaperThanUnpacked(gpt.Config, gpt.Device.HasTreeAttention) ? packed : null;
    }

    /// <summary>
    /// The μ optimisation passes over sampled groups, at the learning rate of the current step. Groups of equal
    /// rewards (with <see cref="GrpoOptions.DropZeroStdGroups"/>) and truncated completions (with
    /// <see cref="GrpoOptions.MaskTruncated"/>) carry no weight and leave the denominators. Returns the statistics
    /// averaged over the passes.
    /// </summary>
    public UpdateStats Update(IReadOnlyList<SampledGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Optimizer.LearningRate = Options.LearningRates.At(StepCount);
        bool[] Masked(SampledGroup g) => [.. g.Completions.Select((_, i) => Options.MaskTruncated && g.Truncated.ElementAtOrDefault(i))];
        var candidates = groups.Where(g => !(Options.DropZeroStdGroups && g.ZeroStd)).Select(g => (Group: g, Mask: Masked(g)))
            .Where(x => x.Group.Completions.Where((c, i) => !x.Mask[i]).Any(c => c.Length > 0)).ToArray();
        // Nothing to train: the loss, the norm and the policy statistics were not measured, which the metrics log as null.
        if (candidates.Length == 0) return new UpdateStats(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        var trained = candidates.Select(x => x.Group).ToArray();
        var masks = candidates.Select(x => x.Mask).ToArray();
        long stepTokens = trained.Select((g, j) => g.Completions.Where((c, i) => !masks[j][i]).Sum(c => (long)c.Length)).Sum();
        int stepSequences = masks.Sum(m => m.Count(x => !x));
        var batches = trained.Select((g, j) => new GroupBatch(g.Prompt.Ids, g.Completions, g.Analysis.Advantages,
            GroupBatch.TokenWeights(g.Completions, Options.LambdaScaling ? g.Analysis.LambdaScales : null, Options.Aggregation, Options.MaxNewTokens,
                trained.Length, stepTokens, stepSequences, masks[j]))).ToArray();
        var packed = batches.Select((b, i) => PackIfCheaper(b, trained[i])).ToArray();
        LastPackedShare = (double)batches.Select((b, i) => packed[i]?.Length ?? (long)b.Rows * b.Time).Sum()
            / batches.Sum(b => (long)b.Rows * b.Time);
        Variable Loss(ILanguageModel model, int b, float[]? old, float[]? reference, GrpoOptions options, out float[] logp,
            out ObjectiveStats stats) =>
            packed[b] is { } p && model is Gpt gpt
                ? GrpoObjective.PackedLoss(gpt, p, old, reference, options, _logitMask, out logp, out stats)
                : GrpoObjective.Loss(model, batches[b], old, reference, options, _logitMask, out logp, out stats);

        float[]?[] reference = new float[]?[batches.Length];
        if (_reference is not null)
            using (GradMode.NoGrad())
                for (int b = 0; b < batches.Length; b++)
                {
                    using var scope = TensorScope.Open();
                    Loss(_reference, b, null, null, Options with { Beta = 0 }, out var lp, out _);
                    reference[b] = lp;
                }

        var old = new float[]?[batches.Length];
        double lossSum = 0, normSum = 0, clipSum = 0, klSum = 0, entropySum = 0;
        int tokens = 0;
        for (int pass = 0; pass < Options.Mu; pass++)
        {
            using var scope = TensorScope.Open();
            Optimizer.ZeroGrad();
            double clip = 0, kl = 0, entropy = 0, loss = 0;
            tokens = 0;
            for (int b = 0; b < batches.Length; b++)
            {
                var l = Loss(_policy, b, old[b], reference[b], Options, out var logp, out var s);
                l.Backward();
                loss += l.Value.ToScalar();
                if (pass == 0) old[b] = logp; // θ_old = θ at sampling time
                clip += s.ClipFraction * s.Tokens;
                kl += s.Kl * s.Tokens;
                entropy += s.Entropy * s.Tokens;
                tokens += s.Tokens;
            }
            float norm = Options.GradClip > 0 ? Optimizer.ClipGradNorm(Options.GradClip) : Optimizer.GradNorm();
            if (!float.IsFinite(norm) || !double.IsFinite(loss))
                throw new Engine.Model.Training.TrainingDivergedException(StepCount + 1,
                    FormattableString.Invariant($"pass {pass + 1} has loss {loss} and gradient norm {norm}"));
            Optimizer.Step();
            lossSum += loss;
            normSum += norm;
            clipSum += clip / Math.Max(tokens, 1);
            klSum += kl / Math.Max(tokens, 1);
            entropySum += entropy / Math.Max(tokens, 1);
        }
        int mu = Options.Mu;
        return new UpdateStats(lossSum / mu, normSum / mu, clipSum / mu, klSum / mu, entropySum / mu, tokens);
    }

    /// <summary>Frees the optimizer state and the reference model.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        _reference?.Dispose();
        _logitMask?.Dispose();
    }
}
