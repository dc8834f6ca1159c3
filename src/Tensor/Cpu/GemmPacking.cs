using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Engine.Simd;

namespace Engine.Cpu;

/// <summary>
/// Copies blocks of op(A) and op(B) into the panel layouts the micro-kernels read, handling the transposes
/// and zero-padding ragged edges so that the kernels never see a partial panel.
/// </summary>
static unsafe class GemmPacking
{
    /// <summary>
    /// Packs rows [row0, row0 + rows) and columns [p0, p0 + kc) of op(A) (m×k) into one MR-wide panel:
    /// dst[p·mr + r] = op(A)[row0 + r, p0 + p]; rows ≥ <paramref name="rows"/> are zero.
    /// </summary>
    public static void PackA(float* a, bool transA, int m, int k, int row0, int rows, int p0, int kc, int mr, float* dst)
    {
        if (!transA)
        {
            // A is [m, k]: row r of the panel is contiguous in the source, so walk each row and scatter with stride mr.
            for (int r = 0; r < rows; r++)
            {
                // SAFETY: row0 + r < m and p0 + kc ≤ k, so src[0..kc) lies inside A; dst holds kc·mr floats.
                float* src = a + (long)(row0 + r) * k + p0;
                float* d = dst + r;
                for (int p = 0; p < kc; p++) d[(nint)p * mr] = src[p];
            }
        }
        else
        {
            // A is stored [k, m]: the mr values of one k step are contiguous in the source. A whole panel row (6 or 8
            // floats) moves as two 4-float vectors, overlapping where mr = 6.
            if (rows == mr && mr is 6 or 8)
            {
                nint second = mr - 4;
                for (int p = 0; p < kc; p++)
                {
                    // SAFETY: p0 + p < k and row0 + mr ≤ m, so src[0..mr) lies inside A; d[0..mr) inside the panel.
                    float* src = a + (long)(p0 + p) * m + row0, d = dst + (nint)p * mr;
                    Vector128<float> low = Vector128.Load(src), high = Vector128.Load(src + second);
                    low.Store(d);
                    high.Store(d + second);
                }
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                // SAFETY: p0 + p < k and row0 + rows ≤ m, so src[0..rows) lies inside A.
                float* src = a + (long)(p0 + p) * m + row0;
                float* d = dst + (nint)p * mr;
                for (int r = 0; r < rows; r++) d[r] = src[r];
            }
        }
        if (rows < mr)
            for (int p = 0; p < kc; p++)
                for (int r = rows; r < mr; r++) dst[(nint)p * mr + r] = 0f;
    }

