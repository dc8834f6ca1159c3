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
/// <param name="Rewards">Their outcome rewards.</param>
/// <param name="Analysis">The trie's view of the group: advantages, |λ| and tree statistics.</param>
public sealed record SampledGroup(GrpoPrompt Prompt, int[][] Completions, float[] Rewards, GroupAnalysis Analysis);

/// <summary>
/// GRPO and λ-GRPO on a <see cref="Gpt"/> policy: each step samples a group per prompt with the KV cache
/// (the prompt prefilled once per group), scores every completion with the weighted reward functions,
/// builds the group's prefix trie for advantages and |λ|, and applies μ AdamW updates of the clipped
/// objective (with the k3 KL to a frozen copy of the initial policy when β &gt; 0). Each group's forward and
/// backward run over its packed trie (<see cref="PackedGroup"/>) wherever that is cheaper, which leaves the
/// loss and gradients unchanged. Scoring completes before any update, so a failing reward function leaves
/// the model untouched.
/// </summary>
public sealed class GrpoTrainer : IDisposable
{
    readonly Gpt _policy;
    readonly Gpt? _reference;
    readonly IReadOnlyList<WeightedReward> _rewards;
    readonly ITokenizer? _tokenizer;
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
    public GrpoTrainer(Gpt policy, GrpoOptions options, IReadOnlyList<WeightedReward> rewards, ITokenizer? tokenizer = null,
        IReadOnlyList<int>? allowedTokens = null, IReadOnlySet<int>? stopTokens = null)
    {
        options.Validate();
        if (rewards.Count == 0) throw new ArgumentException("grpo: at least one reward function is needed");
        _policy = policy;
        Options = options;
        _rewards = rewards;
        _tokenizer = tokenizer;
        _allowed = allowedTokens;
        _stop = stopTokens;
        Optimizer = new AdamW(policy.Parameters.Values, options.LearningRate, options.Beta1, options.Beta2, weightDecay: options.WeightDecay);
        if (options.Beta > 0) _reference = policy.Clone();
        if (allowedTokens is not null)
        {
            var mask = Enumerable.Repeat(float.NegativeInfinity, policy.Config.VocabSize).ToArray();
            foreach (int id in allowedTokens) mask[id] = 0f;
            _logitMask = TensorScope.Untrack(Tensor.FromArray(mask, new Shape(mask.Length), policy.Device));
        }
    }

    /// <summary>The run's settings.</summary>
    public GrpoOptions Options { get; }

    /// <summary>The policy's optimizer.</summary>
    public AdamW Optimizer { get; }

    /// <summary>Steps completed.</summary>
    public int StepCount { get; private set; }

    /// <summary>Samples and scores one group per prompt, without updating anything.</summary>
    public IReadOnlyList<SampledGroup> Sample(IReadOnlyList<GrpoPrompt> prompts, out double generateSeconds, out double scoreSeconds) =>
        Sample(prompts, out generateSeconds, out scoreSeconds, out _);

    /// <summary>Samples and scores one group per prompt; also reports the seconds spent building tries and λ-scales.</summary>
    public IReadOnlyList<SampledGroup> Sample(IReadOnlyList<GrpoPrompt> prompts, out double generateSeconds, out double scoreSeconds, out double trieSeconds)
    {
        var clock = Stopwatch.StartNew();
        // Each group draws from its own Philox stream, a pure function of (seed, step, group).
        var seeds = Enumerable.Range(0, prompts.Count).Select(g => Options.Seed * 0x9E3779B97F4A7C15UL + ((ulong)StepCount << 20) + (ulong)g).ToArray();
        var gen = new GenerationOptions(Options.MaxNewTokens, Options.Sampling, 0, _stop, _allowed);
        // Prompts of one length decode as one batch; the groups' tokens are the same either way.
        var completions = prompts.All(p => p.Ids.Length == prompts[0].Ids.Length)
            ? Generation.GenerateGroups(_policy, prompts.Select(p => p.Ids).ToArray(), Options.GroupSize, gen, seeds)
            : prompts.Select((p, g) => Generation.GenerateGroup(_policy, p.Ids, Options.GroupSize, gen with { Seed = seeds[g] })).ToArray();
        generateSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var groups = new SampledGroup[prompts.Count];
        var trieClock = new Stopwatch();
        for (int g = 0; g < prompts.Count; g++)
        {
            var rewards = completions[g].Select(c => RewardScoring.Score(_rewards,
                new RewardInput(prompts[g].Ids, c, _tokenizer?.Decode(c), prompts[g].TaskData))).ToArray();
            trieClock.Start();
            var analysis = GroupAnalysis.Of(prompts[g].Ids, completions[g], rewards, Options);
            trieClock.Stop();
            groups[g] = new SampledGroup(prompts[g], completions[g], rewards, analysis);
        }
        scoreSeconds = clock.Elapsed.TotalSeconds;
        trieSeconds = trieClock.Elapsed.TotalSeconds;
        return groups;
    }

