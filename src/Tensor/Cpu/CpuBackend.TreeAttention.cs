using System.Numerics.Tensors;

namespace Engine.Cpu;

/// <summary>
/// Tree attention in two parts per batch-head: every query against the shared trunk (<see cref="TreeMask.Trunk"/>)
/// as matrix products, causal inside the trunk; then each query's remaining ancestors one key at a time. The
/// work is N·Trunk + the pairs off the trunk: proportional to the tree, not to N².
/// </summary>
internal sealed unsafe partial class CpuBackend : ITreeAttention
{
    /// <inheritdoc/>
    public bool SupportsTreeAttention(int d, int dv) => true;

    /// <inheritdoc/>
    public void TreeAttentionForward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, int batchHeads, float scale)
    {
        int n = tree.Length, d = q.Shape[-1], dv = v.Shape[-1], trunk = tree.Trunk;
        float* qp = Ptr(q), kp = Ptr(k), vp = Ptr(v), op = Ptr(o), lp = Ptr(lse);
        // One batch-head per work item: every row it writes belongs to it alone.
        CpuParallel.For(batchHeads, 1, (first, last) =>
        {
            var shared = new float[(long)n * trunk];
            var own = new float[n];
            fixed (float* sp = shared)
                for (int bh = first; bh < last; bh++)
                {
                    float* qh = qp + (long)bh * n * d, kh = kp + (long)bh * n * d, vh = vp + (long)bh * n * dv, oh = op + (long)bh * n * dv;
                    TrunkScores(qh, kh, sp, n, trunk, d, scale);
                    for (int i = 0; i < n; i++)
                    {
                        var qi = new ReadOnlySpan<float>(qh + (long)i * d, d);
                        var row = new Span<float>(sp + (long)i * trunk, trunk);
                        float max = trunk > 0 ? TensorPrimitives.Max<float>(row) : float.NegativeInfinity;
                        var starts = tree.RunStarts(i);
                        var ends = tree.RunEnds(i);
                        int count = 0;
                        for (int r = 0; r < starts.Length; r++)
                            for (int j = Math.Max(starts[r], trunk); j < ends[r]; j++)
                            {
                                float s = scale * VectorMath.Dot(qi, new ReadOnlySpan<float>(kh + (long)j * d, d));
                                own[count++] = s;
                                max = MathF.Max(max, s);
                            }
                        var p = own.AsSpan(0, count);
                        TensorPrimitives.Subtract(row, max, row);
                        TensorPrimitives.Exp(row, row);
                        TensorPrimitives.Subtract(p, max, p);
                        TensorPrimitives.Exp(p, p);
                        float sum = VectorMath.Sum(row) + VectorMath.Sum(p);
                        TensorPrimitives.Divide(row, sum, row);
                        TensorPrimitives.Divide(p, sum, p);
                        var oi = new Span<float>(oh + (long)i * dv, dv);
                        oi.Clear();
                        count = 0;
                        for (int r = 0; r < starts.Length; r++)
                            for (int j = Math.Max(starts[r], trunk); j < ends[r]; j++)
                                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vh + (long)j * dv, dv), p[count++], oi, oi);
                        lp[(long)bh * n + i] = max + MathF.Log(sum);
                    }
                    // O += P_trunk · V_trunk
                    if (trunk > 0) Gemm.Multiply(sp, false, vh, false, oh, n, dv, trunk, accumulate: true, parallel: false);
                }
        });
    }

    /// <inheritdoc/>
    public void TreeAttentionBackward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv,
        int batchHeads, float scale)
    {
        int n = tree.Length, d = q.Shape[-1], dvDim = v.Shape[-1], trunk = tree.Trunk;
        float* qp = Ptr(q), kp = Ptr(k), vp = Ptr(v), op = Ptr(o), lp = Ptr(lse), gp = Ptr(dO);
        float* dqp = Ptr(dq), dkp = Ptr(dk), dvp = Ptr(dv);
        CpuParallel.For(batchHeads, 1, (first, last) =>
        {
            var probs = new float[(long)n * trunk];
            var grads = new float[(long)n * trunk];
            var delta = new float[n];
            fixed (float* pp = probs, gsp = grads)
                for (int bh = first; bh < last; bh++)
                {
                    long qk = (long)bh * n * d, vo = (long)bh * n * dvDim;
                    float* qh = qp + qk, kh = kp + qk, vh = vp + vo, oh = op + vo, gh = gp + vo, lh = lp + (long)bh * n;
                    float* dqh = dqp + qk, dkh = dkp + qk, dvh = dvp + vo;
                    new Span<float>(dkh, n * d).Clear();
                    new Span<float>(dvh, n * dvDim).Clear();
                    for (int i = 0; i < n; i++)
                        delta[i] = VectorMath.Dot(gh + (long)i * dvDim, oh + (long)i * dvDim, dvDim);
                    if (trunk > 0)
                    {
                        // P = exp(S − lse), dP = dO·V_trunkᵀ, dS = P ⊙ (dP − delta)·scale; then the three products.
                        TrunkScores(qh, kh, pp, n, trunk, d, scale);
                        Gemm.Multiply(gh, false, vh, true, gsp, n, trunk, dvDim, accumulate: false, parallel: false);
                        for (int i = 0; i < n; i++)
                        {
                            var p = new Span<float>(pp + (long)i * trunk, trunk);
                            var g = new Span<float>(gsp + (long)i * trunk, trunk);
                            TensorPrimitives.Subtract(p, lh[i], p);
                            TensorPrimitives.Exp(p, p);
                            TensorPrimitives.Subtract(g, delta[i], g);
                            TensorPrimitives.Multiply(g, p, g);
                            TensorPrimitives.Multiply(g, scale, g);
                        }
                        Gemm.Multiply(pp, true, gh, false, dvh, trunk, dvDim, n, accumulate: false, parallel: false);
                        Gemm.Multiply(gsp, false, kh, false, dqh, n, d, trunk, accumulate: false, parallel: false);
                        Gemm.Multiply(gsp, true, qh, false, dkh, trunk, d, n, accumulate: false, parallel: false);
                    }
                    else new Span<float>(dqh, n * d).Clear();
                    for (int i = 0; i < n; i++)
                    {
                        var qi = new ReadOnlySpan<float>(qh + (long)i * d, d);
                        var gi = new ReadOnlySpan<float>(gh + (long)i * dvDim, dvDim);
                        var dqi = new Span<float>(dqh + (long)i * d, d);
                        var starts = tree.RunStarts(i);
                        var ends = tree.RunEnds(i);
                        for (int r = 0; r < starts.Length; r++)
                            for (int j = Math.Max(starts[r], trunk); j < ends[r]; j++)
                            {
                                var kj = new ReadOnlySpan<float>(kh + (long)j * d, d);
                                float p = MathF.Exp(scale * VectorMath.Dot(qi, kj) - lh[i]);
                                var dvj = new Span<float>(dvh + (long)j * dvDim, dvDim);
                                TensorPrimitives.MultiplyAdd(gi, p, dvj, dvj);
                                float ds = p * (VectorMath.Dot(gi, new ReadOnlySpan<float>(vh + (long)j * dvDim, dvDim)) - delta[i]) * scale;
                                TensorPrimitives.MultiplyAdd(kj, ds, dqi, dqi);
                                var dkj = new Span<float>(dkh + (long)j * d, d);
                                TensorPrimitives.MultiplyAdd(qi, ds, dkj, dkj);
                            }
                    }
                }
        });
    }

    /// <summary>s[i, j] = scale·q_i·k_j for every query and trunk key j, −∞ where a trunk query would look ahead.</summary>
    static void TrunkScores(float* q, float* k, float* s, int n, int trunk, int d, float scale)
    {
        if (trunk == 0) return;
        Gemm.Multiply(q, false, k, true, s, n, trunk, d, accumulate: false, parallel: false);
        TensorPrimitives.Multiply(new Span<float>(s, n * trunk), scale, new Span<float>(s, n * trunk));
        for (int i = 0; i + 1 < trunk; i++) new Span<float>(s + (long)i * trunk + i + 1, trunk - i - 1).Fill(float.NegativeInfinity);
    }
}
