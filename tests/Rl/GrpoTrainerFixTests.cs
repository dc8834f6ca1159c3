using Engine.Autograd;
using Engine.Model;
using Engine.Model.Tokenizers;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Where Engine's GRPO trainer once differed from TRL and verl; each test fails on the old behaviour.</summary>
public sealed class GrpoTrainerFixTests
{
    static readonly GptConfig Micro = new(VocabSize: 6, ContextLength: 10, Width: 16, Layers: 1, Heads: 2);
    static readonly CharTokenizer Chars = new(["^", "a", "b", "c", "d", ";"]);
    const int Stop = 5;

    static GrpoTrainer Trainer(Gpt policy, GrpoOptions options, Func<RewardInput, float>? reward = null) =>
        new(policy, options, [new WeightedReward(new DelegateReward("r", reward ?? (i => i.Completion.Count(t => t == 1))))], Chars,
            stopTokens: new HashSet<int> { Stop });

    [Fact]
    public void TheLossUsesTheSamplingTemperature()
    {
        // At T = 0.5 the log-probs the loss computes must be those of the distribution the sampler drew from.
        using var policy = new Gpt(Micro, seed: 4);
        var options = new GrpoOptions(GroupSize: 6, MaxNewTokens: 5, Temperature: 0.5f, Seed: 3);
        using var trainer = Trainer(policy, options);
        var group = trainer.Sample([new GrpoPrompt([0, 2])], out _, out _)[0];
        var batch = new GroupBatch(group.Prompt.Ids, group.Completions, group.Analysis.Advantages,
            GroupBatch.TokenWeights(group.Completions, null, options.Aggregation, options.MaxNewTokens));
        float[] logp;
        using (TensorScope.Open()) GrpoObjective.Loss(policy, batch, null, null, options, null, out logp, out _);
        using var noGrad = GradMode.NoGrad();
        for (int i = 0; i < group.Completions.Length; i++)
        {
            var seq = group.Prompt.Ids.Concat(group.Completions[i]).ToArray();
            using var scope = TensorScope.Open();
            var logits = policy.Forward(Engine.Tensor.FromInts(seq, new Shape(1, seq.Length))).Value.ToArray();
            for (int t = 0; t < group.Completions[i].Length; t++)
            {
                int pos = group.Prompt.Ids.Length - 1 + t;
                var row = logits.AsSpan(pos * Micro.VocabSize, Micro.VocabSize);
                var probabilities = Sampler.Probabilities(row, options.Sampling);
                double expected = Math.Log(probabilities[group.Completions[i][t]]);
                Tolerance.AssertClose([logp[i * batch.Time + pos]], [expected], 2e-5, 2e-5, $"completion {i} token {t}");
            }
        }
    }

    [Fact]
    public void TokenMeanDividesByTheWholeStepsTokens()
    {
        // At μ = 1 every ratio is 1, so the loss is −Σ a_i·len_i / (the step's completion tokens), over every group at once.
        using var policy = new Gpt(Micro, seed: 5);
        var options = new GrpoOptions(GroupSize: 6, PromptsPerStep: 3, MaxNewTokens: 5, Seed: 11, Aggregation: Aggregation.TokenMean,
            LearningRate: 0);
        using var trainer = Trainer(policy, options);
        var groups = trainer.Sample([new GrpoPrompt([0, 1]), new GrpoPrompt([0, 3]), new GrpoPrompt([0, 4])], out _, out _);
        Assert.True(groups.Select(g => g.Completions.Sum(c => c.Length)).Distinct().Count() > 1, "the groups should differ in length");
        double stepTokens = groups.Sum(g => g.Completions.Sum(c => c.Length));
        double expected = -groups.Sum(g => g.Completions.Select((c, i) => g.Analysis.Advantages[i] * c.Length).Sum()) / stepTokens;
        double perGroup = -groups.Average(g =>
            g.Completions.Select((c, i) => g.Analysis.Advantages[i] * c.Length).Sum() / g.Completions.Sum(c => c.Length));
        Assert.NotEqual(expected, perGroup, 6);
        Assert.Equal(expected, trainer.Update(groups).Loss, 5);
        using var again = Trainer(policy, options with { Aggregation = Aggregation.GroupTokenMean });
        Assert.Equal(perGroup, again.Update(groups).Loss, 5);
    }

