using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Engine.Simd;

namespace Engine.Cpu;

internal sealed unsafe partial class CpuBackend
{
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

    /// <inheritdoc/>
    public void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep h)
    {
        // Work items are (slot, block) pairs over every parameter, so both cores share the whole update.
        const int block = 1 << 14;
        var items = new List<(int Slot, int Start, int End)>();
        var ptrs = new (nint P, nint G, nint M, nint V)[slots.Length];
        for (int s = 0; s < slots.Length; s++)
        {
            var slot = slots[s];
            ptrs[s] = ((nint)Ptr(slot.Param), (nint)Ptr(slot.Grad), (nint)Ptr(slot.M), (nint)Ptr(slot.V));
            for (int i = 0; i < slot.Param.Numel; i += block) items.Add((s, i, Math.Min(i + block, slot.Param.Numel)));
        }
        CpuParallel.For(items.Count, 1, (start, end) =>
        {
            for (int w = start; w < end; w++)
            {
                var (s, i0, i1) = items[w];
                var (pp, gp, mp, vp) = ptrs[s];
                AdamWRange((float*)pp + i0, (float*)gp + i0, (float*)mp + i0, (float*)vp + i0, i1 - i0, h);
            }
        });
    }

    static void AdamWRange(float* p, float* g, float* m, float* v, int n, AdamWStep h)
    {
        if (VectorWidth.Bits == 512) AdamWRange<Simd512, Vector512<float>>(p, g, m, v, n, h);
        else if (VectorWidth.Bits == 256) AdamWRange<Simd256, Vector256<float>>(p, g, m, v, n, h);
        else AdamWRange<Simd128, Vector128<float>>(p, g, m, v, n, h);
    }

    // Plain multiplies and adds, no fusing, so that the vector body and the scalar tail round alike.
    static void AdamWRange<TSimd, TVector>(float* p, float* g, float* m, float* v, int n, AdamWStep h)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        float decay = 1f - h.Lr * h.WeightDecay, step = h.Lr / h.BiasCorrection1, invSqrtBc2 = 1f / MathF.Sqrt(h.BiasCorrection2);
        float b1 = h.Beta1, b2 = h.Beta2;
        int i = 0, w = TSimd.Count;
        TVector vb1 = TSimd.Broadcast(b1), vb2 = TSimd.Broadcast(b2), vb1c = TSimd.Broadcast(1f - b1), vb2c = TSimd.Broadcast(1f - b2);
        TVector vdecay = TSimd.Broadcast(decay), vstep = TSimd.Broadcast(step), vinv = TSimd.Broadcast(invSqrtBc2), veps = TSimd.Broadcast(h.Eps);
        for (; i <= n - w; i += w)
        {
            var gi = TSimd.Load(g + i);
            var mi = TSimd.Add(TSimd.Multiply(vb1, TSimd.Load(m + i)), TSimd.Multiply(vb1c, gi));
            var vi = TSimd.Add(TSimd.Multiply(vb2, TSimd.Load(v + i)), TSimd.Multiply(TSimd.Multiply(vb2c, gi), gi));
            TSimd.Store(mi, m + i);
            TSimd.Store(vi, v + i);
            var denom = TSimd.Add(TSimd.Multiply(TSimd.Sqrt(vi), vinv), veps);
            TSimd.Store(TSimd.Subtract(TSimd.Multiply(TSimd.Load(p + i), vdecay), TSimd.Divide(TSimd.Multiply(vstep, mi), denom)), p + i);
        }
        for (; i < n; i++)
        {
            float gi = g[i];
            float mi = b1 * m[i] + (1f - b1) * gi;
            float vi = b2 * v[i] + (1f - b2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * decay - step * mi / (MathF.Sqrt(vi) * invSqrtBc2 + h.Eps);
        }
    }
}
