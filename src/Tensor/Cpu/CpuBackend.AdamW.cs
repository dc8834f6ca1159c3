using System.Runtime.Intrinsics;
using Engine.Simd;

namespace Engine.Cpu;

internal sealed unsafe partial class CpuBackend
{
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
