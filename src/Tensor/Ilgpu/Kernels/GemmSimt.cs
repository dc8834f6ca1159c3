using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// SGEMM on CUDA cores. A group of 256 threads (16 × 16) computes a 128 × 128 tile of c; each thread owns an
/// 8 × 8 register block made of four 4 × 4 quadrants at rows (ty·4, 64 + ty·4) and columns (tx·4, 64 + tx·4),
/// so that its shared-memory reads are 128-bit and conflict-free. K advances in slabs of 8: the group stages
/// an 8 × 128 slab of op(a) and op(b) in shared memory (k-major, rows padded to 132 floats, 4 KB each) from registers that were filled
/// (with 128-bit global loads where the operand is aligned) while the previous slab was being multiplied;
/// then every thread runs 8 hand-unrolled rank-1 updates of 64 multiply-adds (contracted to FMA by ptxas).
/// Each c element is the sum over k in increasing order, so results do not depend on the launch.
/// Ragged edges are zero-padded in shared memory and masked on store.
/// </summary>
internal static class GemmSimt
{
    /// <summary>Rows and columns of c per group.</summary>
    public const int Tile = 128;

    /// <summary>The K depth of one shared-memory slab.</summary>
    public const int Depth = 8;

    /// <summary>Threads per group.</summary>
    public const int Threads = 256;

    /// <summary>
    /// Floats per k row of a staged slab: 4 of padding put the two k rows that a warp's transposing stores
    /// (<see cref="Put"/> with deep = true) write into different banks; rows stay 16-byte aligned.
    /// </summary>
    const int Pitch = Tile + 4;

    /// <summary>The 8 × 8 accumulators of one thread: row i, left (L, columns tx·4…) or right (R, 64 + tx·4…) half.</summary>
    struct Block
    {
        public Float4 R0L, R0R, R1L, R1R, R2L, R2R, R3L, R3R, R4L, R4R, R5L, R5R, R6L, R6R, R7L, R7R;
    }

