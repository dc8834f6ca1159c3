namespace Engine.Autograd;

public sealed partial class Variable
{
    /// <summary>Softmax over the last axis.</summary>
    public Variable Softmax()
    {
        var y = Value.Softmax();
        return Record("softmax", y, [this], g => [Tensor.SoftmaxBackward(y, g, log: false)], y);
    }

    /// <summary>Log-softmax over the last axis.</summary>
    public Variable LogSoftmax()
    {
        var y = Value.LogSoftmax();
        return Record("log_softmax", y, [this], g => [Tensor.SoftmaxBackward(y, g, log: true)], y);
    }

    /// <summary>Layer norm over the last axis, fused forward and backward.</summary>
    public static Variable LayerNorm(Variable x, Variable weight, Variable bias, float eps = 1e-5f)
    {
        var y = x.Value.LayerNorm(weight.Value, bias.Value, eps, out var mean, out var rstd);
        return Record("layer_norm", y, [x, weight, bias], g =>
        {
            var dw = Tensor.Zeros(weight.Shape, g.Device);
            var db = Tensor.Zeros(bias.Shape, g.Device);
            var dx = Tensor.LayerNormBackward(x.Value, weight.Value, mean, rstd, g, dw, db);
            return [dx, dw, db];
        }, x.Value, weight.Value, mean, rstd);
    }

    /// <summary>Rows of the [V, C] table picked by Int32 ids; the gradient is a scatter-add into the table.</summary>
    public static Variable Embedding(Variable table, Tensor ids) =>
        Record("embedding", Tensor.Embedding(table.Value, ids), [table], g => [Tensor.EmbeddingScatterAdd(g, ids, table.Shape[0])], ids);

    /// <summary>
    /// Cross-entropy of [N, V] logits against Int32 targets, fused with its softmax: the backward pass is
    /// (softmax − onehot) scaled by the upstream gradient (and 1/count for the mean).
    /// </summary>
    public static Variable CrossEntropy(Variable logits, Tensor targets, int ignoreIndex = -100, LossReduction reduction = LossReduction.Mean)
    {
        if (reduction == LossReduction.None) throw new ArgumentException("cross_entropy: autograd supports the Mean and Sum reductions", nameof(reduction));
        var loss = Tensor.CrossEntropy(logits.Value, targets, ignoreIndex, reduction);
        int counted = 0;
        if (reduction == LossReduction.Mean)
            foreach (int t in targets.ToInts()) if (t != ignoreIndex) counted++;
        return Record("cross_entropy", loss, [logits], g =>
        {
            float scale = g.ToScalar() / (reduction == LossReduction.Mean ? Math.Max(counted, 1) : 1);
            return [Tensor.CrossEntropyBackward(logits.Value, targets, ignoreIndex, scale)];
        }, logits.Value, targets);
    }

    /// <summary>
    /// log softmax(logits[r])[targets[r]] for each row of [N, V] logits, fused: the log-probability of each
    /// row's target. Rows whose target is <paramref name="ignoreIndex"/> give 0 and no gradient.
    /// </summary>
    public static Variable TargetLogProbs(Variable logits, Tensor targets, int ignoreIndex = -100)
    {
        // −cross-entropy per row; its gradient is (onehot − softmax) scaled by each row's upstream gradient.
        using var nll = Tensor.CrossEntropy(logits.Value, targets, ignoreIndex, LossReduction.None);
        return Record("target_log_probs", nll.Neg(), [logits], g =>
        {
            using var unit = Tensor.CrossEntropyBackward(logits.Value, targets, ignoreIndex, 1f);
            using var column = g.Reshape(-1, 1);
            using var negated = column.Neg();
            return [unit * negated];
        }, logits.Value, targets);
    }

    /// <summary>
    /// Attention over a packed tree: every position attends to itself and its ancestors in
    /// <paramref name="tree"/> (q and k [..., N, d], v [..., N, dv]). Where the backend walks trees
    /// (<see cref="ITreeAttention"/>, the CPU) the cost is proportional to the tree's query–key pairs;
    /// elsewhere it is <see cref="Attention"/> under the dense mask, with the same result.
    /// </summary>
    public static Variable TreeAttention(Variable q, Variable k, Variable v, TreeMask tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (Tensor.TryTreeAttention(q.Value, k.Value, v.Value, tree, out var o, out var lse))
        {
            return Record("tree_attention", o, [q, k, v], g =>
            {
                var (dq, dk, dv) = Tensor.TreeAttentionBackward(q.Value, k.Value, v.Value, tree, o, lse, g);
                return [Keep(dq, q), Keep(dk, k), Keep(dv, v)];
            }, q.Value, k.Value, v.Value, o, lse);
        }
        // Owned, like every temporary of the step, by the enclosing TensorScope: a fused backward reads it again.
        var mask = Tensor.FromArray(tree.Dense(), new Shape(tree.Length, tree.Length), q.Value.Device);
        return Attention(q, k, v, mask, causal: false);
    }

