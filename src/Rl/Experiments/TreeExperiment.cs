using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Rl.Grpo;
using Engine.Rl.Tasks;

namespace Engine.Rl.Experiments;

/// <summary>One configuration of the synthetic sweep.</summary>
/// <param name="SharedPrefix">n.</param>
/// <param name="NegativeReward">r_neg.</param>
/// <param name="Lambda">λ-GRPO (true) or GRPO.</param>
/// <param name="Seed">Seed of the model's initialisation and of sampling.</param>
public sealed record TreeRun(int SharedPrefix, float NegativeReward, bool Lambda, int Seed);

/// <summary>The outcome of one run.</summary>
/// <param name="Run">Its configuration.</param>
/// <param name="TargetFrequency">Per step, the share of the group's samples that were the target path.</param>
/// <param name="FinalFrequency">The target's frequency among the samples of the last 50 steps (the paper's metric).</param>
/// <param name="Steps">The trainer's metrics of every step: entropy, path depth, intermediate proportion, |λ| and the rest.</param>
public sealed record TreeRunResult(TreeRun Run, double[] TargetFrequency, double FinalFrequency, IReadOnlyList<GrpoStepMetrics> Steps)
{
    /// <summary>The target frequency as a curve, smoothed over <see cref="TreeExperiment.Smoothing"/> steps (one group is 16 samples).</summary>
    public IReadOnlyList<(int Step, double Value)> SmoothedCurve =>
        SeedStatistics.Smooth(TargetFrequency, TreeExperiment.Smoothing).Select((v, i) => (i + 1, v)).ToArray();

    /// <summary>The peak of the smoothed target frequency.</summary>
    public double Peak => SeedStatistics.Peak(SmoothedCurve);

    /// <summary>Steps until the smoothed target frequency first covers 90 % of its rise to the peak.</summary>
    public int StepsTo90 => SeedStatistics.StepsToFraction(SmoothedCurve, 0.9);
}

/// <summary>
/// The paper's synthetic experiment (docs/science.md §6) with Engine's transformer as the policy. The paper used
/// GPT-2 small and did not publish its learning rate or optimizer; the model and settings here are chosen
/// so that the full sweep (2 × 3 configurations × 10 seeds × 2 methods × 250 steps) takes about 20 s on two
/// cores, and the robustness sweep over 3 learning rates × 2 temperatures about two minutes.
/// </summary>
public static class TreeExperiment
{
    /// <summary>The policy: 2 blocks of width 32 over the vocabulary {BOS, L, R}.</summary>
    public static GptConfig Model => new(TreeTask.VocabSize, ContextLength: 5, Width: 32, Layers: 2, Heads: 2);

    /// <summary>The larger policy of the robustness option: 4 blocks of width 128 (about 0.8 M parameters, 30 times the default).</summary>
    public static GptConfig LargeModel => new(TreeTask.VocabSize, ContextLength: 5, Width: 128, Layers: 4, Heads: 4);

    /// <summary>
    /// The policy a run starts from: a fresh <see cref="Model"/> (or <see cref="LargeModel"/>) of the seed, then, when
    /// <paramref name="uniformSteps"/> &gt; 0, supervised for that many steps on uniformly random L/R paths, so that it starts as a
    /// trained model whose every next-token distribution is ½ L, ½ R (closer to the paper's pretrained GPT-2 than a random init).
    /// </summary>
    public static Gpt Policy(int seed, bool large = false, int uniformSteps = 0, Device? device = null)
    {
        var policy = new Gpt(large ? LargeModel : Model, seed: (ulong)(1000 + seed), device);
        if (uniformSteps <= 0) return policy;
        using var opt = new AdamW(policy.Parameters.Values, 1e-3f, weightDecay: 0f);
        const int batch = 64, depth = 4;
        ulong counter = 0;
        for (int s = 0; s < uniformSteps; s++)
        {
            var x = new int[batch * depth];
            var y = new int[batch * depth];
            for (int r = 0; r < batch; r++)
            {
                uint bits = Engine.Random.Philox.Block(0x756e69666f726dUL + (ulong)seed, counter++).X0;
                int[] path = [.. Enumerable.Range(0, depth).Select(i => (bits >> i & 1) == 0 ? TreeTask.L : TreeTask.R)];
                x[r * depth] = TreeTask.Bos;
                for (int i = 0; i < depth; i++)
                {
                    if (i > 0) x[r * depth + i] = path[i - 1];
                    y[r * depth + i] = path[i];
                }
            }
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            var loss = Gpt.Loss(policy.Forward(Tensor.FromInts(x, new Shape(batch, depth), policy.Device)),
                Tensor.FromInts(y, new Shape(batch, depth), policy.Device));
            loss.Backward();
            opt.ClipGradNorm(1f);
            opt.Step();
        }
        return policy;
    }

