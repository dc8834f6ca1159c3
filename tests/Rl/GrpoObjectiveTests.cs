using Engine.Autograd;
using Engine.Model;
using Engine.Rl.Grpo;
using Engine.Tests.Support;

namespace Engine.Tests;

public class GrpoObjectiveTests
{
    static readonly GptConfig Micro = new(VocabSize: 5, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);
    static readonly int[] Prompt = [0, 3];
    static readonly int[][] Completions = [[1, 2, 4], [1, 2], [1, 3, 3, 2], [2]];
    static readonly float[] Rewards = [1f, 0f, 0.5f, 0.2f];

    static float[] Advantages(float[] r)
    {
        double m = r.Average(), s = Math.Sqrt(r.Sum(x => (x - m) * (x - m)) / (r.Length - 1));
        return r.Select(x => (float)((x - m) / (s + 1e-4))).ToArray();
    }

    /// <summary>|λ(i,t)|: the number of completions that share completion i's first t + 1 tokens.</summary>
    static int[][] Lambda(int[][] c) => c.Select(ci => ci.Select((_,
        t) => c.Count(cj => cj.Length > t && cj.AsSpan(0, t + 1).SequenceEqual(ci.AsSpan(0, t + 1)))).ToArray()).ToArray();

    static Dictionary<string, float[]> Gradients(Gpt model, Func<Variable> loss)
    {
        foreach (var p in model.Parameters.Values) p.ZeroGrad();
        using var scope = TensorScope.Open();
        loss().Backward();
        return model.Parameters.ToDictionary(p => p.Key, p => p.Value.Grad!.ToArray());
    }