    /// <summary>
    /// Packs columns [col0, col0 + cols) and rows [p0, p0 + kc) of op(B) (k×n) into one NR-wide panel:
    /// dst[p·nr + j] = op(B)[p0 + p, col0 + j]; columns ≥ <paramref name="cols"/> are zero. dst is 64-byte aligned.
    /// </summary>
    public static void PackB(float* b, bool transB, int n, int k, int col0, int cols, int p0, int kc, int nr, float* dst)
    {
        if (!transB)
        {
            // B is [k, n]: each k step of the panel is a contiguous run of the source row. A whole panel is copied in
            // vectors (a panel row is only NR floats, too short for a memmove call to pay).
            if (cols == nr)
            {
                if (VectorWidth.Bits == 512) CopyRows<Simd512, Vector512<float>>(b + (long)p0 * n + col0, n, dst, nr, kc);
                else if (VectorWidth.Bits == 256) CopyRows<Simd256, Vector256<float>>(b + (long)p0 * n + col0, n, dst, nr, kc);
                else CopyRows<Simd128, Vector128<float>>(b + (long)p0 * n + col0, n, dst, nr, kc);
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                // SAFETY: p0 + p < k and col0 + cols ≤ n, so src[0..cols) lies inside B; d[0..nr) inside the panel.
                float* src = b + (long)(p0 + p) * n + col0;
                float* d = dst + (nint)p * nr;
                new ReadOnlySpan<float>(src, cols).CopyTo(new Span<float>(d, cols));
                new Span<float>(d + cols, nr - cols).Clear();
            }
        }
        else
        {
            // B is stored [n, k]: column j of op(B) is a contiguous source row. Four columns at a time, so that
            // each pass writes whole runs of a panel row while it streams four source rows; 4×4 blocks of them
            // go through a register transpose where the processor has one (SSE on x86, NEON on Arm64).
            int j = 0;
            bool transpose4 = Sse.IsSupported || AdvSimd.Arm64.IsSupported;
            for (; j + 4 <= cols; j += 4)
            {
                // SAFETY: rows col0 + j .. col0 + j + 3 < n and p0 + kc ≤ k lie inside B; d[p·nr + 0..4) inside the panel.
                float* s0 = b + (long)(col0 + j) * k + p0, s1 = s0 + k, s2 = s1 + k, s3 = s2 + k;
                float* d = dst + j;
                int p = 0;
                if (transpose4)
                    for (; p + 4 <= kc; p += 4, d += 4 * nr)
                        Transpose4(Vector128.Load(s0 + p), Vector128.Load(s1 + p), Vector128.Load(s2 + p), Vector128.Load(s3 + p), d, nr);
                for (; p < kc; p++, d += nr)
                {
                    d[0] = s0[p];
                    d[1] = s1[p];
                    d[2] = s2[p];
                    d[3] = s3[p];
                }
            }
            for (; j < cols; j++)
            {
                // SAFETY: col0 + j < n and p0 + kc ≤ k, so src[0..kc) lies inside B.
                float* src = b + (long)(col0 + j) * k + p0;
                float* d = dst + j;
                for (int p = 0; p < kc; p++) d[(nint)p * nr] = src[p];
            }
            if (cols < nr)
                for (int p = 0; p < kc; p++) new Span<float>(dst + (nint)p * nr + cols, nr - cols).Clear();
        }
    }

    /// <summary>dst[p·width + j] = src[p·lds + j] for p &lt; rows, j &lt; width; width is a multiple of the vector length.</summary>
    static void CopyRows<TSimd, TVector>(float* src, nint lds, float* dst, int width, int rows)
        where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count;
        for (int p = 0; p < rows; p++, src += lds, dst += width)
            for (int j = 0; j < width; j += w) TSimd.Store(TSimd.Load(src + j), dst + j);
    }

    /// <summary>Stores the 4×4 block with rows r0..r3 transposed: column q of the block goes to dst + q·ldd.</summary>
    static void Transpose4(Vector128<float> r0, Vector128<float> r1, Vector128<float> r2, Vector128<float> r3, float* dst, nint ldd)
    {
        Vector128<float> c0, c1, c2, c3;
        if (Sse.IsSupported)
        {
            Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackLow(r2, r3), t2 = Sse.UnpackHigh(r0, r1), t3 = Sse.UnpackHigh(r2, r3);
            (c0, c1, c2, c3) = (Sse.MoveLowToHigh(t0, t1), Sse.MoveHighToLow(t1, t0), Sse.MoveLowToHigh(t2, t3), Sse.MoveHighToLow(t3, t2));
        }
        else
        {
            var t0 = AdvSimd.Arm64.ZipLow(r0, r1).AsUInt64(); var t1 = AdvSimd.Arm64.ZipLow(r2, r3).AsUInt64();
            var t2 = AdvSimd.Arm64.ZipHigh(r0, r1).AsUInt64(); var t3 = AdvSimd.Arm64.ZipHigh(r2, r3).AsUInt64();
            c0 = AdvSimd.Arm64.ZipLow(t0, t1).AsSingle();
            c1 = AdvSimd.Arm64.ZipHigh(t0, t1).AsSingle();
            c2 = AdvSimd.Arm64.ZipLow(t2, t3).AsSingle();
            c3 = AdvSimd.Arm64.ZipHigh(t2, t3).AsSingle();
        }
        // SAFETY: the caller guarantees four rows of four floats at dst with stride ldd.
        c0.Store(dst);
        c1.Store(dst + ldd);
        c2.Store(dst + 2 * ldd);
        c3.Store(dst + 3 * ldd);
    }
}
