using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Engine.Ops;
using Engine.Simd;

namespace Engine.Cpu;

internal sealed unsafe partial class CpuBackend
{
    /// <summary>Runs body(row) for each of <paramref name="rows"/> rows of <paramref name="cols"/> elements, over the cores.</summary>
    static void Rows(int rows, int cols, Action<int> body) =>
        CpuParallel.For(rows, Math.Max(1, ElementGrain / Math.Max(cols, 1) / 4), (start, end) =>
        {
            for (int r = start; r < end; r++) body(r);
        });

    // ---- softmax --------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, int rows, int cols, bool log)
    {
        float* xp = Ptr(x), yp = Ptr(y);
        // Passes over one row that stays in L1 (max; exp; sum; scale) instead of five separate primitives.
        Rows(rows, cols, r =>
        {
            float* xr = xp + (long)r * cols, yr = yp + (long)r * cols;
            float max = TensorPrimitives.Max(new ReadOnlySpan<float>(xr, cols));
            var ys = new Span<float>(yr, cols);
            ExpShift(xr, yr, cols, max);
            float sum = VectorMath.Sum(yr, cols);
            // log-softmax = (x − max) − log Σ exp(x − max); the exponentials only pass through y.
            if (log) SubtractTwice(xr, yr, cols, max, MathF.Log(sum));
            else TensorPrimitives.Multiply(ys, 1f / sum, ys);
        });
    }

    /// <summary>y[i] = exp(x[i] − shift), the tail through one zero-padded vector.</summary>
    static void ExpShift(float* x, float* y, int n, float shift)
    {
        if (VectorWidth.Bits == 512) ExpShift<Simd512, Vector512<float>>(x, y, n, shift);
        else if (VectorWidth.Bits == 256) ExpShift<Simd256, Vector256<float>>(x, y, n, shift);
        else ExpShift<Simd128, Vector128<float>>(x, y, n, shift);
    }

