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
/// The GRPO loss of one group (docs/science.md §1, §4): −Σ w_{i,t} [min(P·a, clip(P, 1−ε_low, 1+ε_high)·a) − β·D],
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
    public static Variable Loss(ILanguageModel policy, GroupBatch batch, float[]? oldLogProbs, float[]? refLogProbs, GrpoOptions options,
        Tensor? logitMask, out float[] logProbs, out ObjectiveStats stats)
    {
        int k = batch.Rows, t = batch.Time;
        var device = policy.Device;
        var inputs = Tensor.FromInts(batch.Inputs, new Shape(k, t), device);
        var targets = Tensor.FromInts(batch.Targets, new Shape(k * t), device);
        var logits = Tempered(ILanguageModel.CheckedForward(policy, inputs), options.Temperature, logitMask);
        var flat = logits.Reshape(k * t, -1);
        var logp = Variable.TargetLogProbs(flat, targets, GroupBatch.IgnoreIndex);
        logProbs = logp.Value.ToArray();

        var loss = Objective(logp, oldLogProbs ?? logProbs, batch.Advantages, batch.Weights, refLogProbs, options, out var kl);
        var terms = Enumerable.Range(0, batch.Targets.Length).Where(i => batch.Targets[i] != GroupBatch.IgnoreIndex).ToArray();
        var rowEntropy = RowEntropies(flat.Value);
        stats = Measure(terms, terms, logProbs, oldLogProbs, batch.Advantages, kl, rowEntropy, options);
        return loss;
    }

    /// <summary>
    /// The same loss, with the same value and gradients, from one forward pass over the group's packed trie
    /// (<see cref="PackedGroup"/>). Log-probs (returned, and <paramref name="oldLogProbs"/> and
    /// <paramref name="refLogProbs"/>) are per trie node.
    /// </summary>
    public static Variable PackedLoss(Gpt policy, PackedGroup packed, float[]? oldLogProbs, float[]? refLogProbs, GrpoOptions options,
        Tensor? logitMask, out float[] logProbs, out ObjectiveStats stats)
    {
        int n = packed.Length, nodes = packed.TargetToken.Length;
        var device = policy.Device;
        var inputs = Tensor.FromInts(packed.Inputs, new Shape(1, n), device);
        var positions = Tensor.FromInts(packed.Positions, new Shape(n), device);
        var logits = Tempered(policy.Forward(inputs, positions, packed.Tree), options.Temperature, logitMask);
        // A branching position predicts several children: gather its logits once per child.
        var rows = Variable.Embedding(logits.Reshape(n, -1), Tensor.FromInts(packed.TargetPosition, new Shape(nodes), device));
        var nodeLogp = Variable.TargetLogProbs(rows, Tensor.FromInts(packed.TargetToken, new Shape(nodes), device));
        logProbs = nodeLogp.Value.ToArray();
        var termLogp = Variable.Embedding(nodeLogp.Reshape(nodes, 1),
            Tensor.FromInts(packed.TermTarget, new Shape(packed.TermTarget.Length), device)).Reshape(-1);

        float[] PerTerm(float[] perNode) => Array.ConvertAll(packed.TermTarget, j => perNode[j]);
        var loss = Objective(termLogp, PerTerm(oldLogProbs ?? logProbs), packed.TermAdvantage, packed.TermWeight,
            refLogProbs is null ? null : PerTerm(refLogProbs), options, out var kl);
        var terms = Enumerable.Range(0, packed.TermTarget.Length).ToArray();
        stats = Measure(terms, packed.TermTarget, logProbs, oldLogProbs, packed.TermAdvantage, kl, RowEntropies(rows.Value), options);
        return loss;
    }

    /// <summary>
    /// −Σ w [min(P·a, clip(P)·a) − β·D] over matching per-token vectors: the log-probs, π_old's, the advantages,
    /// the weights and (for β &gt; 0) the reference's. Returns the k3 KL per token when β &gt; 0.
    /// </summary>
    static Variable Objective(Variable logp, float[] old, float[] advantages, float[] weights, float[]? refLogProbs, GrpoOptions options,
        out float[]? kl)
    {
        var device = logp.Value.Device;
        var shape = logp.Shape;
        var ratio = (logp - new Variable(Tensor.FromArray(old, shape, device))).Exp();
        var adv = new Variable(Tensor.FromArray(advantages, shape, device));
        var clipped = Variable.Clamp(ratio, 1f - options.EpsilonLow, 1f + options.EpsilonHigh);
        var objective = Variable.Minimum(ratio * adv, clipped * adv);
        kl = null;
        if (options.Beta > 0)
        {
            if (refLogProbs is null) throw new ArgumentException("grpo: β > 0 needs the reference policy's log-probs");
            // k3: π_ref/π − ln(π_ref/π) − 1, per token
            var diff = new Variable(Tensor.FromArray(refLogProbs, shape, device)) - logp;
            var d = diff.Exp() - diff - 1f;
            kl = d.Value.ToArray();
            objective -= d * options.Beta;
        }
        var w = new Variable(Tensor.FromArray(weights, shape, device));
        return -(objective * w).Sum();
    }

    /// <summary>
    /// Statistics over the terms: term j reads the log-probs and entropies at <paramref name="at"/>[j] and
    /// its advantage and KL at <paramref name="terms"/>[j].
    /// </summary>
    static ObjectiveStats Measure(int[] terms, int[] at, float[] logp, float[]? old, float[] advantages, float[]? kl, double[] entropy,
        GrpoOptions o)
    {
        if (terms.Length == 0) return default;
        int clipped = 0;
        double klSum = 0, entropySum = 0;
        for (int j = 0; j < terms.Length; j++)
        {
            int i = at[j];
            double ratio = old is null ? 1 : Math.Exp(logp[i] - old[i]);
            float a = advantages[terms[j]];
            if ((a > 0 && ratio > 1 + o.EpsilonHigh) || (a < 0 && ratio < 1 - o.EpsilonLow)) clipped++;
            if (kl is not null) klSum += kl[terms[j]];
            entropySum += entropy[i];
        }
        return new ObjectiveStats((double)clipped / terms.Length, klSum / terms.Length, entropySum / terms.Length, terms.Length);
    }

    /// <summary>
    /// The logits of the distribution the sampler drew from: divided by the temperature, then restricted by the
    /// additive mask. π_θ, π_old and the reference all go through here, so the ratio, the clip and the KL refer to
    /// the sampling policy.
    /// </summary>
    static Variable Tempered(Variable logits, float temperature, Tensor? logitMask)
    {
        if (temperature != 1f) logits /= temperature;
        return logitMask is null ? logits : logits + new Variable(logitMask.Reshape(logitMask.Shape.Dims));
    }

    /// <summary>−Σ p ln p of each row's softmax, on the logits' device; only one number per row comes back to the host.</summary>
    static double[] RowEntropies(Tensor logits)
    {
        using var logp = logits.LogSoftmax();
        using var p = logp.Exp();
        using var terms = p * logp;
        using var sums = terms.Sum(-1);
        return Array.ConvertAll(sums.ToArray(), h => -(double)h);
    }
}