    [Fact]
    public void ClippingAtZeroWidthPassesTheWholeGradient()
    {
        // With ε_low = ε_high = 0 the first pass sits exactly on both bounds (P = 1); as with torch.clamp the gradient
        // must be that of the unclipped objective, not ¾ or ½ of it.
        int[][] completions = [[1, 2, 5], [3, 5], [1, 1, 4, 5]];
        float[] advantages = [0.8f, -1.1f, 0.3f];
        var weights = GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 4);
        Dictionary<string, float[]> Gradients(float epsilon)
        {
            using var model = new Gpt(Micro, seed: 6);
            using (TensorScope.Open())
                GrpoObjective.Loss(model, new GroupBatch([0], completions, advantages, weights), null, null,
                    new GrpoOptions(EpsilonLow: epsilon, EpsilonHigh: epsilon), null, out _, out _).Backward();
            return model.Parameters.ToDictionary(p => p.Key, p => p.Value.Grad!.ToArray());
        }
        var open = Gradients(0.2f);
        var closed = Gradients(0f);
        foreach (var (name, g) in open) Tolerance.AssertClose(closed[name], g, 1e-9, 1e-6, name);
    }

    [Fact]
    public void AStepTakesExactlyItsPromptsPerStep()
    {
        using var policy = new Gpt(Micro, seed: 7);
        using var trainer = Trainer(policy, new GrpoOptions(GroupSize: 2, PromptsPerStep: 2, MaxNewTokens: 3));
        var e = Assert.Throws<ArgumentException>(() => trainer.Step([new GrpoPrompt([0])]));
        Assert.Contains("takes 2 prompts", e.Message);
        Assert.Equal(2, trainer.Step([new GrpoPrompt([0]), new GrpoPrompt([0, 1])]).Groups.Count);
    }

    [Fact]
    public void ZeroStdGroupsAreCountedAndCanBeLeftOut()
    {
        // Reward 1 for every completion of prompt [0, 1], the count of 'a' for the others.
        float Reward(RewardInput i) => i.Prompt[^1] == 1 ? 1 : i.Completion.Count(t => t == 2);
        using var policy = new Gpt(Micro, seed: 8);
        var options = new GrpoOptions(GroupSize: 6, PromptsPerStep: 2, MaxNewTokens: 5, Seed: 2, LearningRate: 0,
            Aggregation: Aggregation.TokenMean);
        using var trainer = Trainer(policy, options, Reward);
        GrpoPrompt[] prompts = [new([0, 1]), new([0, 3])];
        var groups = trainer.Sample(prompts, out _, out _);
        Assert.True(groups[0].ZeroStd);
        Assert.False(groups[1].ZeroStd);
        var all = trainer.Update(groups);
        using var dropping = Trainer(policy, options with { DropZeroStdGroups = true }, Reward);
        var kept = dropping.Update(groups);
        // Left out, the flat group no longer dilutes the token-mean: the loss is that of the other group alone.
        double other = -groups[1].Completions.Select((c, i) => groups[1].Analysis.Advantages[i] * c.Length).Sum()
            / groups[1].Completions.Sum(c => c.Length);
        Assert.Equal(other, kept.Loss, 5);
        Assert.NotEqual(all.Loss, kept.Loss, 6);
        Assert.Equal(1, trainer.Step(prompts).Metrics.ZeroStdGroups);
    }

    [Fact]
    public void TruncatedCompletionsCanBeMaskedOut()
    {
        int[][] completions = [[1, 2, 5], [3, 3, 3], [1, 5]];
        var weights = GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 3, masked: [false, true, false]);
        Assert.All(weights[1], w => Assert.Equal(0f, w));
        Assert.All(weights[0].Concat(weights[2]), w => Assert.Equal(1f / 5, w));
        using var policy = new Gpt(Micro, seed: 9);
        using var trainer = Trainer(policy, new GrpoOptions(GroupSize: 8, MaxNewTokens: 2, Seed: 5));
        var (groups, metrics) = trainer.Step([new GrpoPrompt([0])]);
        var truncated = groups[0].Truncated;
        Assert.Equal(groups[0].Completions.Select(c => c.Length == 2 && c[^1] != Stop).ToArray(), truncated);
        Assert.Equal((double)truncated.Count(t => t) / truncated.Length, metrics.TruncatedFraction);
    }

    [Fact]
    public void StopStringsEndCompletionsAndAreCutFromTheRewardsText()
    {
        using var policy = new Gpt(Micro, seed: 10);
        var texts = new List<string>();
        using var trainer = new GrpoTrainer(policy, new GrpoOptions(GroupSize: 8, MaxNewTokens: 6, Seed: 1, Stop: ["bc"]),
            [new WeightedReward(new DelegateReward("len", i => { texts.Add(i.Text!); return i.Text!.Length; }))], Chars);
        var group = trainer.Sample([new GrpoPrompt([0])], out _, out _)[0];
        for (int i = 0; i < group.Completions.Length; i++)
        {
            string full = Chars.Decode(group.Completions[i]);
            int at = full.IndexOf("bc", StringComparison.Ordinal);
            Assert.True(at < 0 || at + 2 == full.Length, $"'{full}' runs on past its stop string");
            Assert.Equal(at < 0 ? full : full[..at], texts[i]);
        }
    }

    [Fact]
    public void TheLearningRateFollowsItsSchedule()
    {
        var cosine = new GrpoOptions(LearningRate: 1e-3f, Schedule: Engine.Autograd.Optimizers.LrScheduleKind.Cosine, WarmupSteps: 2,
            TotalSteps: 10);
        Assert.Equal([5e-4f, 1e-3f, 1e-3f], [.. Enumerable.Range(0, 3).Select(cosine.LearningRates.At)]);
        Assert.Equal(0f, cosine.LearningRates.At(10), 6);
        Assert.Equal(1e-3f, new GrpoOptions(LearningRate: 1e-3f).LearningRates.At(7));
        using var policy = new Gpt(Micro, seed: 11);
        using var trainer = Trainer(policy, cosine with { GroupSize = 2, MaxNewTokens = 2 });
        Assert.Equal(5e-4, trainer.Step([new GrpoPrompt([0])]).Metrics.LearningRate, 6);
        Assert.Equal(1e-3, trainer.Step([new GrpoPrompt([0])]).Metrics.LearningRate, 6);
    }

    [Fact]
    public void TheMetricsAreTheMeanOverTheMuPasses()
    {
        // μ = 2 reports the mean of its two passes: pass 1 at P = 1, pass 2 after one update, with π_old from pass 1.
        var options = new GrpoOptions(GroupSize: 6, MaxNewTokens: 4, Seed: 7, Mu: 2, LearningRate: 0.05f, GradClip: 0f, PackedTree: false,
            Aggregation: Aggregation.TokenMean, EpsilonLow: 0.05f, EpsilonHigh: 0.05f);
        using var sampler = new Gpt(Micro, seed: 12);
        using var samplingTrainer = Trainer(sampler, options);
        var groups = samplingTrainer.Sample([new GrpoPrompt([0, 2])], out _, out _);
        var g = groups[0];
        var batch = new GroupBatch(g.Prompt.Ids, g.Completions, g.Analysis.Advantages,
            GroupBatch.TokenWeights(g.Completions, null, options.Aggregation, options.MaxNewTokens));

        using var twoPasses = new Gpt(Micro, seed: 12);
        using var trainer = Trainer(twoPasses, options);
        var stats = trainer.Update(groups);

        // The same two passes by hand: one AdamW step on the pass-1 loss, then the pass-2 loss against π_old.
        using var byHand = new Gpt(Micro, seed: 12);
        using var onePass = Trainer(byHand, options with { Mu = 1 });
        float first = (float)onePass.Update(groups).Loss;
        float[] old;
        using (TensorScope.Open()) GrpoObjective.Loss(sampler, batch, null, null, options, null, out old, out _);
        float second;
        using (TensorScope.Open()) second = GrpoObjective.Loss(byHand, batch, old, null, options, null, out _, out _).Value.ToScalar();
        Assert.NotEqual(first, second);
        Tolerance.AssertClose([(float)stats.Loss], [(first + second) / 2.0], 1e-6, 1e-4, "mean loss over the passes");
    }
}
