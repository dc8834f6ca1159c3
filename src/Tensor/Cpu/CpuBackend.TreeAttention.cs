using System.Numerics.Tensors;

namespace Engine.Cpu;

public sealed unsafe partial class CpuBackend : ITreeAttention
{
    /// <inheritdoc/>
    public void TreeAttentionForward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, int batchHeads, float scale)
    {
        int n = tree.Length, d = q.Shape[-1], dv = v.Shape[-1];
        float* qp = Ptr(q), kp = Ptr(k), vp = Ptr(v), op = Ptr(o), lp = Ptr(lse);
        // One batch-head per work item: every row it writes belongs to it alone.
        CpuParallel.For(batchHeads, 1, (first, last) =>
        {
            var scores = new float[n];
            for (int bh = first; bh < last; bh++)
            {
                float* qh = qp + (long)bh * n * d, kh = kp + (long)bh * n * d, vh = vp + (long)bh * n * dv, oh = op + (long)bh * n * dv;
                for (int i = 0; i < n; i++)
                {
                    var qi = new ReadOnlySpan<float>(qh + (long)i * d, d);
                    var starts = tree.RunStarts(i);
                    var ends = tree.RunEnds(i);
                    int count = 0;
                    float max = float.NegativeInfinity;
                    for (int r = 0; r < starts.Length; r++)
                        for (int j = starts[r]; j < ends[r]; j++)
                        {
                            float s = scale * TensorPrimitives.Dot(qi, new ReadOnlySpan<float>(kh + (long)j * d, d));
                            scores[count++] = s;
                            max = MathF.Max(max, s);
                        }
                    var p = scores.AsSpan(0, count);
                    TensorPrimitives.Subtract(p, max, p);
                    TensorPrimitives.Exp(p, p);
                    float sum = TensorPrimitives.Sum(p);
                    var oi = new Span<float>(oh + (long)i * dv, dv);
                    oi.Clear();
                    count = 0;
                    for (int r = 0; r < starts.Length; r++)
                        for (int j = starts[r]; j < ends[r]; j++)
                            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vh + (long)j * dv, dv), p[count++] / sum, oi, oi);
                    lp[(long)bh * n + i] = max + MathF.Log(sum);
                }
            }
        });
    }

    /// <inheritdoc/>
    public void TreeAttentionBackward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv, int batchHeads, float scale)
    {
        int n = tree.Length, d = q.Shape[-1], dvDim = v.Shape[-1];
        float* qp = Ptr(q), kp = Ptr(k), vp = Ptr(v), op = Ptr(o), lp = Ptr(lse), gp = Ptr(dO);
        float* dqp = Ptr(dq), dkp = Ptr(dk), dvp = Ptr(dv);
        CpuParallel.For(batchHeads, 1, (first, last) =>
        {
            for (int bh = first; bh < last; bh++)
            {
                long qk = (long)bh * n * d, vo = (long)bh * n * dvDim;
                new Span<float>(dqp + qk, n * d).Clear();
                new Span<float>(dkp + qk, n * d).Clear();
                new Span<float>(dvp + vo, n * dvDim).Clear();
                for (int i = 0; i < n; i++)
                {
                    var qi = new ReadOnlySpan<float>(qp + qk + (long)i * d, d);
                    var gi = new ReadOnlySpan<float>(gp + vo + (long)i * dvDim, dvDim);
                    var dqi = new Span<float>(dqp + qk + (long)i * d, d);
                    float delta = TensorPrimitives.Dot(gi, new ReadOnlySpan<float>(op + vo + (long)i * dvDim, dvDim));
                    float rowLse = lp[(long)bh * n + i];
                    var starts = tree.RunStarts(i);
                    var ends = tree.RunEnds(i);
                    for (int r = 0; r < starts.Length; r++)
                        for (int j = starts[r]; j < ends[r]; j++)
                        {
                            var kj = new ReadOnlySpan<float>(kp + qk + (long)j * d, d);
                            var vj = new ReadOnlySpan<float>(vp + vo + (long)j * dvDim, dvDim);
                            float p = MathF.Exp(scale * TensorPrimitives.Dot(qi, kj) - rowLse);
                            var dvj = new Span<float>(dvp + vo + (long)j * dvDim, dvDim);
                            TensorPrimitives.MultiplyAdd(gi, p, dvj, dvj);
                            float ds = p * (TensorPrimitives.Dot(gi, vj) - delta) * scale;
                            TensorPrimitives.MultiplyAdd(kj, ds, dqi, dqi);
                            var dkj = new Span<float>(dkp + qk + (long)j * d, d);
                            TensorPrimitives.MultiplyAdd(qi, ds, dkj, dkj);
                        }
                }
            }
        });
    }
}
