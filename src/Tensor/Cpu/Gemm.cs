using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// Single-precision matrix multiply for the CPU backend, in the GotoBLAS/BLIS structure: the k dimension is
/// cut into KC-deep slices; for each slice op(A) is packed into MR-row panels and op(B) into NR-column panels
/// (64-byte aligned, zero-padded, transposes resolved while packing), then an MR×NR register-blocked
/// AVX-512 micro-kernel (<see cref="GemmKernel"/>) sweeps the tiles of C. Both phases are spread over the
/// cores: packing panel by panel, the tiles in blocks of at most MC rows so that each core's A block stays
/// in its own L2 while the shared B panel is read from L3. Small products, and CPUs without AVX-512, use
/// a simple row loop instead.
/// </summary>
static unsafe class Gemm
{
    /// <summary>Products with fewer multiply-adds than this use the simple path: packing would not pay.</summary>
    internal const long SmallWork = 1 << 16;

    /// <summary>Products with fewer multiply-adds than this stay on one core: waking a second costs more than it saves.</summary>
    internal const long ParallelWork = 1 << 22;

    /// <summary>Depth of a packed slice: a KC×NR B panel (64 KiB at NR = 64) stays in L1/L2 while the kernel sweeps an A block.</summary>
    internal const int KC = 256;

    /// <summary>Largest row block per task: an MC×KC A block (≈ 240 KiB) fits one core's 1 MiB L2 next to the B panels.</summary>
    internal const int MCMax = 240;

    /// <summary>Rows handled per pass of the outer loop, bounding the packed-A buffer (4096·KC floats = 4 MiB).</summary>
    internal const int MChunk = 4096;

    /// <summary>Columns per packed B slice: a KC×NC panel (4 MiB) is shared by both cores from L3.</summary>
    internal const int NC = 4096;

    /// <summary>Micro-tile rows (the broadcast side).</summary>
    internal const int MR = 6;

    /// <summary>Micro-tile columns (four zmm vectors).</summary>
    internal const int NR = 64;

