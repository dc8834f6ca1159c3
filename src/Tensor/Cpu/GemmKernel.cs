using System.Runtime.CompilerServices;
using Engine.Simd;

namespace Engine.Cpu;

/// <summary>
/// Register-blocked GEMM micro-kernels, generic over the SIMD width: c[MR×NR] = c (when add) + Σ_p a[p, 0..MR) ⊗ b[p, 0..NR)
/// over packed panels. Element (r, p) of the A panel is a[r·rowStride + p·kStride]: a packed MR-wide panel (1, MR), or
/// a row-major A read in place (lda, 1); b is an NR-wide packed panel of B
/// (NR = vectors · width floats per k step); c is row-major with row stride ldc. The accumulators start from C
/// itself when adding, so every element of C is one chain of fused multiply-adds in k order, however the
/// product is cut into k slices, threads or widths: the bits do not depend on the blocking. Each kernel is written out
/// in full so that every accumulator is a local of its own, which the JIT keeps in a register.
/// </summary>
static unsafe class GemmKernel
{
    /// <summary>6 rows × 4 vectors (24 accumulators): for the 32 vector registers of AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x4<TSimd, TVector>(
        nint kc, float* a, nint rowStride, nint kStride, float* b, float* c, nint ldc, bool add)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        nint w = TSimd.Count;
        TVector zero = TSimd.Zero;
        float* a0 = a, a1 = a + rowStride, a2 = a + 2 * rowStride, a3 = a + 3 * rowStride, a4 = a + 4 * rowStride, a5 = a + 5 * rowStride;
        nint k = 0;
        // SAFETY: the caller guarantees c addresses a full tile with row stride ldc.
        float* r0 = c + 0 * ldc, r1 = c + 1 * ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        TVector c0_0 = add ? TSimd.Load(r0 + 0 * w) : zero, c0_1 = add ? TSimd.Load(r0 + 1 * w) : zero;
        TVector c0_2 = add ? TSimd.Load(r0 + 2 * w) : zero, c0_3 = add ? TSimd.Load(r0 + 3 * w) : zero;
        TVector c1_0 = add ? TSimd.Load(r1 + 0 * w) : zero, c1_1 = add ? TSimd.Load(r1 + 1 * w) : zero;
        TVector c1_2 = add ? TSimd.Load(r1 + 2 * w) : zero, c1_3 = add ? TSimd.Load(r1 + 3 * w) : zero;
        TVector c2_0 = add ? TSimd.Load(r2 + 0 * w) : zero, c2_1 = add ? TSimd.Load(r2 + 1 * w) : zero;
        TVector c2_2 = add ? TSimd.Load(r2 + 2 * w) : zero, c2_3 = add ? TSimd.Load(r2 + 3 * w) : zero;
        TVector c3_0 = add ? TSimd.Load(r3 + 0 * w) : zero, c3_1 = add ? TSimd.Load(r3 + 1 * w) : zero;
        TVector c3_2 = add ? TSimd.Load(r3 + 2 * w) : zero, c3_3 = add ? TSimd.Load(r3 + 3 * w) : zero;
        TVector c4_0 = add ? TSimd.Load(r4 + 0 * w) : zero, c4_1 = add ? TSimd.Load(r4 + 1 * w) : zero;
        TVector c4_2 = add ? TSimd.Load(r4 + 2 * w) : zero, c4_3 = add ? TSimd.Load(r4 + 3 * w) : zero;
        TVector c5_0 = add ? TSimd.Load(r5 + 0 * w) : zero, c5_1 = add ? TSimd.Load(r5 + 1 * w) : zero;
        TVector c5_2 = add ? TSimd.Load(r5 + 2 * w) : zero, c5_3 = add ? TSimd.Load(r5 + 3 * w) : zero;
        // SAFETY: the caller guarantees rows 0..5 of A hold kc values each at k·kStride, and b kc·4·w floats.
        for (nint p = 0; p < kc; p++)
        {
            TVector b0 = TSimd.Load(b + 0 * w), b1 = TSimd.Load(b + 1 * w), b2 = TSimd.Load(b + 2 * w), b3 = TSimd.Load(b + 3 * w);
            TVector x;
            x = TSimd.Broadcast(a0[k]);
            c0_0 = TSimd.MultiplyAdd(x, b0, c0_0); c0_1 = TSimd.MultiplyAdd(x, b1, c0_1);
            c0_2 = TSimd.MultiplyAdd(x, b2, c0_2); c0_3 = TSimd.MultiplyAdd(x, b3, c0_3);
            x = TSimd.Broadcast(a1[k]);
            c1_0 = TSimd.MultiplyAdd(x, b0, c1_0); c1_1 = TSimd.MultiplyAdd(x, b1, c1_1);
            c1_2 = TSimd.MultiplyAdd(x, b2, c1_2); c1_3 = TSimd.MultiplyAdd(x, b3, c1_3);
            x = TSimd.Broadcast(a2[k]);
            c2_0 = TSimd.MultiplyAdd(x, b0, c2_0); c2_1 = TSimd.MultiplyAdd(x, b1, c2_1);
            c2_2 = TSimd.MultiplyAdd(x, b2, c2_2); c2_3 = TSimd.MultiplyAdd(x, b3, c2_3);
            x = TSimd.Broadcast(a3[k]);
            c3_0 = TSimd.MultiplyAdd(x, b0, c3_0); c3_1 = TSimd.MultiplyAdd(x, b1, c3_1);
            c3_2 = TSimd.MultiplyAdd(x, b2, c3_2); c3_3 = TSimd.MultiplyAdd(x, b3, c3_3);
            x = TSimd.Broadcast(a4[k]);
            c4_0 = TSimd.MultiplyAdd(x, b0, c4_0); c4_1 = TSimd.MultiplyAdd(x, b1, c4_1);
            c4_2 = TSimd.MultiplyAdd(x, b2, c4_2); c4_3 = TSimd.MultiplyAdd(x, b3, c4_3);
            x = TSimd.Broadcast(a5[k]);
            c5_0 = TSimd.MultiplyAdd(x, b0, c5_0); c5_1 = TSimd.MultiplyAdd(x, b1, c5_1);
            c5_2 = TSimd.MultiplyAdd(x, b2, c5_2); c5_3 = TSimd.MultiplyAdd(x, b3, c5_3);
            k += kStride;
            b += 4 * w;
        }
        TSimd.Store(c0_0, r0 + 0 * w); TSimd.Store(c0_1, r0 + 1 * w); TSimd.Store(c0_2, r0 + 2 * w); TSimd.Store(c0_3, r0 + 3 * w);
        TSimd.Store(c1_0, r1 + 0 * w); TSimd.Store(c1_1, r1 + 1 * w); TSimd.Store(c1_2, r1 + 2 * w); TSimd.Store(c1_3, r1 + 3 * w);
        TSimd.Store(c2_0, r2 + 0 * w); TSimd.Store(c2_1, r2 + 1 * w); TSimd.Store(c2_2, r2 + 2 * w); TSimd.Store(c2_3, r2 + 3 * w);
        TSimd.Store(c3_0, r3 + 0 * w); TSimd.Store(c3_1, r3 + 1 * w); TSimd.Store(c3_2, r3 + 2 * w); TSimd.Store(c3_3, r3 + 3 * w);
        TSimd.Store(c4_0, r4 + 0 * w); TSimd.Store(c4_1, r4 + 1 * w); TSimd.Store(c4_2, r4 + 2 * w); TSimd.Store(c4_3, r4 + 3 * w);
        TSimd.Store(c5_0, r5 + 0 * w); TSimd.Store(c5_1, r5 + 1 * w); TSimd.Store(c5_2, r5 + 2 * w); TSimd.Store(c5_3, r5 + 3 * w);
    }

    /// <summary>6 rows × 2 vectors (12 accumulators): for the 16 vector registers of AVX2 and SSE.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x2<TSimd, TVector>(
        nint kc, float* a, nint rowStride, nint kStride, float* b, float* c, nint ldc, bool add)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        nint w = TSimd.Count;
        TVector zero = TSimd.Zero;
        float* a0 = a, a1 = a + rowStride, a2 = a + 2 * rowStride, a3 = a + 3 * rowStride, a4 = a + 4 * rowStride, a5 = a + 5 * rowStride;
        nint k = 0;
        // SAFETY: the caller guarantees c addresses a full tile with row stride ldc.
        float* r0 = c + 0 * ldc, r1 = c + 1 * ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        TVector c0_0 = add ? TSimd.Load(r0 + 0 * w) : zero, c0_1 = add ? TSimd.Load(r0 + 1 * w) : zero;
        TVector c1_0 = add ? TSimd.Load(r1 + 0 * w) : zero, c1_1 = add ? TSimd.Load(r1 + 1 * w) : zero;
        TVector c2_0 = add ? TSimd.Load(r2 + 0 * w) : zero, c2_1 = add ? TSimd.Load(r2 + 1 * w) : zero;
        TVector c3_0 = add ? TSimd.Load(r3 + 0 * w) : zero, c3_1 = add ? TSimd.Load(r3 + 1 * w) : zero;
        TVector c4_0 = add ? TSimd.Load(r4 + 0 * w) : zero, c4_1 = add ? TSimd.Load(r4 + 1 * w) : zero;
        TVector c5_0 = add ? TSimd.Load(r5 + 0 * w) : zero, c5_1 = add ? TSimd.Load(r5 + 1 * w) : zero;
        // SAFETY: the caller guarantees rows 0..5 of A hold kc values each at k·kStride, and b kc·2·w floats.
        for (nint p = 0; p < kc; p++)
        {
            TVector b0 = TSimd.Load(b + 0 * w), b1 = TSimd.Load(b + 1 * w);
            TVector x;
            x = TSimd.Broadcast(a0[k]);
            c0_0 = TSimd.MultiplyAdd(x, b0, c0_0); c0_1 = TSimd.MultiplyAdd(x, b1, c0_1);
            x = TSimd.Broadcast(a1[k]);
            c1_0 = TSimd.MultiplyAdd(x, b0, c1_0); c1_1 = TSimd.MultiplyAdd(x, b1, c1_1);
            x = TSimd.Broadcast(a2[k]);
            c2_0 = TSimd.MultiplyAdd(x, b0, c2_0); c2_1 = TSimd.MultiplyAdd(x, b1, c2_1);
            x = TSimd.Broadcast(a3[k]);
            c3_0 = TSimd.MultiplyAdd(x, b0, c3_0); c3_1 = TSimd.MultiplyAdd(x, b1, c3_1);
            x = TSimd.Broadcast(a4[k]);
            c4_0 = TSimd.MultiplyAdd(x, b0, c4_0); c4_1 = TSimd.MultiplyAdd(x, b1, c4_1);
            x = TSimd.Broadcast(a5[k]);
            c5_0 = TSimd.MultiplyAdd(x, b0, c5_0); c5_1 = TSimd.MultiplyAdd(x, b1, c5_1);
            k += kStride;
            b += 2 * w;
        }
        TSimd.Store(c0_0, r0 + 0 * w); TSimd.Store(c0_1, r0 + 1 * w);
        TSimd.Store(c1_0, r1 + 0 * w); TSimd.Store(c1_1, r1 + 1 * w);
        TSimd.Store(c2_0, r2 + 0 * w); TSimd.Store(c2_1, r2 + 1 * w);
        TSimd.Store(c3_0, r3 + 0 * w); TSimd.Store(c3_1, r3 + 1 * w);
        TSimd.Store(c4_0, r4 + 0 * w); TSimd.Store(c4_1, r4 + 1 * w);
        TSimd.Store(c5_0, r5 + 0 * w); TSimd.Store(c5_1, r5 + 1 * w);
    }

    /// <summary>8 rows × 3 vectors (24 accumulators): for the 32 vector registers of NEON.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel8x3<TSimd, TVector>(
        nint kc, float* a, nint rowStride, nint kStride, float* b, float* c, nint ldc, bool add)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        nint w = TSimd.Count;
        TVector zero = TSimd.Zero;
        float* a0 = a, a1 = a + rowStride, a2 = a + 2 * rowStride, a3 = a + 3 * rowStride;
        float* a4 = a + 4 * rowStride, a5 = a + 5 * rowStride, a6 = a + 6 * rowStride, a7 = a + 7 * rowStride;
        nint k = 0;
        // SAFETY: the caller guarantees c addresses a full tile with row stride ldc.
        float* r0 = c + 0 * ldc, r1 = c + 1 * ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc;
        float* r4 = c + 4 * ldc, r5 = c + 5 * ldc, r6 = c + 6 * ldc, r7 = c + 7 * ldc;
        TVector c0_0 = add ? TSimd.Load(r0 + 0 * w) : zero, c0_1 = add ? TSimd.Load(r0 + 1 * w) : zero, c0_2 = add ? TSimd.Load(r0 + 2 * w) : zero;
        TVector c1_0 = add ? TSimd.Load(r1 + 0 * w) : zero, c1_1 = add ? TSimd.Load(r1 + 1 * w) : zero, c1_2 = add ? TSimd.Load(r1 + 2 * w) : zero;
        TVector c2_0 = add ? TSimd.Load(r2 + 0 * w) : zero, c2_1 = add ? TSimd.Load(r2 + 1 * w) : zero, c2_2 = add ? TSimd.Load(r2 + 2 * w) : zero;
        TVector c3_0 = add ? TSimd.Load(r3 + 0 * w) : zero, c3_1 = add ? TSimd.Load(r3 + 1 * w) : zero, c3_2 = add ? TSimd.Load(r3 + 2 * w) : zero;
        TVector c4_0 = add ? TSimd.Load(r4 + 0 * w) : zero, c4_1 = add ? TSimd.Load(r4 + 1 * w) : zero, c4_2 = add ? TSimd.Load(r4 + 2 * w) : zero;
        TVector c5_0 = add ? TSimd.Load(r5 + 0 * w) : zero, c5_1 = add ? TSimd.Load(r5 + 1 * w) : zero, c5_2 = add ? TSimd.Load(r5 + 2 * w) : zero;
        TVector c6_0 = add ? TSimd.Load(r6 + 0 * w) : zero, c6_1 = add ? TSimd.Load(r6 + 1 * w) : zero, c6_2 = add ? TSimd.Load(r6 + 2 * w) : zero;
        TVector c7_0 = add ? TSimd.Load(r7 + 0 * w) : zero, c7_1 = add ? TSimd.Load(r7 + 1 * w) : zero, c7_2 = add ? TSimd.Load(r7 + 2 * w) : zero;
        // SAFETY: the caller guarantees rows 0..7 of A hold kc values each at k·kStride, and b kc·3·w floats.
        for (nint p = 0; p < kc; p++)
        {
            TVector b0 = TSimd.Load(b + 0 * w), b1 = TSimd.Load(b + 1 * w), b2 = TSimd.Load(b + 2 * w);
            TVector x;
            x = TSimd.Broadcast(a0[k]);
            c0_0 = TSimd.MultiplyAdd(x, b0, c0_0); c0_1 = TSimd.MultiplyAdd(x, b1, c0_1); c0_2 = TSimd.MultiplyAdd(x, b2, c0_2);
            x = TSimd.Broadcast(a1[k]);
            c1_0 = TSimd.MultiplyAdd(x, b0, c1_0); c1_1 = TSimd.MultiplyAdd(x, b1, c1_1); c1_2 = TSimd.MultiplyAdd(x, b2, c1_2);
            x = TSimd.Broadcast(a2[k]);
            c2_0 = TSimd.MultiplyAdd(x, b0, c2_0); c2_1 = TSimd.MultiplyAdd(x, b1, c2_1); c2_2 = TSimd.MultiplyAdd(x, b2, c2_2);
            x = TSimd.Broadcast(a3[k]);
            c3_0 = TSimd.MultiplyAdd(x, b0, c3_0); c3_1 = TSimd.MultiplyAdd(x, b1, c3_1); c3_2 = TSimd.MultiplyAdd(x, b2, c3_2);
            x = TSimd.Broadcast(a4[k]);
            c4_0 = TSimd.MultiplyAdd(x, b0, c4_0); c4_1 = TSimd.MultiplyAdd(x, b1, c4_1); c4_2 = TSimd.MultiplyAdd(x, b2, c4_2);
            x = TSimd.Broadcast(a5[k]);
            c5_0 = TSimd.MultiplyAdd(x, b0, c5_0); c5_1 = TSimd.MultiplyAdd(x, b1, c5_1); c5_2 = TSimd.MultiplyAdd(x, b2, c5_2);
            x = TSimd.Broadcast(a6[k]);
            c6_0 = TSimd.MultiplyAdd(x, b0, c6_0); c6_1 = TSimd.MultiplyAdd(x, b1, c6_1); c6_2 = TSimd.MultiplyAdd(x, b2, c6_2);
            x = TSimd.Broadcast(a7[k]);
            c7_0 = TSimd.MultiplyAdd(x, b0, c7_0); c7_1 = TSimd.MultiplyAdd(x, b1, c7_1); c7_2 = TSimd.MultiplyAdd(x, b2, c7_2);
            k += kStride;
            b += 3 * w;
        }
        TSimd.Store(c0_0, r0 + 0 * w); TSimd.Store(c0_1, r0 + 1 * w); TSimd.Store(c0_2, r0 + 2 * w);
        TSimd.Store(c1_0, r1 + 0 * w); TSimd.Store(c1_1, r1 + 1 * w); TSimd.Store(c1_2, r1 + 2 * w);
        TSimd.Store(c2_0, r2 + 0 * w); TSimd.Store(c2_1, r2 + 1 * w); TSimd.Store(c2_2, r2 + 2 * w);
        TSimd.Store(c3_0, r3 + 0 * w); TSimd.Store(c3_1, r3 + 1 * w); TSimd.Store(c3_2, r3 + 2 * w);
        TSimd.Store(c4_0, r4 + 0 * w); TSimd.Store(c4_1, r4 + 1 * w); TSimd.Store(c4_2, r4 + 2 * w);
        TSimd.Store(c5_0, r5 + 0 * w); TSimd.Store(c5_1, r5 + 1 * w); TSimd.Store(c5_2, r5 + 2 * w);
        TSimd.Store(c6_0, r6 + 0 * w); TSimd.Store(c6_1, r6 + 1 * w); TSimd.Store(c6_2, r6 + 2 * w);
        TSimd.Store(c7_0, r7 + 0 * w); TSimd.Store(c7_1, r7 + 1 * w); TSimd.Store(c7_2, r7 + 2 * w);
    }
}
