using System.Numerics.Tensors;

namespace Engine.Cpu;

internal sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// Runs <paramref name="row"/> (for inner = 1: one contiguous run per output) or
    /// <paramref name="columns"/> (for inner &gt; 1: vector-wise over the inner axis) for every outer index.
    /// </summary>
    static void Reduce(Tensor x, Tensor y, Reduction r, Action<nint, nint> row, Action<nint, nint, int> columns)
    {
        float* xp = Ptr(x), yp = Ptr(y);
        if (r.Inner == 1)
        {
            CpuParallel.For(r.Outer, Math.Max(1, ElementGrain / Math.Max(r.Length, 1)), (start, end) =>
            {
                for (int o = start; o < end; o++) row((nint)(xp + (long)o * r.Length), (nint)(yp + o));
            });
            return;
        }
        CpuParallel.For(r.Outer, Math.Max(1, ElementGrain / Math.Max(r.Length * r.Inner, 1)), (start, end) =>
        {
            for (int o = start; o < end; o++) columns((nint)(xp + (long)o * r.Length * r.Inner), (nint)(yp + (long)o * r.Inner), r.Inner);
        });
    }

    /// <inheritdoc/>
    public void Sum(Tensor x, Tensor y, Reduction r, float scale)
    {
        int n = r.Length;
        Reduce(x, y, r,
            (xs, ys) => *(float*)ys = VectorMath.Sum(new ReadOnlySpan<float>((float*)xs, n)) * scale,
            (xs, ys, inner) =>
            {
                var acc = new Span<float>((float*)ys, inner);
                acc.Clear();
                for (int j = 0; j < n; j++) TensorPrimitives.Add(acc, new ReadOnlySpan<float>((float*)xs + (long)j * inner, inner), acc);
                if (scale != 1f) TensorPrimitives.Multiply(acc, scale, acc);
            });
    }

    /// <inheritdoc/>
    public void Max(Tensor x, Tensor y, Reduction r)
    {
        int n = r.Length;
        Reduce(x, y, r,
            (xs, ys) => *(float*)ys = TensorPrimitives.Max(new ReadOnlySpan<float>((float*)xs, n)),
            (xs, ys, inner) =>
            {
                var acc = new Span<float>((float*)ys, inner);
                new ReadOnlySpan<float>((float*)xs, inner).CopyTo(acc);
                for (int j = 1; j < n; j++) TensorPrimitives.Max(acc, new ReadOnlySpan<float>((float*)xs + (long)j * inner, inner), acc);
            });
    }

    /// <inheritdoc/>
    public void ArgMax(Tensor x, Tensor y, Reduction r)
    {
        int n = r.Length;
        Reduce(x, y, r,
            (xs, ys) => *(int*)ys = FirstMax((float*)xs, n, 1),
            (xs, ys, inner) =>
            {
                for (int i = 0; i < inner; i++) ((int*)ys)[i] = FirstMax((float*)xs + i, n, inner);
            });
    }

    /// <summary>Index of the first maximum (the first NaN, if any, as NaN is the maximum under NaN propagation).</summary>
    static int FirstMax(float* x, int n, int stride)
    {
        int best = 0;
        float v = x[0];
        if (float.IsNaN(v)) return 0;
        for (int j = 1; j < n; j++)
        {
            float c = x[(long)j * stride];
            if (float.IsNaN(c)) return j;
            if (c > v)
            {
                v = c;
                best = j;
            }
        }
        return best;
    }
}