    /// <summary>Steps per run (the paper's 250).</summary>
    public const int Steps = 250;

    /// <summary>The last steps over which the final target frequency is measured.</summary>
    public const int Window = 50;

    /// <summary>Steps of the moving average behind a run's peak and its steps to 90 % of the peak.</summary>
    public const int Smoothing = 10;

    /// <summary>The sampling temperature of the authors' code.</summary>
    public const float PaperTemperature = 0.75f;

    /// <summary>The trainer settings of one run.</summary>
    public static GrpoOptions Options(bool lambda, int seed, float learningRate = LearningRate, bool packedTree = true, float temperature = 1f) =>
        new(GroupSize: 16, MaxNewTokens: 4, LambdaScaling: lambda, Aggregation: Aggregation.TokenMean,
            LearningRate: learningRate, WeightDecay: 0f, GradClip: 1f, Temperature: temperature, Seed: (ulong)seed, PackedTree: packedTree);

    /// <summary>The default AdamW learning rate of the demo.</summary>
    public const float LearningRate = 3e-4f;

    /// <summary>The paper's Table 1 (GRPO, λ-GRPO) by (n, r_neg).</summary>
    public static IReadOnlyDictionary<(int, float), (double Grpo, double Lambda)> PaperTable { get; } =
        new Dictionary<(int, float), (double, double)>
        {
            [(1, -0.5f)] = (0.3995, 0.5663), [(1, -1.0f)] = (0.0000, 0.7535), [(1, -1.5f)] = (0.2000, 0.4463),
            [(2, -0.5f)] = (0.1980, 0.4292), [(2, -1.0f)] = (0.0488, 0.3612), [(2, -1.5f)] = (0.0000, 0.3820),
        };

    /// <summary>
    /// Trains one policy for <paramref name="steps"/> steps on <paramref name="device"/> (default: the CPU) and
    /// tracks how often it samples the target; <paramref name="packedTree"/> = false trains on k separate rows. A
    /// <paramref name="start"/> replaces the fresh policy of the run's seed (it is cloned, not modified).
    /// </summary>
    public static TreeRunResult Run(TreeRun run, int steps = Steps, float learningRate = LearningRate, Action<int, GrpoStepMetrics>? onStep = null,
        Device? device = null, bool packedTree = true, float temperature = 1f, Gpt? start = null)
    {
        var task = new TreeTask(run.SharedPrefix, run.NegativeReward);
        using var policy = start?.Clone() ?? Policy(run.Seed, device: device);
        using var trainer = new GrpoTrainer(policy, Options(run.Lambda, run.Seed, learningRate, packedTree, temperature), [task.AsReward()],
            allowedTokens: TreeTask.Alphabet);
        var metrics = new List<GrpoStepMetrics>(steps);
        var freq = new double[steps];
        int hits = 0, samples = 0;
        for (int s = 0; s < steps; s++)
        {
            using var scope = TensorScope.Open();
            var (groups, step) = trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
            metrics.Add(step);
            int found = groups[0].Completions.Count(task.IsTarget);
            freq[s] = (double)found / groups[0].Completions.Length;
            if (s >= steps - Window)
            {
                hits += found;
                samples += groups[0].Completions.Length;
            }
            onStep?.Invoke(s, step);
        }
        return new TreeRunResult(run, freq, (double)hits / samples, metrics);
    }

    /// <summary>Every configuration of the sweep: n ∈ {1, 2}, r_neg ∈ {−0.5, −1, −1.5}, both methods, the given seeds.</summary>
    public static IEnumerable<TreeRun> Sweep(int seeds) =>
        from n in new[] { 1, 2 }
        from r in new[] { -0.5f, -1.0f, -1.5f }
        from lambda in new[] { false, true }
        from seed in Enumerable.Range(0, seeds)
        select new TreeRun(n, r, lambda, seed);
}
