using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Engine.Simd;

namespace Engine.Cpu;

/// <summary>
/// Single-precision matrix multiply for the CPU backend, in the GotoBLAS/BLIS structure: the k dimension is
/// cut into KC-deep slices; for each slice op(B) is packed into NR-column panels (zero-padded, the transpose
/// resolved while packing), and an MR×NR register-blocked micro-kernel (<see cref="GemmKernel"/>) of the
/// processor's SIMD width sweeps the tiles of C, reading A in place but for a last partial MR-row panel (A stored
/// transposed is packed whole). With enough column panels each core computes its own columns of C and packs its
/// own B; otherwise the cores share each slice, packing panel by panel, then computing the tiles in blocks of at
/// most MC rows, so that each core's share of A stays in its own L2 while the shared B panel is read from L3.
/// Small products use a simple row loop. Both paths compute every element of C as one chain of
/// fused multiply-adds in k order, so the bits depend on neither the path, the blocking, the thread count nor
/// the vector width.
/// </summary>
static unsafe class Gemm
{
    /// <summary>Products with fewer multiply-adds than this use the simple path: packing would not pay.</summary>
    internal const long SmallWork = 1 << 16;

    /// <summary>Products with fewer multiply-adds than this stay on one core: waking a second costs more than it saves.</summary>
    internal const long ParallelWork = 1 << 22;

    /// <summary>
    /// Deepest k slice. Each slice reloads and stores every tile of C once, so deep slices pay where C outgrows the
    /// caches; k is cut into equal slices of at most this depth (<see cref="SliceDepth"/>).
    /// </summary>
    internal const int KC = 768;

    /// <summary>Largest row block per task: an MC×KC A block (≤ 720 KiB) stays in one core's L2 beside a B panel.</summary>
    internal const int MCMax = 240;

    /// <summary>Rows handled per pass of the outer loop.</summary>
    internal const int MChunk = 4096;

    /// <summary>Columns per packed B slice (a multiple of every NR): a KC×NC slice (≤ 4.5 MiB) is shared by the cores from L3.</summary>
    internal const int NC = 1536;

    /// <summary>Micro-tile rows (the broadcast side): 8 where NEON's 32 registers allow it, else 6.</summary>
    internal static readonly int MR = VectorWidth.Bits == 128 && AdvSimd.IsSupported ? 8 : 6;

    /// <summary>Micro-tile columns: 4 vectors at 512 bits, 3 on NEON, else 2.</summary>
    internal static readonly int NR = VectorWidth.Bits switch { 512 => 64, 256 => 16, _ => AdvSimd.IsSupported ? 12 : 8 };

    /// <summary>The micro-kernel of <see cref="MR"/>×<see cref="NR"/> tiles at this processor's width.</summary>
    static readonly delegate*<nint, float*, nint, nint, float*, float*, nint, bool, void> Kernel = ChooseKernel();

    static delegate*<nint, float*, nint, nint, float*, float*, nint, bool, void> ChooseKernel()
    {
        if (VectorWidth.Bits == 512) return &GemmKernel.Kernel6x4<Simd512, Vector512<float>>;
        if (VectorWidth.Bits == 256) return &GemmKernel.Kernel6x2<Simd256, Vector256<float>>;
        return AdvSimd.IsSupported ? &GemmKernel.Kernel8x3<Simd128, Vector128<float>> : &GemmKernel.Kernel6x2<Simd128, Vector128<float>>;
    }

