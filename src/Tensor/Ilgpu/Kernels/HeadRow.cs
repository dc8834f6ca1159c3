using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// One row of a head (up to <see cref="AttentionFlash.MaxHead"/> = 64 floats) held in registers as 16
/// <see cref="Float4"/> fields; narrower heads are zero-padded. The helpers are unrolled by hand (ILGPU does
/// not unroll loops) and read their shared-memory operand as 128-bit words. Use them on locals only and
/// inline: a struct whose address escapes would live in local memory.
/// </summary>
internal struct HeadRow
{
    public Float4 C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15;

    /// <summary>a · b over four lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot4(Float4 a, Float4 b) => a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;

    /// <summary>Σ_c row[c] · s[c], with s the 16 words from <paramref name="at"/> of a shared row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref HeadRow r, ArrayView<Float4> s, int at)
    {
        float x0 = Dot4(r.C0, s[at]) + Dot4(r.C1, s[at + 1]) + Dot4(r.C2, s[at + 2]) + Dot4(r.C3, s[at + 3]);
        float x1 = Dot4(r.C4, s[at + 4]) + Dot4(r.C5, s[at + 5]) + Dot4(r.C6, s[at + 6]) + Dot4(r.C7, s[at + 7]);
        float x2 = Dot4(r.C8, s[at + 8]) + Dot4(r.C9, s[at + 9]) + Dot4(r.C10, s[at + 10]) + Dot4(r.C11, s[at + 11]);
        float x3 = Dot4(r.C12, s[at + 12]) + Dot4(r.C13, s[at + 13]) + Dot4(r.C14, s[at + 14]) + Dot4(r.C15, s[at + 15]);
        return (x0 + x1) + (x2 + x3);
    }

    /// <summary>row = row · alpha + p · s[at…], with s a shared row of 16 words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(ref HeadRow r, float alpha, float p, ArrayView<Float4> s, int at)
    {
        r.C0 = Mix(r.C0, alpha, p, s[at]); r.C1 = Mix(r.C1, alpha, p, s[at + 1]);
        r.C2 = Mix(r.C2, alpha, p, s[at + 2]); r.C3 = Mix(r.C3, alpha, p, s[at + 3]);
        r.C4 = Mix(r.C4, alpha, p, s[at + 4]); r.C5 = Mix(r.C5, alpha, p, s[at + 5]);
        r.C6 = Mix(r.C6, alpha, p, s[at + 6]); r.C7 = Mix(r.C7, alpha, p, s[at + 7]);
        r.C8 = Mix(r.C8, alpha, p, s[at + 8]); r.C9 = Mix(r.C9, alpha, p, s[at + 9]);
        r.C10 = Mix(r.C10, alpha, p, s[at + 10]); r.C11 = Mix(r.C11, alpha, p, s[at + 11]);
        r.C12 = Mix(r.C12, alpha, p, s[at + 12]); r.C13 = Mix(r.C13, alpha, p, s[at + 13]);
        r.C14 = Mix(r.C14, alpha, p, s[at + 14]); r.C15 = Mix(r.C15, alpha, p, s[at + 15]);
    }

    /// <summary>row += p · s[at…], with s a shared row of 16 words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(ref HeadRow r, float p, ArrayView<Float4> s, int at)
    {
        r.C0 = Float4.Fma(p, s[at], r.C0); r.C1 = Float4.Fma(p, s[at + 1], r.C1);
        r.C2 = Float4.Fma(p, s[at + 2], r.C2); r.C3 = Float4.Fma(p, s[at + 3], r.C3);
        r.C4 = Float4.Fma(p, s[at + 4], r.C4); r.C5 = Float4.Fma(p, s[at + 5], r.C5);
        r.C6 = Float4.Fma(p, s[at + 6], r.C6); r.C7 = Float4.Fma(p, s[at + 7], r.C7);
        r.C8 = Float4.Fma(p, s[at + 8], r.C8); r.C9 = Float4.Fma(p, s[at + 9], r.C9);
        r.C10 = Float4.Fma(p, s[at + 10], r.C10); r.C11 = Float4.Fma(p, s[at + 11], r.C11);
        r.C12 = Float4.Fma(p, s[at + 12], r.C12); r.C13 = Float4.Fma(p, s[at + 13], r.C13);
        r.C14 = Float4.Fma(p, s[at + 14], r.C14); r.C15 = Float4.Fma(p, s[at + 15], r.C15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float4 Mix(Float4 acc, float alpha, float p, Float4 v) =>
        new(acc.X * alpha + p * v.X, acc.Y * alpha + p * v.Y, acc.Z * alpha + p * v.Z, acc.W * alpha + p * v.W);

    /// <summary>Loads x[at + c] · scale for c &lt; width, zero beyond (width ≤ 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static HeadRow Load(ArrayView<float> x, long at, int width, float scale)
    {
        var r = default(HeadRow);
        r.C0 = Load4(x, at, 0, width, scale); r.C1 = Load4(x, at, 4, width, scale);
        r.C2 = Load4(x, at, 8, width, scale); r.C3 = Load4(x, at, 12, width, scale);
        r.C4 = Load4(x, at, 16, width, scale); r.C5 = Load4(x, at, 20, width, scale);
        r.C6 = Load4(x, at, 24, width, scale); r.C7 = Load4(x, at, 28, width, scale);
        r.C8 = Load4(x, at, 32, width, scale); r.C9 = Load4(x, at, 36, width, scale);
        r.C10 = Load4(x, at, 40, width, scale); r.C11 = Load4(x, at, 44, width, scale);
        r.C12 = Load4(x, at, 48, width, scale); r.C13 = Load4(x, at, 52, width, scale);
        r.C14 = Load4(x, at, 56, width, scale); r.C15 = Load4(x, at, 60, width, scale);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float4 Load4(ArrayView<float> x, long at, int c, int width, float scale) => new(
        c < width ? x[at + c] * scale : 0f, c + 1 < width ? x[at + c + 1] * scale : 0f,
        c + 2 < width ? x[at + c + 2] * scale : 0f, c + 3 < width ? x[at + c + 3] * scale : 0f);

    /// <summary>Stores row[c] · scale to x[at + c] for c &lt; width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ref HeadRow r, ArrayView<float> x, long at, int width, float scale)
    {
        Store4(r.C0, x, at, 0, width, scale); Store4(r.C1, x, at, 4, width, scale);
        Store4(r.C2, x, at, 8, width, scale); Store4(r.C3, x, at, 12, width, scale);
        Store4(r.C4, x, at, 16, width, scale); Store4(r.C5, x, at, 20, width, scale);
        Store4(r.C6, x, at, 24, width, scale); Store4(r.C7, x, at, 28, width, scale);
        Store4(r.C8, x, at, 32, width, scale); Store4(r.C9, x, at, 36, width, scale);
        Store4(r.C10, x, at, 40, width, scale); Store4(r.C11, x, at, 44, width, scale);
        Store4(r.C12, x, at, 48, width, scale); Store4(r.C13, x, at, 52, width, scale);
        Store4(r.C14, x, at, 56, width, scale); Store4(r.C15, x, at, 60, width, scale);
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
