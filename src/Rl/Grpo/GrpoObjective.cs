using Engine.Autograd;
using Engine.Model;

namespace Engine.Rl.Grpo;

/// <summary>What one evaluation of the objective measured (over completion tokens).</summary>
/// <param name="ClipFraction">Share of tokens whose clipped term was the smaller one.</param>
/// <param name="Kl">Mean k3 KL estimate against the reference policy (0 without one).</param>
/// <param name="Entropy">Mean entropy of the policy at the sampled positions (nats).</param>
/// <param name="Tokens">Number of completion tokens.</param>
public readonly record struct ObjectiveStats(double ClipFraction, double Kl, double Entropy, int Tokens);

/// <summary>
/// The GRPO loss of one group (PAPER.md §1, §4): −Σ w_{i,t} [min(P·a, clip(P, 1−ε_low, 1+ε_high)·a) − β·D],
/// with P = π_θ/π_old per token, D the k3 estimator against the reference policy, and w the per-token
/// weights (the λ-scale under λ-GRPO, times the aggregation's denominator).
/// </summary>
public static class GrpoObjective
{
    /// <summary>
    /// The loss Variable for <paramref name="batch"/>. <paramref name="oldLogProbs"/> (k·Time, per position)
    /// are π_old's; null means θ = θ_old (the first pass), where P ≡ 1. <paramref name="refLogProbs"/> are
    /// the frozen reference's (needed when β &gt; 0). <paramref name="logitMask"/> (additive, [V]) restricts
    /// the policy to the tokens that sampling could produce. Returns the policy's per-position log-probs too.
    /// </summary>
    public static Variable Loss(Gpt policy, GroupBatch batch, float[]? oldLogProbs, float[]? refLogProbs, GrpoOptions options,
        Tensor? logitMask, out float[] logProbs, out ObjectiveStats stats)
    {
        int k = batch.Rows, t = batch.Time;
        var shape = new Shape(k, t);
        var device = policy.Device;
        var inputs = Tensor.FromInts(batch.Inputs, shape, device);
        var targets = Tensor.FromInts(batch.Targets, new Shape(k * t), device);
        var logits = policy.Forward(inputs);
        if (logitMask is not null) logits += new Variable(logitMask.Reshape(logitMask.Shape.Dims));
        var flat = logits.Reshape(k * t, -1);
        var logp = Variable.TargetLogProbs(flat, targets, GroupBatch.IgnoreIndex).Reshape(k, t);
        logProbs = logp.Value.ToArray();

        var old = Tensor.FromArray(oldLogProbs ?? logProbs, shape, device);
        var ratio = (logp - new Variable(old)).Exp();
        var adv = new Variable(Tensor.FromArray(batch.Advantages, shape, device));
        var low = new Variable(Tensor.Scalar(1f - options.EpsilonLow, device));
        var high = new Variable(Tensor.Scalar(1f + options.EpsilonHigh, device));
        var clipped = Variable.Maximum(Variable.Minimum(ratio, high), low);
        var objective = Variable.Minimum(ratio * adv, clipped * adv);

        Variable? kl = null;
        if (options.Beta > 0)
        {
            if (refLogProbs is null) throw new ArgumentException("grpo: β > 0 needs the reference policy's log-probs");
            // k3: π_ref/π − ln(π_ref/π) − 1, per token
            var diff = new Variable(Tensor.FromArray(refLogProbs, shape, device)) - logp;
            kl = diff.Exp() - diff - 1f;
            objective -= kl * options.Beta;
        }
        var weights = new Variable(Tensor.FromArray(batch.Weights, shape, device));
        var loss = -(objective * weights).Sum();

        stats = Measure(batch, logProbs, oldLogProbs, kl?.Value.ToArray(), logits.Value, options);
        return loss;
    }

    static ObjectiveStats Measure(GroupBatch batch, float[] logp, float[]? old, float[]? kl, Tensor logits, GrpoOptions o)
    {
        int tokens = 0, clipped = 0;
        double klSum = 0, entropySum = 0;
        int v = logits.Shape[-1];
        var all = logits.ToArray();
        for (int i = 0; i < batch.Targets.Length; i++)
        {
            if (batch.Targets[i] == GroupBatch.IgnoreIndex) continue;
            tokens++;
            double ratio = old is null ? 1 : Math.Exp(logp[i] - old[i]);
            float a = batch.Advantages[i];
            if ((a > 0 && ratio > 1 + o.EpsilonHigh) || (a < 0 && ratio < 1 - o.EpsilonLow)) clipped++;
            if (kl is not null) klSum += kl[i];
            entropySum += Entropy(all.AsSpan(i * v, v));
        }
        return tokens == 0 ? default : new ObjectiveStats((double)clipped / tokens, klSum / tokens, entropySum / tokens, tokens);
    }

    /// <summary>−Σ p ln p of softmax(row); masked (−∞) logits contribute nothing.</summary>
    static double Entropy(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity;
        foreach (float x in row) max = Math.Max(max, x);
        double z = 0, s = 0;
        foreach (float x in row)
        {
            if (float.IsNegativeInfinity(x)) continue;
            double e = Math.Exp(x - max);
            z += e;
            s += e * (x - max);
        }
        return Math.Log(z) - s / z;
    }
}
