using System.Numerics.Tensors;
using Engine.Ops;

namespace Engine.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Runs body(row) for each of <paramref name="rows"/> rows of <paramref name="cols"/> elements, over the cores.</summary>
    static void Rows(int rows, int cols, Action<int> body) =>
        CpuParallel.For(rows, Math.Max(1, ElementGrain / Math.Max(cols, 1) / 4), (start, end) =>
        {
            for (int r = start; r < end; r++) body(r);
        });

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, int rows, int cols, bool log)
    {
        float* xp = Ptr(x), yp = Ptr(y);
        Rows(rows, cols, r =>
        {
            var xs = new ReadOnlySpan<float>(xp + (long)r * cols, cols);
            var ys = new Span<float>(yp + (long)r * cols, cols);
            float max = TensorPrimitives.Max(xs);
            TensorPrimitives.Subtract(xs, max, ys);
            if (log)
            {
                // log-softmax = (x - max) - log Σ exp(x - max); the exponentials go through a scratch row.
                float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(cols);
                var e = scratch.AsSpan(0, cols);
                TensorPrimitives.Exp(ys, e);
                float lse = MathF.Log(TensorPrimitives.Sum(e));
                System.Buffers.ArrayPool<float>.Shared.Return(scratch);
                TensorPrimitives.Subtract(ys, lse, ys);
            }
            else
            {
                TensorPrimitives.Exp(ys, ys);
                TensorPrimitives.Multiply(ys, 1f / TensorPrimitives.Sum(ys), ys);
            }
        });
    }

    /// <inheritdoc/>
    public void LayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, float eps)
    {
        float* xp = Ptr(x), yp = Ptr(y), wp = Ptr(weight), bp = Ptr(bias), mp = Ptr(mean), sp = Ptr(rstd);
        Rows(rows, cols, r =>
        {
            var xs = new ReadOnlySpan<float>(xp + (long)r * cols, cols);
            var ys = new Span<float>(yp + (long)r * cols, cols);
            float m = TensorPrimitives.Sum(xs) / cols;
            TensorPrimitives.Subtract(xs, m, ys);
            float variance = TensorPrimitives.SumOfSquares(ys) / cols;
            float s = 1f / MathF.Sqrt(variance + eps);
            TensorPrimitives.Multiply(ys, s, ys);
            TensorPrimitives.FusedMultiplyAdd(ys, new ReadOnlySpan<float>(wp, cols), new ReadOnlySpan<float>(bp, cols), ys);
            mp[r] = m;
            sp[r] = s;
        });
    }

    /// <inheritdoc/>
    public void Gather(Tensor table, Tensor ids, Tensor y, int rows, int cols)
    {
        float* tp = Ptr(table), yp = Ptr(y);
        int* ip = (int*)Ptr(ids);
        Rows(rows, cols, r => new ReadOnlySpan<float>(tp + (long)ip[r] * cols, cols).CopyTo(new Span<float>(yp + (long)r * cols, cols)));
    }

    /// <inheritdoc/>
    public void ScatterAdd(Tensor src, Tensor ids, Tensor table, int rows, int cols)
    {
        float* sp = Ptr(src), tp = Ptr(table);
        int* ip = (int*)Ptr(ids);
        // Columns are split over the cores; within a column block rows are added in order, so the sum is deterministic.
        CpuParallel.For(cols, 64, (c0, c1) =>
        {
            for (int r = 0; r < rows; r++)
            {
                var dst = new Span<float>(tp + (long)ip[r] * cols + c0, c1 - c0);
                TensorPrimitives.Add(dst, new ReadOnlySpan<float>(sp + (long)r * cols + c0, c1 - c0), dst);
            }
        });
    }

    /// <inheritdoc/>
    public void CrossEntropy(Tensor logits, Tensor targets, Tensor losses, int rows, int cols, int ignoreIndex)
    {
        float* lp = Ptr(logits), op = Ptr(losses);
        int* tp = (int*)Ptr(targets);
        Rows(rows, cols, r =>
        {
            int t = tp[r];
            if (t == ignoreIndex)
            {
                op[r] = 0f;
                return;
            }
            var xs = new ReadOnlySpan<float>(lp + (long)r * cols, cols);
            float max = TensorPrimitives.Max(xs);
            float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(cols);
            var e = scratch.AsSpan(0, cols);
            TensorPrimitives.Subtract(xs, max, e);
            TensorPrimitives.Exp(e, e);
            double sum = TensorPrimitives.Sum(e);
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            op[r] = (float)(Math.Log(sum) + max - xs[t]);
        });
    }

    /// <inheritdoc/>
    public void BiasGelu(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        float* xp = Ptr(x), bp = Ptr(bias), yp = Ptr(y);
        Rows(rows, cols, r =>
        {
            var ys = new Span<float>(yp + (long)r * cols, cols);
            TensorPrimitives.Add(new ReadOnlySpan<float>(xp + (long)r * cols, cols), new ReadOnlySpan<float>(bp, cols), ys);
            Gelu.Apply(ys, ys);
        });
    }
}
