using Engine.Ops;
using Engine.Random;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Element-wise kernels. Every kernel is explicitly grouped and walks its elements with a grid-stride loop,
/// so one launch shape serves any length (and ILGPU's CPU accelerator runs few, busy groups).
/// </summary>
static class ElementwiseKernels
{
    /// <summary>The grid-stride step: the number of threads in the launch.</summary>
    static int Step => Grid.DimX * Group.DimX;

    /// <summary>y[i] = value.</summary>
    internal static void Fill(ArrayView<float> y, int n, float value)
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) y[i] = value;
    }

    /// <summary>dst[DstOffset + Σ idx·Dst] = src[SrcOffset + Σ idx·Src] over every index of the shape.</summary>
    internal static void CopyStrided(ArrayView<float> src, ArrayView<float> dst, CopyArgs p)
    {
        for (int e = Grid.GlobalIndex.X; e < p.Count; e += Step)
        {
            int rem = e, s = p.SrcOffset, d = p.DstOffset;
            for (int k = p.Rank - 1; k >= 0; k--)
            {
                int n = p.Shape.Get(k), idx = rem % n;
                rem /= n;
                s += idx * p.Src.Get(k);
                d += idx * p.Dst.Get(k);
            }
            dst[d] = src[s];
        }
    }

    /// <summary>y[i] = TOp.Apply(x[i]): the op's static abstract member compiles straight into the kernel.</summary>
    internal static void Unary<TOp>(ArrayView<float> x, ArrayView<float> y, int n) where TOp : struct, IUnaryOp
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) y[i] = TOp.Apply(x[i]);
    }

    /// <summary>y[e] = TOp.Apply(a[·], b[·]) over a broadcast; y is contiguous.</summary>
    internal static void Binary<TOp>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, BroadcastArgs p) where TOp : struct, IBinaryOp
    {
        for (int e = Grid.GlobalIndex.X; e < p.Count; e += Step)
        {
            int rem = e, oa = 0, ob = 0;
            for (int k = p.Rank - 1; k >= 0; k--)
            {
                int n = p.Shape.Get(k), idx = rem % n;
                rem /= n;
                oa += idx * p.S0.Get(k);
                ob += idx * p.S1.Get(k);
            }
            y[e] = TOp.Apply(a[oa], b[ob]);
        }
    }

    /// <summary>y[e] = cond[·] ≠ 0 ? a[·] : b[·] over a broadcast.</summary>
    internal static void Where(ArrayView<float> cond, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, BroadcastArgs p)
    {
        for (int e = Grid.GlobalIndex.X; e < p.Count; e += Step)
        {
            int rem = e, oc = 0, oa = 0, ob = 0;
            for (int k = p.Rank - 1; k >= 0; k--)
            {
                int n = p.Shape.Get(k), idx = rem % n;
                rem /= n;
                oc += idx * p.S0.Get(k);
                oa += idx * p.S1.Get(k);
                ob += idx * p.S2.Get(k);
            }
            y[e] = cond[oc] != 0f ? a[oa] : b[ob];
        }
    }

    /// <summary>y[i] = gelu(x[i] + bias[i mod cols]).</summary>
    internal static void BiasGelu(ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, int n, int cols)
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) y[i] = Gelu.Apply(x[i] + bias[i % cols]);
    }

    /// <summary>y[r, c] = table[ids[r], c].</summary>
    internal static void Gather(ArrayView<float> table, ArrayView<int> ids, ArrayView<float> y, int rows, int cols)
    {
        int n = rows * cols;
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            int r = i / cols, c = i - r * cols;
            y[i] = table[ids[r] * cols + c];
        }
    }

    /// <summary>
    /// table[id] += Σ src[r] over the rows r whose id it is, one thread per (id, column): the rows come grouped by id
    /// (<paramref name="order"/>, with <paramref name="starts"/> the first of each of the <paramref name="segments"/> ids
    /// in <paramref name="unique"/>), each id's in ascending row order. Every element is one chain of additions in the
    /// CPU backend's order, so the bits match it and nothing needs atomics.
    /// </summary>
    internal static void ScatterAdd(ArrayView<float> src, ArrayView<int> order, ArrayView<int> starts, ArrayView<int> unique, ArrayView<float> table,
        int segments, int cols)
    {
        for (long i = Grid.GlobalIndex.X; i < (long)segments * cols; i += Step)
        {
            int segment = (int)(i / cols), c = (int)(i % cols);
            long at = (long)unique[segment] * cols + c;
            float sum = table[at];
            for (int k = starts[segment]; k < starts[segment + 1]; k++) sum += src[(long)order[k] * cols + c];
            table[at] = sum;
        }
    }

    /// <summary>y[i] = Philox element (seed, offset + i), uniform or normal: the CPU backend's function, compiled for the device.</summary>
    internal static void Random(ArrayView<float> y, int n, int normal, ulong seed, ulong offset)
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
            y[i] = normal != 0 ? Philox.Normal(seed, offset + (ulong)i) : Philox.Uniform(seed, offset + (ulong)i);
    }

    /// <summary>One fused AdamW update of a parameter, its gradient and both moments.</summary>
    internal static void AdamW(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, int n, AdamWArgs h)
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            float gi = g[i];
            float mi = h.Beta1 * m[i] + (1f - h.Beta1) * gi;
            float vi = h.Beta2 * v[i] + (1f - h.Beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * h.Decay - h.Step * mi / (MathF.Sqrt(vi) * h.InvSqrtBc2 + h.Eps);
        }
    }
}

/// <summary>The scalars of an AdamW step, precomputed on the host as the CPU backend does.</summary>
struct AdamWArgs
{
    public float Beta1, Beta2, Eps, Decay, Step, InvSqrtBc2;
}
