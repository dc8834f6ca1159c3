using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// The quarter of a head row (up to <see cref="AttentionFlash.MaxHead"/> = 64 floats, zero-padded) that one of the
/// <see cref="AttentionFlash.LanesPerRow"/> lanes of a row holds in registers: lane l keeps the 128-bit words l, l + 4,
/// l + 8 and l + 12, so the four lanes of a row read four consecutive words of a shared row (16 banks, no conflict).
/// A dot product adds the lane's 16 products and then the four partial sums across the lanes with two butterfly
/// shuffles; every lane of the row gets the same bits, in a fixed order. The helpers are unrolled by hand (ILGPU does not
/// unroll loops). Use them on locals only and inline: a struct whose address escapes would live in local memory.
/// </summary>
internal struct RowQuarter
{
    public Float4 W0, W1, W2, W3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot4(Float4 a, Float4 b) => a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;

    /// <summary>
    /// Σ_c row[c] · s[c] over the whole row, with s the 16 words from <paramref name="at"/> of a shared row. Every lane
    /// of the warp must call it together (it shuffles).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref RowQuarter r, ArrayView<Float4> s, int at, int lane)
    {
        at += lane;
        return SumOverRow((Dot4(r.W0, s[at]) + Dot4(r.W1, s[at + 4])) + (Dot4(r.W2, s[at + 8]) + Dot4(r.W3, s[at + 12])));
    }

    /// <summary>Σ_c a[c] · b[c] over the whole row, from two quarters in registers (every lane of the warp calls it together).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref RowQuarter a, ref RowQuarter b) =>
        SumOverRow((Dot4(a.W0, b.W0) + Dot4(a.W1, b.W1)) + (Dot4(a.W2, b.W2) + Dot4(a.W3, b.W3)));

    /// <summary>The sum of the four lanes' partial sums, in the same order in each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float SumOverRow(float partial)
    {
        float pair = partial + Warp.ShuffleXor(partial, 1);
        return pair + Warp.ShuffleXor(pair, 2);
    }

    /// <summary>row = row · alpha + p · s[at…], with s a shared row of 16 words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(ref RowQuarter r, float alpha, float p, ArrayView<Float4> s, int at, int lane)
    {
        at += lane;
        r.W0 = Mix(r.W0, alpha, p, s[at]);
        r.W1 = Mix(r.W1, alpha, p, s[at + 4]);
        r.W2 = Mix(r.W2, alpha, p, s[at + 8]);
        r.W3 = Mix(r.W3, alpha, p, s[at + 12]);
    }

    /// <summary>row += p · s[at…], with s a shared row of 16 words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(ref RowQuarter r, float p, ArrayView<Float4> s, int at, int lane)
    {
        at += lane;
        r.W0 = Float4.Fma(p, s[at], r.W0);
        r.W1 = Float4.Fma(p, s[at + 4], r.W1);
        r.W2 = Float4.Fma(p, s[at + 8], r.W2);
        r.W3 = Float4.Fma(p, s[at + 12], r.W3);
    }

    /// <summary>row = row · alpha + p · x, with x a quarter in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(ref RowQuarter r, float alpha, float p, ref RowQuarter x)
    {
        r.W0 = Mix(r.W0, alpha, p, x.W0);
        r.W1 = Mix(r.W1, alpha, p, x.W1);
        r.W2 = Mix(r.W2, alpha, p, x.W2);
        r.W3 = Mix(r.W3, alpha, p, x.W3);
    }

    /// <summary>row += p · x, with x a quarter in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(ref RowQuarter r, float p, ref RowQuarter x)
    {
        r.W0 = Float4.Fma(p, x.W0, r.W0);
        r.W1 = Float4.Fma(p, x.W1, r.W1);
        r.W2 = Float4.Fma(p, x.W2, r.W2);
        r.W3 = Float4.Fma(p, x.W3, r.W3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float4 Mix(Float4 acc, float alpha, float p, Float4 v) =>
        new(acc.X * alpha + p * v.X, acc.Y * alpha + p * v.Y, acc.Z * alpha + p * v.Z, acc.W * alpha + p * v.W);

    /// <summary>Loads the lane's quarter of x[at + c] · scale for c &lt; width, zero beyond (width ≤ 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowQuarter Load(ArrayView<float> x, long at, int width, float scale, int lane)
    {
        int c = 4 * lane;
        return new RowQuarter
        {
            W0 = Load4(x, at, c, width, scale),
            W1 = Load4(x, at, c + 16, width, scale),
            W2 = Load4(x, at, c + 32, width, scale),
            W3 = Load4(x, at, c + 48, width, scale),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float4 Load4(ArrayView<float> x, long at, int c, int width, float scale) => new(
        c < width ? x[at + c] * scale : 0f, c + 1 < width ? x[at + c + 1] * scale : 0f,
        c + 2 < width ? x[at + c + 2] * scale : 0f, c + 3 < width ? x[at + c + 3] * scale : 0f);

    /// <summary>Stores the lane's quarter of row[c] · scale to x[at + c] for c &lt; width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ref RowQuarter r, ArrayView<float> x, long at, int width, float scale, int lane)
    {
        int c = 4 * lane;
        Store4(r.W0, x, at, c, width, scale);
        Store4(r.W1, x, at, c + 16, width, scale);
        Store4(r.W2, x, at, c + 32, width, scale);
        Store4(r.W3, x, at, c + 48, width, scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(Float4 v, ArrayView<float> x, long at, int c, int width, float scale)
    {
        if (c < width) x[at + c] = v.X * scale;
        if (c + 1 < width) x[at + c + 1] = v.Y * scale;
        if (c + 2 < width) x[at + c + 2] = v.Z * scale;
        if (c + 3 < width) x[at + c + 3] = v.W * scale;
    }
}