    [Fact]
    public void TheoremGrpoEqualsItsProcessRewardForm()
    {
        // docs/science.md §3: with token-mean and μ = 1, replacing a_i by the step advantage A_{i,t} (the mean of a_j
        // over the trajectories through the step) leaves the loss and every gradient unchanged.
        var rng = new System.Random(7);
        for (int trial = 0; trial < 5; trial++)
        {
            var completions = Enumerable.Range(0,
                6).Select(_ => Enumerable.Range(0, rng.Next(1, 5)).Select(_ => 1 + rng.Next(2)).ToArray()).ToArray();
            var rewards = completions.Select(_ => (float)rng.NextDouble()).ToArray();
            var a = Advantages(rewards);
            var stepAdv = completions.Select(ci => ci.Select((_, t) =>
            {
                var through = Enumerable.Range(0,
                    completions.Length).Where(j => completions[j].Length > t && completions[j].AsSpan(0, t + 1).SequenceEqual(ci.AsSpan(0, t + 1)));
                return through.Average(j => a[j]);
            }).ToArray()).ToArray();
            using var model = new Gpt(Micro, seed: (ulong)trial);
            var options = new GrpoOptions(Aggregation: Aggregation.TokenMean);
            var w = GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 4);
            var grpo = Gradients(model,
                () => GrpoObjective.Loss(model, new GroupBatch(Prompt, completions, a, w), null, null, options, null, out _, out _));
            var prm = Gradients(model,
                () => GrpoObjective.Loss(model, new GroupBatch(Prompt, completions, a, w, stepAdv), null, null, options, null, out _, out _));
            foreach (var name in grpo.Keys) Tolerance.AssertClose(prm[name], grpo[name], 1e-7, 1e-4, $"trial {trial}: {name}");
        }
    }

    [Fact]
    public void ClippingAndKlMatchHandComputedValues()
    {
        using var model = new Gpt(Micro, seed: 1);
        var a = Advantages(Rewards);
        var w = GroupBatch.TokenWeights(Completions, null, Aggregation.TokenMean, 4);
        var batch = new GroupBatch(Prompt, Completions, a, w);
        var options = new GrpoOptions(EpsilonLow: 0.1f, EpsilonHigh: 0.3f, Beta: 0.05f);
        using var scope = TensorScope.Open();
        // learn the current log-probs, then make up old and reference ones around them
        GrpoObjective.Loss(model, batch, null, new float[batch.Targets.Length], options with { Beta = 0 }, null, out var logp, out _);
        var rng = new System.Random(3);
        var old = logp.Select(v => v + (float)(rng.NextDouble() - 0.5)).ToArray();
        var reference = logp.Select(v => v + (float)(rng.NextDouble() - 0.5)).ToArray();
        var loss = GrpoObjective.Loss(model, batch, old, reference, options, null, out _, out var stats).Value.ToScalar();

        double expected = 0;
        int tokens = 0, clipped = 0;
        for (int i = 0; i < batch.Targets.Length; i++)
        {
            if (batch.Targets[i] == GroupBatch.IgnoreIndex) continue;
            tokens++;
            double p = Math.Exp(logp[i] - old[i]), adv = batch.Advantages[i];
            double clip = Math.Clamp(p, 0.9, 1.3);
            double j = Math.Min(p * adv, clip * adv);
            if (clip * adv < p * adv) clipped++;
            double ratio = Math.Exp(reference[i] - logp[i]);
            double d = ratio - Math.Log(ratio) - 1;
            expected -= batch.Weights[i] * (j - 0.05 * d);
        }
        Assert.Equal(expected, loss, 5);
        Assert.Equal((double)clipped / tokens, stats.ClipFraction, 10);
    }

    [Fact]
    public void LambdaScalingDividesPolicyAndKlTermsAndKeepsTokenCountDenominators()
    {
        var lambda = Lambda(Completions);
        var scales = lambda.Select(l => l.Select(x => 1f / x).ToArray()).ToArray();
        foreach (var agg in new[] { Aggregation.SeqMean, Aggregation.TokenMean, Aggregation.DrGrpo })
        {
            var plain = GroupBatch.TokenWeights(Completions, null, agg, 6);
            var scaled = GroupBatch.TokenWeights(Completions, scales, agg, 6);
            int total = Completions.Sum(c => c.Length);
            for (int i = 0; i < Completions.Length; i++)
                for (int t = 0; t < Completions[i].Length; t++)
                {
                    double denominator = agg switch { Aggregation.SeqMean => 4.0 * Completions[i].Length, Aggregation.TokenMean => total,
                        _ => 4.0 * 6 };
                    Assert.Equal(1 / denominator, plain[i][t], 6);
                    Assert.Equal(1 / denominator / lambda[i][t], scaled[i][t], 6);
                }
        }
        // one weight multiplies the whole per-token term, so the KL part is divided by |λ| as well
        using var model = new Gpt(Micro, seed: 2);
        var a = Advantages(Rewards);
        var options = new GrpoOptions(Beta: 0.1f, Aggregation: Aggregation.TokenMean);
        using var scope = TensorScope.Open();
        var unit = GroupBatch.TokenWeights(Completions, null, Aggregation.TokenMean, 4);
        var lam = GroupBatch.TokenWeights(Completions, scales, Aggregation.TokenMean, 4);
        var zeroAdv = new float[a.Length];
        GrpoObjective.Loss(model, new GroupBatch(Prompt, Completions, zeroAdv, unit), null, null, options with { Beta = 0 }, null,
            out var logp, out _);
        var reference = logp.Select((v, i) => v + 0.3f * MathF.Sin(i)).ToArray();
        float klOnly = GrpoObjective.Loss(model, new GroupBatch(Prompt, Completions, zeroAdv, lam), null, reference, options, null, out _,
            out _).Value.ToScalar();
        var batch = new GroupBatch(Prompt, Completions, zeroAdv, lam);
        double expected = 0;
        for (int i = 0; i < batch.Targets.Length; i++)
        {
            if (batch.Targets[i] == GroupBatch.IgnoreIndex) continue;
            double r = Math.Exp(reference[i] - logp[i]);
            expected += batch.Weights[i] * 0.1 * (r - Math.Log(r) - 1);
        }
        Assert.Equal(expected, klOnly, 6);
    }

    [Fact]
    public void OneUpdatesGradientMatchesAnIndependentComputation()
    {
        // The trainer's batched, padded loss against a per-sequence computation written from the formulas:
        // token-mean, μ = 1 (P = 1), β = 0, λ-GRPO: loss = −Σ_i Σ_t a_i·P_{i,t}/|λ| / Σ len.
        var a = Advantages(Rewards);
        var lambda = Lambda(Completions);
        int total = Completions.Sum(c => c.Length);
        using var m1 = new Gpt(Micro, seed: 5);
        using var m2 = new Gpt(Micro, seed: 5);
        var options = new GrpoOptions(Aggregation: Aggregation.TokenMean, LambdaScaling: true, LearningRate: 1e-2f, GradClip: 0f);

        using (var scope = TensorScope.Open())
        {
            var w = GroupBatch.TokenWeights(Completions, lambda.Select(l => l.Select(x => 1f / x).ToArray()).ToArray(), Aggregation.TokenMean, 4);
            GrpoObjective.Loss(m1, new GroupBatch(Prompt, Completions, a, w), null, null, options, null, out _, out _).Backward();
        }
        using (var scope = TensorScope.Open())
        {
            Variable? loss = null;
            for (int i = 0; i < Completions.Length; i++)
            {
                var seq = Prompt.Concat(Completions[i]).ToArray();
                var logits = m2.Forward(Engine.Tensor.FromInts(seq[..^1], new Shape(1, seq.Length - 1)));
                var logp = logits.Reshape(seq.Length - 1, Micro.VocabSize).LogSoftmax();
                for (int t = 0; t < Completions[i].Length; t++)
                {
                    int pos = Prompt.Length - 1 + t;
                    var onehot = new float[(seq.Length - 1) * Micro.VocabSize];
                    onehot[pos * Micro.VocabSize + Completions[i][t]] = 1f;
                    var lp = (logp * new Variable(Engine.Tensor.FromArray(onehot, logp.Shape))).Sum();
                    var ratio = (lp - new Variable(Engine.Tensor.Scalar(lp.Value.ToScalar()))).Exp();
                    var term = ratio * (-a[i] / lambda[i][t] / total);
                    loss = loss is null ? term : loss + term;
                }
            }
            loss!.Backward();
        }
        // Compared after the AdamW step the key bias would fail for no fault of either side: its exact gradient is
        // 0 (softmax is shift-invariant), and Adam turns the two computations' different rounding noise into ±lr
        // steps. So the gradients are compared here, and AdamW's own step is checked in AutogradBehaviourTests.
        foreach (var (name, p) in m1.Parameters)
            Tolerance.AssertClose(p.Grad!.ToArray(), m2[name].Grad!.ToArray(), 1e-7, 1e-4, name);
    }
}
