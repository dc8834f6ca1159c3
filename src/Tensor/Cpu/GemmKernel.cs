using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// Register-blocked AVX-512 micro-kernels: c[MR×NR] (+)= Σ_p a[p, 0..MR) ⊗ b[p, 0..NR) over packed panels.
/// a is an MR-wide packed panel of A (MR floats per k step), b an NR-wide packed panel of B (NR floats per
/// k step, 64-byte aligned); c is row-major with row stride ldc. The accumulators stay in zmm registers for the
/// whole k loop (MR·NR/16 of the 32), each A value is broadcast once per k step and each B vector is loaded once.
/// </summary>
static unsafe class GemmKernel
{

    /// <summary>The 6×64 micro-kernel (24 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x64(nint kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector512<float> c0_0 = default, c0_1 = default, c0_2 = default, c0_3 = default;
        Vector512<float> c1_0 = default, c1_1 = default, c1_2 = default, c1_3 = default;
        Vector512<float> c2_0 = default, c2_1 = default, c2_2 = default, c2_3 = default;
        Vector512<float> c3_0 = default, c3_1 = default, c3_2 = default, c3_3 = default;
        Vector512<float> c4_0 = default, c4_1 = default, c4_2 = default, c4_3 = default;
        Vector512<float> c5_0 = default, c5_1 = default, c5_2 = default, c5_3 = default;
        // SAFETY: the caller guarantees a holds kc·6 floats and b kc·64 floats; both pointers advance by one k step per iteration.
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b + 0);
            var b1 = Vector512.LoadAligned(b + 16);
            var b2 = Vector512.LoadAligned(b + 32);
            var b3 = Vector512.LoadAligned(b + 48);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1); c0_2 = Vector512.FusedMultiplyAdd(a0, b2, c0_2); c0_3 = Vector512.FusedMultiplyAdd(a0, b3, c0_3);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1); c1_2 = Vector512.FusedMultiplyAdd(a1, b2, c1_2); c1_3 = Vector512.FusedMultiplyAdd(a1, b3, c1_3);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1); c2_2 = Vector512.FusedMultiplyAdd(a2, b2, c2_2); c2_3 = Vector512.FusedMultiplyAdd(a2, b3, c2_3);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1); c3_2 = Vector512.FusedMultiplyAdd(a3, b2, c3_2); c3_3 = Vector512.FusedMultiplyAdd(a3, b3, c3_3);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1); c4_2 = Vector512.FusedMultiplyAdd(a4, b2, c4_2); c4_3 = Vector512.FusedMultiplyAdd(a4, b3, c4_3);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1); c5_2 = Vector512.FusedMultiplyAdd(a5, b2, c5_2); c5_3 = Vector512.FusedMultiplyAdd(a5, b3, c5_3);
            a += 6;
            b += 64;
        }
        // SAFETY: the caller guarantees c addresses a full 6×64 tile with row stride ldc.
        float* r0 = c;
        Put(r0 + 0, c0_0, add); Put(r0 + 16, c0_1, add); Put(r0 + 32, c0_2, add); Put(r0 + 48, c0_3, add);
        float* r1 = c + 1 * ldc;
        Put(r1 + 0, c1_0, add); Put(r1 + 16, c1_1, add); Put(r1 + 32, c1_2, add); Put(r1 + 48, c1_3, add);
        float* r2 = c + 2 * ldc;
        Put(r2 + 0, c2_0, add); Put(r2 + 16, c2_1, add); Put(r2 + 32, c2_2, add); Put(r2 + 48, c2_3, add);
        float* r3 = c + 3 * ldc;
        Put(r3 + 0, c3_0, add); Put(r3 + 16, c3_1, add); Put(r3 + 32, c3_2, add); Put(r3 + 48, c3_3, add);
        float* r4 = c + 4 * ldc;
        Put(r4 + 0, c4_0, add); Put(r4 + 16, c4_1, add); Put(r4 + 32, c4_2, add); Put(r4 + 48, c4_3, add);
        float* r5 = c + 5 * ldc;
        Put(r5 + 0, c5_0, add); Put(r5 + 16, c5_1, add); Put(r5 + 32, c5_2, add); Put(r5 + 48, c5_3, add);
    }

    /// <summary>The 8×48 micro-kernel (24 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel8x48(nint kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector512<float> c0_0 = default, c0_1 = default, c0_2 = default;
        Vector512<float> c1_0 = default, c1_1 = default, c1_2 = default;
        Vector512<float> c2_0 = default, c2_1 = default, c2_2 = default;
        Vector512<float> c3_0 = default, c3_1 = default, c3_2 = default;
        Vector512<float> c4_0 = default, c4_1 = default, c4_2 = default;
        Vector512<float> c5_0 = default, c5_1 = default, c5_2 = default;
        Vector512<float> c6_0 = default, c6_1 = default, c6_2 = default;
        Vector512<float> c7_0 = default, c7_1 = default, c7_2 = default;
        // SAFETY: the caller guarantees a holds kc·8 floats and b kc·48 floats; both pointers advance by one k step per iteration.
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b + 0);
            var b1 = Vector512.LoadAligned(b + 16);
            var b2 = Vector512.LoadAligned(b + 32);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1); c0_2 = Vector512.FusedMultiplyAdd(a0, b2, c0_2);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1); c1_2 = Vector512.FusedMultiplyAdd(a1, b2, c1_2);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1); c2_2 = Vector512.FusedMultiplyAdd(a2, b2, c2_2);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1); c3_2 = Vector512.FusedMultiplyAdd(a3, b2, c3_2);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1); c4_2 = Vector512.FusedMultiplyAdd(a4, b2, c4_2);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1); c5_2 = Vector512.FusedMultiplyAdd(a5, b2, c5_2);
            var a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1); c6_2 = Vector512.FusedMultiplyAdd(a6, b2, c6_2);
            var a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1); c7_2 = Vector512.FusedMultiplyAdd(a7, b2, c7_2);
            a += 8;
            b += 48;
        }
        // SAFETY: the caller guarantees c addresses a full 8×48 tile with row stride ldc.
        float* r0 = c;
        Put(r0 + 0, c0_0, add); Put(r0 + 16, c0_1, add); Put(r0 + 32, c0_2, add);
        float* r1 = c + 1 * ldc;
        Put(r1 + 0, c1_0, add); Put(r1 + 16, c1_1, add); Put(r1 + 32, c1_2, add);
        float* r2 = c + 2 * ldc;
        Put(r2 + 0, c2_0, add); Put(r2 + 16, c2_1, add); Put(r2 + 32, c2_2, add);
        float* r3 = c + 3 * ldc;
        Put(r3 + 0, c3_0, add); Put(r3 + 16, c3_1, add); Put(r3 + 32, c3_2, add);
        float* r4 = c + 4 * ldc;
        Put(r4 + 0, c4_0, add); Put(r4 + 16, c4_1, add); Put(r4 + 32, c4_2, add);
        float* r5 = c + 5 * ldc;
        Put(r5 + 0, c5_0, add); Put(r5 + 16, c5_1, add); Put(r5 + 32, c5_2, add);
        float* r6 = c + 6 * ldc;
        Put(r6 + 0, c6_0, add); Put(r6 + 16, c6_1, add); Put(r6 + 32, c6_2, add);
        float* r7 = c + 7 * ldc;
        Put(r7 + 0, c7_0, add); Put(r7 + 16, c7_1, add); Put(r7 + 32, c7_2, add);
    }

    /// <summary>The 12×32 micro-kernel (24 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel12x32(nint kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector512<float> c0_0 = default, c0_1 = default;
        Vector512<float> c1_0 = default, c1_1 = default;
        Vector512<float> c2_0 = default, c2_1 = default;
        Vector512<float> c3_0 = default, c3_1 = default;
        Vector512<float> c4_0 = default, c4_1 = default;
        Vector512<float> c5_0 = default, c5_1 = default;
        Vector512<float> c6_0 = default, c6_1 = default;
        Vector512<float> c7_0 = default, c7_1 = default;
        Vector512<float> c8_0 = default, c8_1 = default;
        Vector512<float> c9_0 = default, c9_1 = default;
        Vector512<float> c10_0 = default, c10_1 = default;
        Vector512<float> c11_0 = default, c11_1 = default;
        // SAFETY: the caller guarantees a holds kc·12 floats and b kc·32 floats; both pointers advance by one k step per iteration.
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b + 0);
            var b1 = Vector512.LoadAligned(b + 16);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            var a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            var a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            var a8 = Vector512.Create(a[8]);
            c8_0 = Vector512.FusedMultiplyAdd(a8, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(a8, b1, c8_1);
            var a9 = Vector512.Create(a[9]);
            c9_0 = Vector512.FusedMultiplyAdd(a9, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(a9, b1, c9_1);
            var a10 = Vector512.Create(a[10]);
            c10_0 = Vector512.FusedMultiplyAdd(a10, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(a10, b1, c10_1);
            var a11 = Vector512.Create(a[11]);
            c11_0 = Vector512.FusedMultiplyAdd(a11, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(a11, b1, c11_1);
            a += 12;
            b += 32;
        }
        // SAFETY: the caller guarantees c addresses a full 12×32 tile with row stride ldc.
        float* r0 = c;
        Put(r0 + 0, c0_0, add); Put(r0 + 16, c0_1, add);
        float* r1 = c + 1 * ldc;
        Put(r1 + 0, c1_0, add); Put(r1 + 16, c1_1, add);
        float* r2 = c + 2 * ldc;
        Put(r2 + 0, c2_0, add); Put(r2 + 16, c2_1, add);
        float* r3 = c + 3 * ldc;
        Put(r3 + 0, c3_0, add); Put(r3 + 16, c3_1, add);
        float* r4 = c + 4 * ldc;
        Put(r4 + 0, c4_0, add); Put(r4 + 16, c4_1, add);
        float* r5 = c + 5 * ldc;
        Put(r5 + 0, c5_0, add); Put(r5 + 16, c5_1, add);
        float* r6 = c + 6 * ldc;
        Put(r6 + 0, c6_0, add); Put(r6 + 16, c6_1, add);
        float* r7 = c + 7 * ldc;
        Put(r7 + 0, c7_0, add); Put(r7 + 16, c7_1, add);
        float* r8 = c + 8 * ldc;
        Put(r8 + 0, c8_0, add); Put(r8 + 16, c8_1, add);
        float* r9 = c + 9 * ldc;
        Put(r9 + 0, c9_0, add); Put(r9 + 16, c9_1, add);
        float* r10 = c + 10 * ldc;
        Put(r10 + 0, c10_0, add); Put(r10 + 16, c10_1, add);
        float* r11 = c + 11 * ldc;
        Put(r11 + 0, c11_0, add); Put(r11 + 16, c11_1, add);
    }

    /// <summary>The 14×32 micro-kernel (28 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel14x32(nint kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector512<float> c0_0 = default, c0_1 = default;
        Vector512<float> c1_0 = default, c1_1 = default;
        Vector512<float> c2_0 = default, c2_1 = default;
        Vector512<float> c3_0 = default, c3_1 = default;
        Vector512<float> c4_0 = default, c4_1 = default;
        Vector512<float> c5_0 = default, c5_1 = default;
        Vector512<float> c6_0 = default, c6_1 = default;
        Vector512<float> c7_0 = default, c7_1 = default;
        Vector512<float> c8_0 = default, c8_1 = default;
        Vector512<float> c9_0 = default, c9_1 = default;
        Vector512<float> c10_0 = default, c10_1 = default;
        Vector512<float> c11_0 = default, c11_1 = default;
        Vector512<float> c12_0 = default, c12_1 = default;
        Vector512<float> c13_0 = default, c13_1 = default;
        // SAFETY: the caller guarantees a holds kc·14 floats and b kc·32 floats; both pointers advance by one k step per iteration.
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b + 0);
            var b1 = Vector512.LoadAligned(b + 16);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            var a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            var a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            var a8 = Vector512.Create(a[8]);
            c8_0 = Vector512.FusedMultiplyAdd(a8, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(a8, b1, c8_1);
            var a9 = Vector512.Create(a[9]);
            c9_0 = Vector512.FusedMultiplyAdd(a9, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(a9, b1, c9_1);
            var a10 = Vector512.Create(a[10]);
            c10_0 = Vector512.FusedMultiplyAdd(a10, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(a10, b1, c10_1);
            var a11 = Vector512.Create(a[11]);
            c11_0 = Vector512.FusedMultiplyAdd(a11, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(a11, b1, c11_1);
            var a12 = Vector512.Create(a[12]);
            c12_0 = Vector512.FusedMultiplyAdd(a12, b0, c12_0); c12_1 = Vector512.FusedMultiplyAdd(a12, b1, c12_1);
            var a13 = Vector512.Create(a[13]);
            c13_0 = Vector512.FusedMultiplyAdd(a13, b0, c13_0); c13_1 = Vector512.FusedMultiplyAdd(a13, b1, c13_1);
            a += 14;
            b += 32;
        }
        // SAFETY: the caller guarantees c addresses a full 14×32 tile with row stride ldc.
        float* r0 = c;
        Put(r0 + 0, c0_0, add); Put(r0 + 16, c0_1, add);
        float* r1 = c + 1 * ldc;
        Put(r1 + 0, c1_0, add); Put(r1 + 16, c1_1, add);
        float* r2 = c + 2 * ldc;
        Put(r2 + 0, c2_0, add); Put(r2 + 16, c2_1, add);
        float* r3 = c + 3 * ldc;
        Put(r3 + 0, c3_0, add); Put(r3 + 16, c3_1, add);
        float* r4 = c + 4 * ldc;
        Put(r4 + 0, c4_0, add); Put(r4 + 16, c4_1, add);
        float* r5 = c + 5 * ldc;
        Put(r5 + 0, c5_0, add); Put(r5 + 16, c5_1, add);
        float* r6 = c + 6 * ldc;
        Put(r6 + 0, c6_0, add); Put(r6 + 16, c6_1, add);
        float* r7 = c + 7 * ldc;
        Put(r7 + 0, c7_0, add); Put(r7 + 16, c7_1, add);
        float* r8 = c + 8 * ldc;
        Put(r8 + 0, c8_0, add); Put(r8 + 16, c8_1, add);
        float* r9 = c + 9 * ldc;
        Put(r9 + 0, c9_0, add); Put(r9 + 16, c9_1, add);
        float* r10 = c + 10 * ldc;
        Put(r10 + 0, c10_0, add); Put(r10 + 16, c10_1, add);
        float* r11 = c + 11 * ldc;
        Put(r11 + 0, c11_0, add); Put(r11 + 16, c11_1, add);
        float* r12 = c + 12 * ldc;
        Put(r12 + 0, c12_0, add); Put(r12 + 16, c12_1, add);
        float* r13 = c + 13 * ldc;
        Put(r13 + 0, c13_0, add); Put(r13 + 16, c13_1, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(float* c, Vector512<float> v, bool add) => (add ? Vector512.Load(c) + v : v).Store(c);
}
