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

    /// <summary>
    /// Layer norm over the last axis, fused forward and backward: (x − mean) / √(var + eps) · weight + bias, with the
    /// biased variance, weight and bias [C], as PyTorch's <c>layer_norm</c> over the last dimension.
    /// </summary>
    public static Variable LayerNorm(Variable x, Variable weight, Variable bias, float eps = 1e-5f)
    {
        var y = x.Value.LayerNorm(weight.Value, bias.Value, eps, out var mean, out var rstd);
        return RecordOwning("layer_norm", y, [x, weight, bias], g =>
        {
            var dw = Tensor.Zeros(weight.Shape, g.Device);
            var db = Tensor.Zeros(bias.Shape, g.Device);
            var dx = Tensor.LayerNormBackward(x.Value, weight.Value, mean, rstd, g, dw, db);
            return [dx, dw, db];
        }, [mean, rstd], x.Value, weight.Value, mean, rstd);
    }

    /// <summary>
    /// Rows of the [V, C] table picked by Int32 ids (PyTorch's <c>nn.Embedding</c> layout); the gradient is a scatter-add into the
    /// table. Ids are Int32, where PyTorch uses int64.
    /// </summary>
    public static Variable Embedding(Variable table, Tensor ids) =>
        Record("embedding", Tensor.Embedding(table.Value, ids), [table], g => [Tensor.EmbeddingScatterAdd(g, ids, table.Shape[0])], ids);

    /// <summary>
    /// Cross-entropy of [N, V] logits against Int32 targets, fused with its softmax: the backward pass is
    /// (softmax − onehot) scaled by the upstream gradient (and 1/count for the mean).
    /// </summary>
    public static Variable CrossEntropy(Variable logits, Tensor targets, int ignoreIndex = -100, LossReduction reduction = LossReduction.Mean)
    {
        if (reduction == LossReduction.None) throw new ArgumentException("cross_entropy: autograd supports the Mean and Sum reductions",
            nameof(reduction));
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
    /// Scaled dot-product attention under the causal mask (the default) or an additive <paramref name="mask"/> (a constant,
    /// broadcast to [..., T, S]), optionally also causal: <see cref="Attention(Variable, Variable, Variable, AttentionMask)"/>
    /// with <see cref="AttentionMask.Causal"/>, <see cref="AttentionMask.Full"/> or <see cref="AttentionMask.Additive"/>.
    /// </summary>
    public static Variable Attention(Variable q, Variable k, Variable v, Tensor? mask = null, bool causal = true) =>
        Attention(q, k, v, mask is not null ? AttentionMask.Additive(mask, causal) : causal ? AttentionMask.Causal : AttentionMask.Full);

    /// <summary>
    /// Scaled dot-product attention, the one entry point of every variant: softmax(q·kᵀ/√d + mask) · v over [..., T, d]
    /// queries, [..., S, d] keys and [..., S, dv] values, with the keys each query sees given by <paramref name="mask"/>.
    /// <para>
    /// Where the device's backend offers fused attention (e.g. the ILGPU kernels), the forward pass saves only the output
    /// and the per-row logsumexp and the backward pass recomputes the probabilities tile by tile. Where it walks trees
    /// (the CPU), a <see cref="AttentionMaskKind.Tree"/> mask costs the tree's query–key pairs; elsewhere a tree is
    /// attended under its dense mask, with the same result. Otherwise attention is composed of matmul, softmax and
    /// matmul on the backend, and the backward pass reuses the saved probabilities.
    /// </para>
    /// </summary>
    /// <remarks>
    /// Where this differs from PyTorch's <c>scaled_dot_product_attention</c>: masks are additive floats (0 or −∞), never
    /// booleans; and the causal mask is aligned to the last key (query i sees keys j ≤ i + S − T, so queries after a
    /// KV cache see the whole cache), where PyTorch's <c>is_causal</c> aligns to the first (j ≤ i). For S = T the two agree.
    /// </remarks>
    public static Variable Attention(Variable q, Variable k, Variable v, AttentionMask mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        switch (mask.Kind)
        {
            case AttentionMaskKind.Tree:
                return TreeAttention(q, k, v, mask);
            case AttentionMaskKind.SharedPrefix:
                if (GradMode.Enabled && (q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
                    throw new NotSupportedException(
                        "attention: the shared-prefix variant is for generation and has no backward pass; run it under GradMode.NoGrad()");
                return new Variable(SharedPrefixAttention(q.Value, k.Value, v.Value, mask.PrefixKeys!, mask.PrefixValues!));
            default:
                return DenseAttention(q, k, v, mask.AdditiveMask, mask.IsCausal);
        }
    }

    static Variable TreeAttention(Variable q, Variable k, Variable v, AttentionMask mask)
    {
        var tree = mask.TreeMask!;
        if (Tensor.TryTreeAttention(q.Value, k.Value, v.Value, tree, out var o, out var lse))
        {
            return RecordOwning("tree_attention", o, [q, k, v], g =>
            {
                var (dq, dk, dv) = Tensor.TreeAttentionBackward(q.Value, k.Value, v.Value, tree, o, lse, g);
                return [Keep(dq, q), Keep(dk, k), Keep(dv, v)];
            }, [lse], q.Value, k.Value, v.Value, o, lse);
        }
        return DenseAttention(q, k, v, mask.DenseTree(q.Value.Device), causal: false);
    }

    static Variable DenseAttention(Variable q, Variable k, Variable v, Tensor? mask, bool causal)
    {
        const string op = "attention";
        RequireAttentionShapes(q.Shape, k.Shape, v.Shape, causal);
        int t = q.Shape[-2], d = q.Shape[-1], s = k.Shape[-2];
        if (Tensor.TryFusedAttention(q.Value, k.Value, v.Value, mask, causal, out var fusedO, out var lse))
        {
            return RecordOwning(op, fusedO, [q, k, v], g =>
            {
                var (dq, dk, dv) = Tensor.FusedAttentionBackward(q.Value, k.Value, v.Value, mask, causal, fusedO, lse, g);
                return [Keep(dq, q), Keep(dk, k), Keep(dv, v)];
            }, [lse], q.Value, k.Value, v.Value, fusedO, lse);
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
        return RecordOwning(op, o, [q, k, v], g =>
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
        }, [p], q.Value, k.Value, v.Value, p);
    }

    static void RequireAttentionShapes(Shape q, Shape k, Shape v, bool causal)
    {
        const string op = "attention";
        if (q.Rank < 2 || k.Rank != q.Rank || v.Rank != q.Rank)
            throw new TensorShapeException(op, $"q {q}, k {k} and v {v} must have the same rank ≥ 2");
        int t = q[-2], d = q[-1], s = k[-2];
        if (k[-1] != d || v[-2] != s || !q.Dims[..^2].SequenceEqual(k.Dims[..^2]) || !q.Dims[..^2].SequenceEqual(v.Dims[..^2]))
            throw new TensorShapeException(op, $"q {q}, k {k} and v {v} do not fit [..., T, d], [..., S, d], [..., S, dv]");
        if (causal && s < t) throw new TensorShapeException(op, $"causal attention needs at least as many keys ({s}) as queries ({t})");
    }

    /// <summary>
    /// Queries q [G·R, H, T, D] over their group's prefix (keys and values [G, H, P, D]) and, causally, their own keys and
    /// values [G·R, H, S, D]. The prefix serves all R sequences of a group through one product per head.
    /// </summary>
    static Tensor SharedPrefixAttention(Tensor q, Tensor ownKeys, Tensor ownValues, Tensor prefixKeys, Tensor prefixValues)
    {
        const string op = "attention";
        RequireAttentionShapes(q.Shape, ownKeys.Shape, ownValues.Shape, causal: true);
        if (q.Rank != 4) throw new TensorShapeException(op, $"shared-prefix attention takes q [B, H, T, D], got {q.Shape}");
        int batch = q.Shape[0], heads = q.Shape[1], t = q.Shape[2], d = q.Shape[3], own = ownKeys.Shape[2];
        int groups = prefixKeys.Shape[0], p = prefixKeys.Shape[2];
        if (groups == 0 || batch % groups != 0 || prefixKeys.Shape[1] != heads || prefixKeys.Shape[3] != d || ownValues.Shape[3] != d
            || prefixValues.Shape != prefixKeys.Shape)
            throw new TensorShapeException(op,
                $"q {q.Shape} and own keys {ownKeys.Shape} do not fit the shared prefix keys {prefixKeys.Shape} and values {prefixValues.Shape}");
        int samples = batch / groups;

        // The queries of a group's samples, per head: [G·H, S·T, D] against the group's prefix [G·H, P, D].
        using var q5 = q.Reshape(groups, samples, heads, t, d);
        using var qh = q5.Permute(0, 2, 1, 3, 4);
        using var byHead = qh.Reshape(groups * heads, samples * t, d);
        using var pk = prefixKeys.Reshape(groups * heads, p, d);
        using var sharedScores = Tensor.Matmul(byHead, pk, transB: true);
        using var sharedScores5 = sharedScores.Reshape(groups, heads, samples, t, p);
        using var sharedScores5b = sharedScores5.Permute(0, 2, 1, 3, 4);
        using var sharedPart = sharedScores5b.Reshape(batch, heads, t, p);
        using var ownPart = Tensor.Matmul(q, ownKeys, transB: true);
        using var scores = Tensor.Concat(-1, sharedPart, ownPart);
        scores.MulInPlace(1f / MathF.Sqrt(d));
        if (t > 1)
        {
            // Aligned to the last key, the causal mask over prefix and own keys never blocks the prefix.
            using var blocked = CausalMask(t, p + own, q.Device);
            scores.AddInPlace(blocked);
        }
        using var probs = scores.Softmax();
        using var sharedProbs = probs.Slice(-1, 0, p);
        using var ownProbs = probs.Slice(-1, p, own);
        using var sp5 = sharedProbs.Reshape(groups, samples, heads, t, p);
        using var sp = sp5.Permute(0, 2, 1, 3, 4);
        using var spFlat = sp.Reshape(groups * heads, samples * t, p);
        using var pv = prefixValues.Reshape(groups * heads, p, d);
        using var sharedOut = Tensor.Matmul(spFlat, pv);
        using var sharedOut5 = sharedOut.Reshape(groups, heads, samples, t, d);
        using var sharedOut5b = sharedOut5.Permute(0, 2, 1, 3, 4);
        using var sharedOutB = sharedOut5b.Reshape(batch, heads, t, d);
        var o = Tensor.Matmul(ownProbs, ownValues);
        o.AddInPlace(sharedOutB);
        return o;
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