    /// <summary>One GRPO step: sample, score, and μ updates. Returns the sampled groups and the step's metrics.</summary>
    public (IReadOnlyList<SampledGroup> Groups, GrpoStepMetrics Metrics) Step(IReadOnlyList<GrpoPrompt> prompts)
    {
        var groups = Sample(prompts, out double generateSeconds, out double scoreSeconds, out double trieSeconds);
        var clock = Stopwatch.StartNew();
        var stats = Update(groups);
        double trainSeconds = clock.Elapsed.TotalSeconds;
        StepCount++;
        return (groups, GrpoStepMetrics.From(StepCount, groups, stats, generateSeconds, scoreSeconds, trainSeconds) with { TrieSeconds = trieSeconds, PackedShare = LastPackedShare });
    }

    /// <summary>The last update's inputs as a share of the unpacked layout's (1 when nothing was packed).</summary>
    public double LastPackedShare { get; private set; } = 1;

    /// <summary>The group's packed layout, when packing is on and cheaper for this model.</summary>
    PackedGroup? PackIfCheaper(GroupBatch batch, SampledGroup group)
    {
        if (!Options.PackedTree) return null;
        var packed = new PackedGroup(batch, group.Analysis.Trie);
        return packed.IsCheaperThanUnpacked(_policy.Config, _policy.Device.HasTreeAttention) ? packed : null;
    }

    /// <summary>The μ optimisation passes over sampled groups; returns the objective's statistics of the last pass.</summary>
    public ObjectiveStats Update(IReadOnlyList<SampledGroup> groups)
    {
        var trained = groups.Where(g => g.Completions.Any(c => c.Length > 0)).ToArray();
        if (trained.Length == 0) return default;
        var batches = trained.Select(g => new GroupBatch(g.Prompt.Ids, g.Completions, g.Analysis.Advantages,
            GroupBatch.TokenWeights(g.Completions, Options.LambdaScaling ? g.Analysis.LambdaScales : null, Options.Aggregation, Options.MaxNewTokens, groups.Count)))
            .ToArray();
        var packed = batches.Select((b, i) => PackIfCheaper(b, trained[i])).ToArray();
        LastPackedShare = (double)batches.Select((b, i) => packed[i]?.Length ?? (long)b.Rows * b.Time).Sum() / batches.Sum(b => (long)b.Rows * b.Time);
        Variable Loss(Gpt model, int b, float[]? old, float[]? reference, GrpoOptions options, out float[] logp, out ObjectiveStats stats) =>
            packed[b] is { } p
                ? GrpoObjective.PackedLoss(model, p, old, reference, options, _logitMask, out logp, out stats)
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
        ObjectiveStats last = default;
        for (int pass = 0; pass < Options.Mu; pass++)
        {
            using var scope = TensorScope.Open();
            Optimizer.ZeroGrad();
            double clip = 0, kl = 0, entropy = 0;
            int tokens = 0;
            for (int b = 0; b < batches.Length; b++)
            {
                var loss = Loss(_policy, b, old[b], reference[b], Options, out var logp, out var s);
                loss.Backward();
                if (pass == 0) old[b] = logp; // θ_old = θ at sampling time
                clip += s.ClipFraction * s.Tokens;
                kl += s.Kl * s.Tokens;
                entropy += s.Entropy * s.Tokens;
                tokens += s.Tokens;
            }
            float norm = Options.GradClip > 0 ? Optimizer.ClipGradNorm(Options.GradClip) : Optimizer.GradNorm();
            if (!float.IsFinite(norm))
                throw new Engine.Model.Training.TrainingDivergedException(StepCount + 1, FormattableString.Invariant($"the gradient norm of pass {pass + 1} is {norm}"));
            Optimizer.Step();
            last = new ObjectiveStats(clip / tokens, kl / tokens, entropy / tokens, tokens);
        }
        return last;
    }

    /// <summary>Frees the optimizer state and the reference model.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        _reference?.Dispose();
        _logitMask?.Dispose();
    }
}
