using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
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
        // Three passes over each row (max; exp and sum; scale) instead of five separate primitives:
        // the row stays in L1, so the passes, not the memory traffic, bound the time.
        Rows(rows, cols, r =>
        {
            float* xr = xp + (long)r * cols, yr = yp + (long)r * cols;
            float max = TensorPrimitives.Max(new ReadOnlySpan<float>(xr, cols));
            if (log)
            {
                // log-softmax = (x − max) − log Σ exp(x − max); the exponentials are summed, not stored.
                float lse = MathF.Log(ExpShiftSum(xr, null, cols, max));
                SubtractTwice(xr, yr, cols, max, lse);
            }
            else
            {
                float sum = ExpShiftSum(xr, yr, cols, max);
                var ys = new Span<float>(yr, cols);
                TensorPrimitives.Multiply(ys, 1f / sum, ys);
            }
        });
    }

    /// <summary>Σ exp(x[i] − shift), also storing each term in y unless y is null.</summary>
    static float ExpShiftSum(float* x, float* y, int n, float shift)
    {
        int w = Vector512<float>.Count, i = 0;
        var vs = Vector512.Create(shift);
        var acc = Vector512<float>.Zero;
        for (; i <= n - w; i += w)
        {
            var e = Vector512.Exp(Vector512.Load(x + i) - vs);
            if (y != null) e.Store(y + i);
            acc += e;
        }
        float sum = Vector512.Sum(acc);
        for (; i < n; i++)
        {
            float e = MathF.Exp(x[i] - shift);
            if (y != null) y[i] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>y[i] = (x[i] − a) − b, rounding after each subtraction.</summary>
    static void SubtractTwice(float* x, float* y, int n, float a, float b)
    {
        int w = Vector512<float>.Count, i = 0;
        Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
        for (; i <= n - w; i += w) (Vector512.Load(x + i) - va - vb).Store(y + i);
        for (; i < n; i++) y[i] = x[i] - a - b;
    }

    /// <inheritdoc/>
    public void LayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, float eps)
    {
        float* xp = Ptr(x), yp = Ptr(y), wp = Ptr(weight), bp = Ptr(bias), mp = Ptr(mean), sp = Ptr(rstd);
        // Three passes over each row (sum; squared deviations; normalise, scale and shift) and one write,
        // with the same roundings as (x − m)·s then ·w + b in a fused multiply-add.
        Rows(rows, cols, r =>
        {
            float* xr = xp + (long)r * cols, yr = yp + (long)r * cols;
            float m = TensorPrimitives.Sum(new ReadOnlySpan<float>(xr, cols)) / cols;
            int w = Vector512<float>.Count, i = 0;
            var vm = Vector512.Create(m);
            var acc = Vector512<float>.Zero;
            for (; i <= cols - w; i += w)
            {
                var d = Vector512.Load(xr + i) - vm;
                acc = Vector512.FusedMultiplyAdd(d, d, acc);
            }
            float sq = Vector512.Sum(acc);
            for (; i < cols; i++) sq += (xr[i] - m) * (xr[i] - m);
            float s = 1f / MathF.Sqrt(sq / cols + eps);
            var vs = Vector512.Create(s);
            for (i = 0; i <= cols - w; i += w)
                Vector512.FusedMultiplyAdd((Vector512.Load(xr + i) - vm) * vs, Vector512.Load(wp + i), Vector512.Load(bp + i)).Store(yr + i);
            for (; i < cols; i++) yr[i] = MathF.FusedMultiplyAdd((xr[i] - m) * s, wp[i], bp[i]);
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
