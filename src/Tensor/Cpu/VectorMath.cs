using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Engine.Simd;

namespace Engine.Cpu;

/// <summary>
/// Width-agnostic loops of the CPU backend. Each entry point runs the generic body at
/// <see cref="VectorWidth.Bits"/>. Sums keep <see cref="Lanes"/> partial sums on every width (element i goes to
/// lane i mod 32) and fold them in one fixed tree, so a sum has the same bits at 512, 256 and 128 bits and
/// whatever the thread count; tails run through the same lane arithmetic as the vector body.
/// </summary>
static unsafe class VectorMath
{
    /// <summary>Partial sums per reduction: two 512-bit, four 256-bit or eight 128-bit accumulators.</summary>
    public const int Lanes = 32;

    /// <summary>y[i] = s·x[i] + y[i] (fused where the processor has FMA), for i &lt; n.</summary>
    public static void MultiplyAdd(float s, float* x, float* y, int n)
    {
        if (VectorWidth.Bits == 512) MultiplyAdd<Simd512, Vector512<float>>(s, x, y, n);
        else if (VectorWidth.Bits == 256) MultiplyAdd<Simd256, Vector256<float>>(s, x, y, n);
        else MultiplyAdd<Simd128, Vector128<float>>(s, x, y, n);
    }

    /// <summary>Σ x[i] for i &lt; n.</summary>
    public static float Sum(float* x, int n) => VectorWidth.Bits switch
    {
        512 => Sum<Simd512, Vector512<float>>(x, null, n),
        256 => Sum<Simd256, Vector256<float>>(x, null, n),
        _ => Sum<Simd128, Vector128<float>>(x, null, n),
    };

    /// <summary>Σ x[i]·y[i] for i &lt; n, each lane one chain of multiply-adds.</summary>
    public static float Dot(float* x, float* y, int n) => VectorWidth.Bits switch
    {
        512 => Sum<Simd512, Vector512<float>>(x, y, n),
        256 => Sum<Simd256, Vector256<float>>(x, y, n),
        _ => Sum<Simd128, Vector128<float>>(x, y, n),
    };

    /// <inheritdoc cref="Sum(float*, int)"/>
    public static float Sum(ReadOnlySpan<float> x)
    {
        fixed (float* p = x) return Sum(p, x.Length);
    }

    /// <inheritdoc cref="Dot(float*, float*, int)"/>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"dot: lengths {x.Length} and {y.Length} differ");
        fixed (float* px = x, py = y) return Dot(px, py, x.Length);
    }

    static void MultiplyAdd<TSimd, TVector>(float s, float* x, float* y, int n)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        var vs = TSimd.Broadcast(s);
        for (; i <= n - w; i += w) TSimd.Store(TSimd.MultiplyAdd(vs, TSimd.Load(x + i), TSimd.Load(y + i)), y + i);
        for (; i < n; i++) y[i] = TSimd.MultiplyAdd(s, x[i], y[i]);
    }

    /// <summary>Σ x[i] (y null) or Σ x[i]·y[i], over <see cref="Lanes"/> fixed partial sums.</summary>
    static float Sum<TSimd, TVector>(float* x, float* y, int n) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        bool dot = y != null;
        TVector s0 = TSimd.Zero, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        for (; i <= n - Lanes; i += Lanes)
        {
            float* xi = x + i, yi = y + i;
            s0 = Accumulate<TSimd, TVector>(s0, xi, yi, dot);
            s1 = Accumulate<TSimd, TVector>(s1, xi + w, yi + w, dot);
            if (w <= 8)
            {
                s2 = Accumulate<TSimd, TVector>(s2, xi + 2 * w, yi + 2 * w, dot);
                s3 = Accumulate<TSimd, TVector>(s3, xi + 3 * w, yi + 3 * w, dot);
            }
            if (w == 4)
            {
                s4 = Accumulate<TSimd, TVector>(s4, xi + 4 * w, yi + 4 * w, dot);
                s5 = Accumulate<TSimd, TVector>(s5, xi + 5 * w, yi + 5 * w, dot);
                s6 = Accumulate<TSimd, TVector>(s6, xi + 6 * w, yi + 6 * w, dot);
                s7 = Accumulate<TSimd, TVector>(s7, xi + 7 * w, yi + 7 * w, dot);
            }
        }
        float* lanes = stackalloc float[Lanes];
        TSimd.Store(s0, lanes);
        TSimd.Store(s1, lanes + w);
        if (w <= 8)
        {
            TSimd.Store(s2, lanes + 2 * w);
            TSimd.Store(s3, lanes + 3 * w);
        }
        if (w == 4)
        {
            TSimd.Store(s4, lanes + 4 * w);
            TSimd.Store(s5, lanes + 5 * w);
            TSimd.Store(s6, lanes + 6 * w);
            TSimd.Store(s7, lanes + 7 * w);
        }
        for (int j = 0; i + j < n; j++)
            lanes[j] = !dot ? lanes[j] + x[i + j] : TSimd.MultiplyAdd(x[i + j], y[i + j], lanes[j]);
        for (int half = Lanes / 2; half >= 1; half /= 2)
            for (int l = 0; l < half; l++) lanes[l] += lanes[l + half];
        return lanes[0];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVector Accumulate<TSimd, TVector>(TVector s, float* x, float* y, bool dot) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        dot ? TSimd.MultiplyAdd(TSimd.Load(x), TSimd.Load(y), s) : TSimd.Add(s, TSimd.Load(x));
}