    /// <summary>
    /// c[m×n] (+)= op(a) · op(b), with the same layout conventions as <see cref="GemmReference.Multiply"/>:
    /// a is [m, k] ([k, m] with <paramref name="transA"/>), b is [k, n] ([n, k] with <paramref name="transB"/>),
    /// c is [m, n]; all row-major and dense. Uses all cores.
    /// </summary>
    public static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate) =>
        Multiply(a, transA, b, transB, c, m, n, k, accumulate, parallel: true);

    /// <summary>
    /// As <see cref="Multiply(float*, bool, float*, bool, float*, int, int, int, bool)"/>; with <paramref name="parallel"/> false it
    /// stays on the calling thread.
    /// </summary>
    internal static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, bool parallel)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) new Span<float>(c, checked(m * n)).Clear();
            return;
        }
        long work = (long)m * n * k;
        if (work < SmallWork)
            MultiplySimple(a, transA, b, transB, c, m, n, k, accumulate, parallel: false);
        else
            MultiplyBlocked(a, transA, b, transB, c, m, n, k, accumulate, parallel && work >= ParallelWork ? CpuParallel.Threads : 1);
    }

    /// <summary>
    /// The blocked path (<paramref name="packAllOfA"/>: pack every panel of A, to check in-place reads against). Loop nest
    /// (outer to inner): row chunks of ≤ <see cref="MChunk"/>, k slices of ≤ <see cref="KC"/>, column slices of
    /// <see cref="NC"/>; inside a task, NR panels of B, then MR panels of A.
    /// </summary>
    internal static void MultiplyBlocked(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, int threads,
        bool packAllOfA = false)
    {
        // Enough column panels for every thread: each computes its own columns of C alone, packing its own B panels,
        // so the threads never wait for each other. Otherwise they share each k slice's packed B.
        int panels = (n + NR - 1) / NR;
        if (threads > 1 && panels >= 2 * threads)
            For(threads, threads, t =>
            {
                int first = (int)((long)panels * t / threads) * NR, last = Math.Min(n, (int)((long)panels * (t + 1) / threads) * NR);
                MultiplyColumns(a, transA, b, transB, c, m, n, k, accumulate, 1, first, last, packAllOfA);
            });
        else MultiplyColumns(a, transA, b, transB, c, m, n, k, accumulate, threads, 0, n, packAllOfA);
    }

    /// <summary>Columns [firstColumn, lastColumn) of C by the blocked path, over <paramref name="threads"/> threads.</summary>
    static void MultiplyColumns(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, int threads,
        int firstColumn, int lastColumn, bool packAllOfA)
    {
        int chunkRows = Math.Min(m, MChunk);
        int maxPanelsA = (chunkRows + MR - 1) / MR, maxPanelsB = (Math.Min(lastColumn - firstColumn, NC) + NR - 1) / NR;
        int depth = SliceDepth(k);
        // A is read in place, but for a last partial panel, which is packed (zero-padded). A stored transposed is packed
        // whole: read in place, each of its k steps would touch another page.
        bool packWholeA = packAllOfA || transA;
        using var ws = GemmWorkspace.Lease((nint)(packWholeA ? maxPanelsA : 1) * MR * depth, (nint)maxPanelsB * NR * depth);
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

            for (int p0 = 0; p0 < k; p0 += depth)
            {
                int kc = Math.Min(depth, k - p0);
                bool add = accumulate || p0 > 0;
                for (int j0 = firstColumn; j0 < lastColumn; j0 += NC)
                {
                    int nc = Math.Min(NC, lastColumn - j0);
                    int panelsB = (nc + NR - 1) / NR;
                    // The packed panels of A are packed once per k slice, on the first column slice, and reused by the others.
                    int firstPackedA = packWholeA ? 0 : mc / MR;
                    int packAOffset = j0 == firstColumn ? panelsA - firstPackedA : 0;
                    For(packAOffset + panelsB, threads, t =>
                    {
                        if (t < packAOffset)
                        {
                            int r = (firstPackedA + t) * MR;
                            // SAFETY: packed panel t starts at t·MR·kc and holds MR·kc floats (the buffer holds every packed panel).
                            GemmPacking.PackA(a, transA, m, k, i0 + r, Math.Min(MR, mc - r), p0, kc, MR, packA + (nint)t * MR * kc);
                        }
                        else
                        {
                            int q = t - packAOffset, col = q * NR;
                            // SAFETY: panel q of packB starts at q·NR·kc and holds NR·kc floats.
                            GemmPacking.PackB(b, transB, n, k, j0 + col, Math.Min(NR, nc - col), p0, kc, NR, packB + (nint)q * NR * kc);
                        }
                    });
                    // SAFETY: row i0, k step p0 lies inside A (only read when A is [m, k]: panels of a transposed A are all packed).
                    var panelsOfA = new PanelsOfA(a + (long)i0 * k + p0, k, firstPackedA, packA);

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
                        ComputeBlock(panelsOfA, packB, cChunk, n, mc, nc, kc, ia, ib, ja, jb, add);
                    });
                }
            }
        }
    }

    /// <summary>
    /// Where the kernel finds the MR-row panels of op(A) in one k slice: panels before <see cref="FirstPacked"/> in place in
    /// a row-major A (element (r, p) at <see cref="InPlace"/>[r·RowStride + p]), the others packed in <see cref="Packed"/>.
    /// </summary>
    readonly struct PanelsOfA(float* inPlace, nint rowStride, int firstPacked, float* packed)
    {
        public float* InPlace { get; } = inPlace;
        public nint RowStride { get; } = rowStride;
        public int FirstPacked { get; } = firstPacked;
        public float* Packed { get; } = packed;
    }

    /// <summary>The depth of equal k slices, none deeper than <see cref="KC"/>.</summary>
    internal static int SliceDepth(int k)
    {
        int slices = (k + KC - 1) / KC;
        return (k + slices - 1) / slices;
    }

    /// <summary>Runs the micro-kernel over A panels [ia, ib) × B panels [ja, jb) of the packed slice.</summary>
    static void ComputeBlock(PanelsOfA panels, float* packB, float* c, int ldc, int mc, int nc, int kc, int ia, int ib, int ja, int jb, bool add)
    {
        int mr = MR, nr = NR;
        float* edge = stackalloc float[mr * nr + 16];
        // SAFETY: round the scratch tile up to a 64-byte boundary (the 16 spare floats cover the shift).
        edge = (float*)(((nint)edge + 63) & ~(nint)63);
        for (int jp = ja; jp < jb; jp++)
        {
            int col = jp * nr, cols = Math.Min(nr, nc - col);
            float* bp = packB + (nint)jp * nr * kc;
            for (int ip = ia; ip < ib; ip++)
            {
                int row = ip * mr, rows = Math.Min(mr, mc - row);
                bool inPlace = ip < panels.FirstPacked;
                // SAFETY: a panel before FirstPacked has all MR rows inside A; a packed one holds MR·kc floats.
                float* ap = inPlace ? panels.InPlace + row * panels.RowStride : panels.Packed + (nint)(ip - panels.FirstPacked) * mr * kc;
                nint rowStride = inPlace ? panels.RowStride : 1, kStride = inPlace ? 1 : mr;
                // SAFETY: row < mc and col < nc, so the tile origin lies inside this chunk of C.
                float* ct = c + (long)row * ldc + col;
                if (rows == mr && cols == nr)
                {
                    Kernel(kc, ap, rowStride, kStride, bp, ct, ldc, add);
                    continue;
                }
                // Ragged edge: run the full (zero-padded) tile in scratch, starting from the valid part of C.
                if (add)
                    for (int r = 0; r < rows; r++)
                        new ReadOnlySpan<float>(ct + (long)r * ldc, cols).CopyTo(new Span<float>(edge + r * nr, cols));
                Kernel(kc, ap, rowStride, kStride, bp, edge, nr, add);
                for (int r = 0; r < rows; r++)
                    new ReadOnlySpan<float>(edge + r * nr, cols).CopyTo(new Span<float>(ct + (long)r * ldc, cols));
            }
        }
    }

    /// <summary>
    /// The simple path: one output row at a time, c[i, :] = fma(op(A)[i, p], op(B)[p, :], c[i, :]) for p in order
    /// (a transposed B is first copied into [k, n] order), optionally parallel over rows.
    /// </summary>
    internal static void MultiplySimple(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate, bool parallel)
    {
        float[]? transposed = transB ? ArrayPool<float>.Shared.Rent(checked(n * k)) : null;
        if (transposed is not null)
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++) transposed[(long)p * n + j] = b[(long)j * k + p];
        try
        {
            fixed (float* bt = transposed)
                MultiplyRows(a, transA, transB ? bt : b, c, m, n, k, accumulate, parallel);
        }
        finally
        {
            if (transposed is not null) ArrayPool<float>.Shared.Return(transposed);
        }
    }

    /// <summary>c[i, :] (+)= Σ_p op(A)[i, p] · b[p, :] for a [k, n] b, row by row.</summary>
    static void MultiplyRows(float* a, bool transA, float* rowsOfB, float* c, int m, int n, int k, bool accumulate, bool parallel)
    {
        int grain = parallel ? Math.Max(1, (1 << 18) / Math.Max(1, n * k)) : int.MaxValue;
        CpuParallel.For(m, grain, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                // SAFETY: i < m, so row i of C (n floats) lies inside c; row p of the [k, n] B (n floats) inside rowsOfB.
                float* ci = c + (long)i * n;
                if (!accumulate) new Span<float>(ci, n).Clear();
                for (int p = 0; p < k; p++)
                    VectorMath.MultiplyAdd(transA ? a[(long)p * m + i] : a[(long)i * k + p], rowsOfB + (long)p * n, ci, n);
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