    /// <summary>
    /// Scaled dot-product attention, fused: softmax(q·kᵀ/√d + mask) · v over [..., T, d] inputs (k and v
    /// [..., S, d]). With <paramref name="causal"/>, query i sees keys j ≤ i + (S − T). The additive
    /// <paramref name="mask"/> (a constant, e.g. −∞ to block) broadcasts to [..., T, S].
    /// <para>
    /// Where the device's backend offers fused attention (<see cref="Tensor.TryFusedAttention"/>, e.g. the
    /// ILGPU kernels), the forward pass saves only the output and the per-row logsumexp and the backward pass
    /// recomputes the probabilities tile by tile. Elsewhere (the CPU backend) it is composed of matmul,
    /// softmax and matmul on the backend, and the backward pass reuses the saved probabilities.
    /// </para>
    /// </summary>
    public static Variable Attention(Variable q, Variable k, Variable v, Tensor? mask = null, bool causal = true)
    {
        const string op = "attention";
        if (q.Shape.Rank < 2 || k.Shape.Rank != q.Shape.Rank || v.Shape.Rank != q.Shape.Rank)
            throw new TensorShapeException(op, $"q {q.Shape}, k {k.Shape} and v {v.Shape} must have the same rank ≥ 2");
        int t = q.Shape[-2], d = q.Shape[-1], s = k.Shape[-2];
        if (k.Shape[-1] != d || v.Shape[-2] != s || !q.Shape.Dims[..^2].SequenceEqual(k.Shape.Dims[..^2]) || !q.Shape.Dims[..^2].SequenceEqual(v.Shape.Dims[..^2]))
            throw new TensorShapeException(op, $"q {q.Shape}, k {k.Shape} and v {v.Shape} do not fit [..., T, d], [..., S, d], [..., S, dv]");
        if (causal && s < t) throw new TensorShapeException(op, $"causal attention needs at least as many keys ({s}) as queries ({t})");
        if (Tensor.TryFusedAttention(q.Value, k.Value, v.Value, mask, causal, out var fusedO, out var lse))
        {
            return Record(op, fusedO, [q, k, v], g =>
            {
                var (dq, dk, dv) = Tensor.FusedAttentionBackward(q.Value, k.Value, v.Value, mask, causal, fusedO, lse, g);
                return [Keep(dq, q), Keep(dk, k), Keep(dv, v)];
            }, q.Value, k.Value, v.Value, fusedO, lse);
        }
        float scale = 1f / MathF.Sqrt(d);

        var scores = Tensor.Matmul(q.Value, k.Value, transB: true);
        scores.MulInPlace(scale);
        if (mask is not null) scores.AddInPlace(mask);
        if (causal)
        {
            using var blocked = CausalMask(t, s, scores.Device);
            scores.AddInPlace(blocked);
        }
        var p = scores.Softmax();
        scores.Dispose();
        var o = Tensor.Matmul(p, v.Value);
        return Record(op, o, [q, k, v], g =>
        {
            // dV = Pᵀ·dO;  dP = dO·Vᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P));  dQ = dS·K/√d;  dK = dSᵀ·Q/√d
            Tensor? dq = null, dk = null, dv = null;
            if (v.RequiresGrad) dv = Tensor.Matmul(p, g, transA: true);
            if (q.RequiresGrad || k.RequiresGrad)
            {
                using var dp = Tensor.Matmul(g, v.Value, transB: true);
                using var ds = Tensor.SoftmaxBackward(p, dp, log: false);
                ds.MulInPlace(scale);
                if (q.RequiresGrad) dq = Tensor.Matmul(ds, k.Value);
                if (k.RequiresGrad) dk = Tensor.Matmul(ds, q.Value, transA: true);
            }
            return [dq, dk, dv];
        }, q.Value, k.Value, v.Value, p);
    }

    /// <summary>The gradient for an input that wants one; disposed and dropped otherwise.</summary>
    static Tensor? Keep(Tensor gradient, Variable input)
    {
        if (input.RequiresGrad) return gradient;
        gradient.Dispose();
        return null;
    }

    /// <summary>[T, S] additive mask: 0 where query i may see key j (j ≤ i + S − T), −∞ elsewhere.</summary>
    public static Tensor CausalMask(int t, int s, Device? device = null)
    {
        var m = new float[t * s];
        for (int i = 0; i < t; i++)
            for (int j = i + (s - t) + 1; j < s; j++) m[i * s + j] = float.NegativeInfinity;
        return Tensor.FromArray(m, new Shape(t, s), device);
    }
}