    /// <summary>
    /// c[m×n] (+)= op(a) · op(b), with the same layout conventions as <see cref="GemmReference.Multiply"/>:
    /// a is [m, k] ([k, m] with <paramref name="transA"/>), b is [k, n] ([n, k] with <paramref name="transB"/>),
    /// c is [m, n]; all row-major and dense. Uses all cores.
    /// </summary>
    public static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate) =>
        Multiply(a, transA, b, transB, c, m, n, k, accumulate, parallel: true);

    /// <summary>As <see cref="Multiply(float*, bool, float*, bool, float*, int, int, int, bool)"/>; with <paramref name="parallel"/> false it stays on the calling thread.</summary>
    internal static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, bool parallel)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) new Span<float>(c, checked(m * n)).Clear();
            return;
        }
        long work = (long)m * n * k;
        if (work < SmallWork || !Vector512.IsHardwareAccelerated)
            MultiplySimple(a, transA, b, transB, c, m, n, k, accumulate, parallel && work >= SmallWork);
        else
            MultiplyBlocked(a, transA, b, transB, c, m, n, k, accumulate, parallel && work >= ParallelWork ? CpuParallel.Threads : 1);
    }

    /// <summary>
    /// The blocked, packed path. Loop nest (outer to inner): row chunks of ≤ <see cref="MChunk"/>, k slices of
    /// <see cref="KC"/>, column slices of <see cref="NC"/>; inside a task, NR panels of B, then MR panels of A.
    /// </summary>
    internal static void MultiplyBlocked(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, int threads)
    {
        int chunkRows = Math.Min(m, MChunk);
        int maxPanelsA = (chunkRows + MR - 1) / MR, maxPanelsB = (Math.Min(n, NC) + NR - 1) / NR;
        using var ws = GemmWorkspace.Lease((nint)maxPanelsA * MR * KC, (nint)maxPanelsB * NR * KC);
        float* packA = ws.A, packB = ws.B;

        for (int i0 = 0; i0 < m; i0 += MChunk)
        {
            int mc = Math.Min(MChunk, m - i0);
            int panelsA = (mc + MR - 1) / MR;
            // Row blocks: a multiple of the thread count, each at most MCMax rows and a whole number of MR panels.
            int rowBlocks = (mc + MCMax - 1) / MCMax;
            rowBlocks = (rowBlocks + threads - 1) / threads * threads;
            int blockPanels = Math.Max(1, (panelsA + rowBlocks - 1) / rowBlocks);
            rowBlocks = (panelsA + blockPanels - 1) / blockPanels;

            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                bool add = accumulate || p0 > 0;
                for (int j0 = 0; j0 < n; j0 += NC)
                {
                    int nc = Math.Min(NC, n - j0);
                    int panelsB = (nc + NR - 1) / NR;
                    // A is packed once per k slice (on the first column slice) and reused by the others.
                    int packTasks = (j0 == 0 ? panelsA : 0) + panelsB;
                    int packAOffset = j0 == 0 ? panelsA : 0;
                    For(packTasks, threads, t =>
                    {
                        if (t < packAOffset)
                        {
                            int r = t * MR;
                            // SAFETY: panel t of packA starts at t·MR·kc and holds MR·kc floats (the buffer holds panelsA of them).
                            GemmPacking.PackA(a, transA, m, k, i0 + r, Math.Min(MR, mc - r), p0, kc, MR, packA + (nint)t * MR * kc);
                        }
                        else
                        {
                            int q = t - packAOffset, col = q * NR;
                            // SAFETY: panel q of packB starts at q·NR·kc (a multiple of 64 bytes) and holds NR·kc floats.
                            GemmPacking.PackB(b, transB, n, k, j0 + col, Math.Min(NR, nc - col), p0, kc, NR, packB + (nint)q * NR * kc);
                        }
                    });

                    // Split columns too when there are fewer row blocks than threads (short, wide products).
                    int colBlocks = rowBlocks >= threads ? 1 : Math.Min(panelsB, (threads + rowBlocks - 1) / rowBlocks);
                    int colPanels = (panelsB + colBlocks - 1) / colBlocks;
                    colBlocks = (panelsB + colPanels - 1) / colPanels;
                    float* cChunk = c + (long)i0 * n + j0;
                    For(rowBlocks * colBlocks, threads, t =>
                    {
                        int rb = t / colBlocks, cb = t % colBlocks;
                        int ia = rb * blockPanels, ib = Math.Min(panelsA, ia + blockPanels);
                        int ja = cb * colPanels, jb = Math.Min(panelsB, ja + colPanels);
                        ComputeBlock(packA, packB, cChunk, n, mc, nc, kc, ia, ib, ja, jb, add);
                    });
                }
            }
        }
    }

    /// <summary>Runs the micro-kernel over A panels [ia, ib) × B panels [ja, jb) of the packed slice.</summary>
    static void ComputeBlock(float* packA, float* packB, float* c, int ldc, int mc, int nc, int kc, int ia, int ib, int ja, int jb, bool add)
    {
        float* edge = stackalloc float[MR * NR + 16];
        // SAFETY: round the scratch tile up to a 64-byte boundary (the 16 spare floats cover the shift).
        edge = (float*)(((nint)edge + 63) & ~(nint)63);
        for (int jp = ja; jp < jb; jp++)
        {
            int col = jp * NR, cols = Math.Min(NR, nc - col);
            float* bp = packB + (nint)jp * NR * kc;
            for (int ip = ia; ip < ib; ip++)
            {
                int row = ip * MR, rows = Math.Min(MR, mc - row);
                float* ap = packA + (nint)ip * MR * kc;
                // SAFETY: row < mc and col < nc, so the tile origin lies inside this chunk of C.
                float* ct = c + (long)row * ldc + col;
                if (rows == MR && cols == NR)
                {
                    GemmKernel.Kernel6x64(kc, ap, bp, ct, ldc, add);
                }
                else
                {
                    // Ragged edge: compute the full (zero-padded) tile into scratch, then merge the valid part.
                    GemmKernel.Kernel6x64(kc, ap, bp, edge, NR, add: false);
                    for (int r = 0; r < rows; r++)
                    {
                        float* cr = ct + (long)r * ldc, er = edge + r * NR;
                        if (add) for (int j = 0; j < cols; j++) cr[j] += er[j];
                        else for (int j = 0; j < cols; j++) cr[j] = er[j];
                    }
                }
            }
        }
    }

    /// <summary>
    /// The simple path: one output row at a time, an axpy over rows of B (or, with a transposed B, a dot product
    /// per element) using <see cref="TensorPrimitives"/>, optionally parallel over rows.
    /// </summary>
    internal static void MultiplySimple(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, bool parallel)
    {
        int grain = parallel ? Math.Max(1, (1 << 18) / Math.Max(1, n * k)) : int.MaxValue;
        CpuParallel.For(m, grain, (start, end) =>
        {
            float[]? column = transA && transB ? new float[k] : null;
            for (int i = start; i < end; i++)
            {
                // SAFETY: i < m, so row i of C (n floats) lies inside c.
                var ci = new Span<float>(c + (long)i * n, n);
                if (!transB)
                {
                    if (!accumulate) ci.Clear();
                    for (int p = 0; p < k; p++)
                    {
                        float av = transA ? a[(long)p * m + i] : a[(long)i * k + p];
                        // SAFETY: p < k, so row p of B (n floats) lies inside b.
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)p * n, n), av, ci, ci);
                    }
                }
                else
                {
                    ReadOnlySpan<float> ai;
                    if (column is null) ai = new ReadOnlySpan<float>(a + (long)i * k, k);
                    else
                    {
                        for (int p = 0; p < k; p++) column[p] = a[(long)p * m + i];
                        ai = column;
                    }
                    for (int j = 0; j < n; j++)
                    {
                        // SAFETY: j < n, so row j of the stored [n, k] B lies inside b.
                        float s = TensorPrimitives.Dot(ai, new ReadOnlySpan<float>(b + (long)j * k, k));
                        ci[j] = accumulate ? ci[j] + s : s;
                    }
                }
            }
        });
    }

    /// <summary>body(0) … body(count − 1), over <paramref name="threads"/> threads when that is more than one.</summary>
    static void For(int count, int threads, Action<int> body)
    {
        if (threads <= 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }
}
