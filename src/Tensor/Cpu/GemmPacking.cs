using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
            // A is stored [k, m]: the mr values of one k step are contiguous in the source.
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
            // B is [k, n]: each k step of the panel is a contiguous run of the source row.
            for (int p = 0; p < kc; p++)
            {
                // SAFETY: p0 + p < k and col0 + cols ≤ n, so src[0..cols) lies inside B; d[0..nr) inside the panel.
                float* src = b + (long)(p0 + p) * n + col0;
                float* d = dst + (nint)p * nr;
                int j = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; j <= cols - 16; j += 16) Vector512.Store(Vector512.Load(src + j), d + j);
                for (; j < cols; j++) d[j] = src[j];
                for (; j < nr; j++) d[j] = 0f;
            }
        }
        else
        {
            // B is stored [n, k]: column j of op(B) is a contiguous source row; transpose it into the panel,
            // 16×16 blocks at a time in registers where the block is whole.
            int j16 = Avx512F.IsSupported ? cols & ~15 : 0, p16 = Avx512F.IsSupported ? kc & ~15 : 0;
            for (int j = 0; j < j16; j += 16)
                for (int p = 0; p < p16; p += 16)
                    // SAFETY: rows col0 + j .. + 16 ≤ n and k steps p0 + p .. + 16 ≤ k lie inside B; the block lands in
                    // panel rows p .. p + 16, columns j .. j + 16 < nr.
                    Transpose16(b + (long)(col0 + j) * k + p0 + p, k, dst + (nint)p * nr + j, nr);
            for (int j = 0; j < cols; j++)
            {
                // SAFETY: col0 + j < n and p0 + kc ≤ k, so src[0..kc) lies inside B.
                float* src = b + (long)(col0 + j) * k + p0;
                float* d = dst + j;
                for (int p = j < j16 ? p16 : 0; p < kc; p++) d[(nint)p * nr] = src[p];
            }
            if (cols < nr)
                for (int p = 0; p < kc; p++)
                    for (int j = cols; j < nr; j++) dst[(nint)p * nr + j] = 0f;
        }
    }

    /// <summary>dst[q·ldd + i] = src[i·lds + q] for i, q &lt; 16: a 16×16 transpose through zmm registers.</summary>
    static void Transpose16(float* src, nint lds, float* dst, nint ldd)
    {
        var r = stackalloc Vector512<float>[16];
        var t = stackalloc Vector512<float>[16];
        // SAFETY: the caller guarantees 16 rows of 16 floats at src (stride lds) and at dst (stride ldd).
        for (int i = 0; i < 16; i++) r[i] = Vector512.Load(src + i * lds);
        // Interleave pairs of rows, then pairs of pairs within each 128-bit lane ...
        for (int i = 0; i < 16; i += 2)
        {
            t[i] = Avx512F.UnpackLow(r[i], r[i + 1]);
            t[i + 1] = Avx512F.UnpackHigh(r[i], r[i + 1]);
        }
        for (int i = 0; i < 16; i += 4)
        {
            r[i] = Avx512F.Shuffle(t[i], t[i + 2], 0x44);
            r[i + 1] = Avx512F.Shuffle(t[i], t[i + 2], 0xEE);
            r[i + 2] = Avx512F.Shuffle(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = Avx512F.Shuffle(t[i + 1], t[i + 3], 0xEE);
        }
        // ... then move the 128-bit lanes into place across groups of four and eight rows.
        for (int i = 0; i < 4; i++)
        {
            t[i] = Avx512F.Shuffle4x128(r[i], r[i + 4], 0x88);
            t[i + 4] = Avx512F.Shuffle4x128(r[i], r[i + 4], 0xDD);
            t[i + 8] = Avx512F.Shuffle4x128(r[i + 8], r[i + 12], 0x88);
            t[i + 12] = Avx512F.Shuffle4x128(r[i + 8], r[i + 12], 0xDD);
        }
        for (int i = 0; i < 8; i++)
        {
            Avx512F.Shuffle4x128(t[i], t[i + 8], 0x88).Store(dst + i * ldd);
            Avx512F.Shuffle4x128(t[i], t[i + 8], 0xDD).Store(dst + (i + 8) * ldd);
        }
    }
}