    /// <summary>The kernel: grid (⌈N/128⌉, ⌈M/128⌉, batch), groups of 256.</summary>
    public static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p)
    {
        var sa4 = SharedMemory.Allocate<Float4>(Depth * Pitch / 4);
        var sb4 = SharedMemory.Allocate<Float4>(Depth * Pitch / 4);
        var sa = sa4.Cast<float>();
        var sb = sb4.Cast<float>();

        int tid = Group.IdxX, tx = tid % 16, ty = tid / 16;
        int col0 = Grid.IdxX * Tile, row0 = Grid.IdxY * Tile, batch = Grid.IdxZ;
        long baseA = (long)batch * p.BatchStrideA, baseB = (long)batch * p.BatchStrideB;
        long baseC = (long)batch * p.M * p.N;

        // The next slab is fetched into registers while the current one is multiplied, hiding global latency.
        bool deepA = p.TransA == 0, deepB = p.TransB != 0;
        var nextA = Fetch(a, baseA, p.M, row0, 0, p.K, p.VectorA, tid, deepA);
        var nextB = Fetch(b, baseB, p.N, col0, 0, p.K, p.VectorB, tid, deepB);
        var acc = default(Block);
        for (int k0 = 0; k0 < p.K; k0 += Depth)
        {
            Put(sa, nextA, tid, deepA);
            Put(sb, nextB, tid, deepB);
            Group.Barrier();
            if (k0 + Depth < p.K)
            {
                nextA = Fetch(a, baseA, p.M, row0, k0 + Depth, p.K, p.VectorA, tid, deepA);
                nextB = Fetch(b, baseB, p.N, col0, k0 + Depth, p.K, p.VectorB, tid, deepB);
            }

            Step(ref acc, sa4, sb4, 0, tx, ty);
            Step(ref acc, sa4, sb4, 1, tx, ty);
            Step(ref acc, sa4, sb4, 2, tx, ty);
            Step(ref acc, sa4, sb4, 3, tx, ty);
            Step(ref acc, sa4, sb4, 4, tx, ty);
            Step(ref acc, sa4, sb4, 5, tx, ty);
            Step(ref acc, sa4, sb4, 6, tx, ty);
            Step(ref acc, sa4, sb4, 7, tx, ty);
            Group.Barrier();
        }

        int r = row0 + ty * 4, r2 = r + 64, cl = col0 + tx * 4, cr = cl + 64;
        Store(c, baseC, p, r, cl, acc.R0L); Store(c, baseC, p, r, cr, acc.R0R);
        Store(c, baseC, p, r + 1, cl, acc.R1L); Store(c, baseC, p, r + 1, cr, acc.R1R);
        Store(c, baseC, p, r + 2, cl, acc.R2L); Store(c, baseC, p, r + 2, cr, acc.R2R);
        Store(c, baseC, p, r + 3, cl, acc.R3L); Store(c, baseC, p, r + 3, cr, acc.R3R);
        Store(c, baseC, p, r2, cl, acc.R4L); Store(c, baseC, p, r2, cr, acc.R4R);
        Store(c, baseC, p, r2 + 1, cl, acc.R5L); Store(c, baseC, p, r2 + 1, cr, acc.R5R);
        Store(c, baseC, p, r2 + 2, cl, acc.R6L); Store(c, baseC, p, r2 + 2, cr, acc.R6R);
        Store(c, baseC, p, r2 + 3, cl, acc.R7L); Store(c, baseC, p, r2 + 3, cr, acc.R7R);
    }

    /// <summary>One rank-1 update: 8 values of op(a)'s column k and 8 of op(b)'s row k, 64 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step(ref Block acc, ArrayView<Float4> sa4, ArrayView<Float4> sb4, int k, int tx, int ty)
    {
        var a0 = sa4[k * (Pitch / 4) + ty];
        var a1 = sa4[k * (Pitch / 4) + 16 + ty];
        var b0 = sb4[k * (Pitch / 4) + tx];
        var b1 = sb4[k * (Pitch / 4) + 16 + tx];
        acc.R0L = Float4.Fma(a0.X, b0, acc.R0L); acc.R0R = Float4.Fma(a0.X, b1, acc.R0R);
        acc.R1L = Float4.Fma(a0.Y, b0, acc.R1L); acc.R1R = Float4.Fma(a0.Y, b1, acc.R1R);
        acc.R2L = Float4.Fma(a0.Z, b0, acc.R2L); acc.R2R = Float4.Fma(a0.Z, b1, acc.R2R);
        acc.R3L = Float4.Fma(a0.W, b0, acc.R3L); acc.R3R = Float4.Fma(a0.W, b1, acc.R3R);
        acc.R4L = Float4.Fma(a1.X, b0, acc.R4L); acc.R4R = Float4.Fma(a1.X, b1, acc.R4R);
        acc.R5L = Float4.Fma(a1.Y, b0, acc.R5L); acc.R5R = Float4.Fma(a1.Y, b1, acc.R5R);
        acc.R6L = Float4.Fma(a1.Z, b0, acc.R6L); acc.R6R = Float4.Fma(a1.Z, b1, acc.R6R);
        acc.R7L = Float4.Fma(a1.W, b0, acc.R7L); acc.R7R = Float4.Fma(a1.W, b1, acc.R7R);
    }

    /// <summary>
    /// This thread's 4 elements of one 128 × 8 slab of op(x), zero outside the matrix. With
    /// <paramref name="deep"/> the operand is stored w-major (element (w, k) at w·depth + k: a, or b transposed)
    /// and the thread reads 4 consecutive k of row w = tid / 2; otherwise it is stored k-major (element (w, k)
    /// at k·wide + w: a transposed, or b) and the thread reads 4 consecutive w of row k = tid / 32. Either way
    /// one 128-bit load when the operand is aligned and the 4 elements are in range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Float4 Fetch(ArrayView<float> x, long xBase, int wide, int w0, int k0, int depth, int vector, int tid, bool deep)
    {
        int w = deep ? tid / 2 : (tid % 32) * 4, k = deep ? (tid % 2) * 4 : tid / 32;
        int gw = w0 + w, gk = k0 + k;
        long at = xBase + (deep ? (long)gw * depth + gk : (long)gk * wide + gw);
        // In range along the row the 4 elements run along, and the row itself in range.
        int run = deep ? gk : gw, runEnd = deep ? depth : wide;
        bool rowIn = deep ? gw < wide : gk < depth;
        if (rowIn && run + 3 < runEnd && vector != 0) return x.Cast<Float4>()[at / 4];
        return new Float4(
            rowIn && run < runEnd ? x[at] : 0f,
            rowIn && run + 1 < runEnd ? x[at + 1] : 0f,
            rowIn && run + 2 < runEnd ? x[at + 2] : 0f,
            rowIn && run + 3 < runEnd ? x[at + 3] : 0f);
    }

    /// <summary>Stores what <see cref="Fetch"/> returned into the k-major slab s[k][w] (transposing when <paramref name="deep"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<float> s, Float4 v, int tid, bool deep)
    {
        if (deep)
        {
            int w = tid / 2, k = (tid % 2) * 4;
            s[k * Pitch + w] = v.X;
            s[(k + 1) * Pitch + w] = v.Y;
            s[(k + 2) * Pitch + w] = v.Z;
            s[(k + 3) * Pitch + w] = v.W;
        }
        else
        {
            int k = tid / 32, w = (tid % 32) * 4;
            int at = k * Pitch + w;
            s[at] = v.X;
            s[at + 1] = v.Y;
            s[at + 2] = v.Z;
            s[at + 3] = v.W;
        }
    }

    /// <summary>Writes (or adds) 4 consecutive columns of one row of c, masked at the edges.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(ArrayView<float> c, long baseC, GemmArgs p, int row, int col, Float4 v)
    {
        if (row >= p.M) return;
        long at = baseC + (long)row * p.N + col;
        if (col + 3 < p.N && p.VectorC != 0)
        {
            var c4 = c.Cast<Float4>();
            if (p.Accumulate != 0)
            {
                var old = c4[at / 4];
                v = new Float4(old.X + v.X, old.Y + v.Y, old.Z + v.Z, old.W + v.W);
            }
            c4[at / 4] = v;
            return;
        }
        StoreOne(c, at, col, p, v.X);
        StoreOne(c, at + 1, col + 1, p, v.Y);
        StoreOne(c, at + 2, col + 2, p, v.Z);
        StoreOne(c, at + 3, col + 3, p, v.W);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreOne(ArrayView<float> c, long at, int col, GemmArgs p, float v)
    {
        if (col >= p.N) return;
        c[at] = p.Accumulate != 0 ? c[at] + v : v;
    }
}