    static void ExpShift<TSimd, TVector>(float* x, float* y, int n, float shift) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        var vs = TSimd.Broadcast(shift);
        for (; i <= n - w; i += w) TSimd.Store(TSimd.Exp(TSimd.Subtract(TSimd.Load(x + i), vs)), y + i);
        if (i == n) return;
        float* tail = stackalloc float[16];
        for (int j = 0; j < w; j++) tail[j] = i + j < n ? x[i + j] : shift;
        TSimd.Store(TSimd.Exp(TSimd.Subtract(TSimd.Load(tail), vs)), tail);
        new ReadOnlySpan<float>(tail, n - i).CopyTo(new Span<float>(y + i, n - i));
    }

    /// <summary>y[i] = (x[i] − a) − b, rounding after each subtraction.</summary>
    static void SubtractTwice(float* x, float* y, int n, float a, float b)
    {
        var ys = new Span<float>(y, n);
        TensorPrimitives.Subtract(new ReadOnlySpan<float>(x, n), a, ys);
        TensorPrimitives.Subtract(ys, b, ys);
    }

    /// <inheritdoc/>
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int cols, bool log)
    {
        float* yp = Ptr(y), gp = Ptr(dy), xp = Ptr(dx);
        Rows(rows, cols, r =>
        {
            var ys = new ReadOnlySpan<float>(yp + (long)r * cols, cols);
            var gs = new ReadOnlySpan<float>(gp + (long)r * cols, cols);
            var xs = new Span<float>(xp + (long)r * cols, cols);
            if (log)
            {
                // dx = dy − softmax · Σ dy, softmax = e^y
                float total = VectorMath.Sum(gs);
                TensorPrimitives.Exp(ys, xs);
                TensorPrimitives.MultiplyAdd(xs, -total, gs, xs);
            }
            else
            {
                // dx = y ⊙ (dy − ⟨dy, y⟩)
                float dot = VectorMath.Dot(ys, gs);
                TensorPrimitives.Subtract(gs, dot, xs);
                TensorPrimitives.Multiply(xs, ys, xs);
            }
        });
    }

    // ---- layer norm -----------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void LayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, float eps)
    {
        float* xp = Ptr(x), yp = Ptr(y), wp = Ptr(weight), bp = Ptr(bias), mp = Ptr(mean), sp = Ptr(rstd);
        // Passes over each row (sum; deviations, held in y; their squares; normalise, scale and shift), with the
        // same roundings as (x − m)·s then ·w + b in a fused multiply-add.
        Rows(rows, cols, r =>
        {
            float* xr = xp + (long)r * cols, yr = yp + (long)r * cols;
            float m = VectorMath.Sum(xr, cols) / cols;
            var ys = new Span<float>(yr, cols);
            TensorPrimitives.Subtract(new ReadOnlySpan<float>(xr, cols), m, ys);
            float s = 1f / MathF.Sqrt(VectorMath.Dot(yr, yr, cols) / cols + eps);
            if (VectorWidth.Bits == 512) NormalizeRow<Simd512, Vector512<float>>(yr, wp, bp, yr, cols, s);
            else if (VectorWidth.Bits == 256) NormalizeRow<Simd256, Vector256<float>>(yr, wp, bp, yr, cols, s);
            else NormalizeRow<Simd128, Vector128<float>>(yr, wp, bp, yr, cols, s);
            mp[r] = m;
            sp[r] = s;
        });
    }

    /// <summary>y[i] = fma(d[i]·s, w[i], b[i]) for the deviations d = x − mean.</summary>
    static void NormalizeRow<TSimd, TVector>(float* d, float* w, float* b, float* y, int n, float s)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int width = TSimd.Count, i = 0;
        var vs = TSimd.Broadcast(s);
        for (; i <= n - width; i += width)
            TSimd.Store(TSimd.MultiplyAdd(TSimd.Multiply(TSimd.Load(d + i), vs), TSimd.Load(w + i), TSimd.Load(b + i)), y + i);
        for (; i < n; i++) y[i] = TSimd.MultiplyAdd(d[i] * s, w[i], b[i]);
    }

    /// <summary>Rows per partial sum of the layer-norm parameter gradients.</summary>
    const int LayerNormChunkRows = 64;

    /// <inheritdoc/>
    public void LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight, Tensor dbias,
        int rows, int cols)
    {
        float* xp = Ptr(x), wp = Ptr(weight), mp = Ptr(mean), sp = Ptr(rstd), gp = Ptr(dy), dxp = Ptr(dx), dwp = Ptr(dweight), dbp = Ptr(dbias);
        // Each chunk of rows accumulates its own dweight/dbias; the chunks are then added in chunk order. The
        // chunks depend on the row count alone, so the bits are the same on every run and every core count.
        int chunks = (rows + LayerNormChunkRows - 1) / LayerNormChunkRows;
        var partial = new float[(long)chunks * 2 * cols];
        fixed (float* pp = partial)
        {
            float* part = pp;
            CpuParallel.For(chunks, 1, (first, last) =>
            {
                for (int ch = first; ch < last; ch++) LayerNormBackwardChunk(ch);
            });
            void LayerNormBackwardChunk(int ch)
            {
                int start = ch * LayerNormChunkRows, end = Math.Min(rows, start + LayerNormChunkRows);
                var pw = new Span<float>(part + (long)ch * 2 * cols, cols);
                var pb = new Span<float>(part + (long)ch * 2 * cols + cols, cols);
                var w = new ReadOnlySpan<float>(wp, cols);
                float[] rented = ArrayPool<float>.Shared.Rent(2 * cols);
                var xhat = rented.AsSpan(0, cols);
                var dxhat = rented.AsSpan(cols, cols);
                for (int r = start; r < end; r++)
                {
                    var xs = new ReadOnlySpan<float>(xp + (long)r * cols, cols);
                    var gs = new ReadOnlySpan<float>(gp + (long)r * cols, cols);
                    var ds = new Span<float>(dxp + (long)r * cols, cols);
                    float s = sp[r];
                    // x̂ = (x − μ)·s; dx̂ = dy ⊙ w; dx = s·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂))
                    TensorPrimitives.Subtract(xs, mp[r], xhat);
                    TensorPrimitives.Multiply(xhat, s, xhat);
                    TensorPrimitives.Multiply(gs, w, dxhat);
                    TensorPrimitives.Add(pb, gs, pb);
                    TensorPrimitives.MultiplyAdd(gs, xhat, pw, pw);
                    float meanD = VectorMath.Sum(dxhat) / cols;
                    float meanDX = VectorMath.Dot(dxhat, xhat) / cols;
                    TensorPrimitives.MultiplyAdd(xhat, -meanDX, dxhat, ds);
                    TensorPrimitives.Subtract(ds, meanD, ds);
                    TensorPrimitives.Multiply(ds, s, ds);
                }
                ArrayPool<float>.Shared.Return(rented);
            }
            var dw = new Span<float>(dwp, cols);
            var db = new Span<float>(dbp, cols);
            for (int ch = 0; ch < chunks; ch++)
            {
                TensorPrimitives.Add(dw, new ReadOnlySpan<float>(pp + (long)ch * 2 * cols, cols), dw);
                TensorPrimitives.Add(db, new ReadOnlySpan<float>(pp + (long)ch * 2 * cols + cols, cols), db);
            }
        }
    }

    // ---- embedding ------------------------------------------------------------------------------------

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

    // ---- cross-entropy --------------------------------------------------------------------------------

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
            double sum = VectorMath.Sum(e);
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            op[r] = (float)(Math.Log(sum) + max - xs[t]);
        });
    }

    /// <inheritdoc/>
    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dlogits, int rows, int cols, int ignoreIndex, float scale)
    {
        float* lp = Ptr(logits), dp = Ptr(dlogits);
        int* tp = (int*)Ptr(targets);
        Rows(rows, cols, r =>
        {
            var ds = new Span<float>(dp + (long)r * cols, cols);
            int t = tp[r];
            if (t == ignoreIndex)
            {
                ds.Clear();
                return;
            }
            var xs = new ReadOnlySpan<float>(lp + (long)r * cols, cols);
            TensorPrimitives.Subtract(xs, TensorPrimitives.Max(xs), ds);
            TensorPrimitives.Exp(ds, ds);
            TensorPrimitives.Multiply(ds, scale / VectorMath.Sum(ds), ds);
            ds[t] -= scale;
        });
    }

    // ---- bias + gelu (its backward is GeluGrad, an element-wise op) -----------------------------------

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
