using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// GEMM on tensor cores through inline PTX <c>mma.sync</c>, float32 accumulation. A group of 128 threads
/// (4 warps, 2 × 2) computes a 64 × 64 tile of c; each warp a 32 × 32 sub-tile as 2 × 4 <c>mma</c> tiles of
/// 16 × 8, whose 32 accumulators per thread live in PTX registers declared by the kernel itself
/// (<c>tc0…tc31</c>), so that no accumulator passes through <c>.local</c> memory. Each slab of op(a) and op(b)
/// (64 rows × 16 words, padded to 20 words per row so fragment reads are bank-conflict-free) is converted once
/// while it is staged: tf32 stores one rounded float per word and a slab is 16 deep (two <c>m16n8k8</c>
/// steps); bf16 packs two values per word (<c>cvt.rn.bf16x2.f32</c>) and a slab is 32 deep (two
/// <c>m16n8k16</c> steps). Both then read fragments with the same word indexing.
/// <para>
/// On any accelerator but CUDA, <see cref="CudaAsm.IsSupported"/> is false and each <c>mma</c> is emulated by
/// <see cref="MmaEmulated"/> with warp shuffles, reproducing the PTX fragment layout exactly (needs a warp of
/// 32): the CPU accelerator thereby tests the staging, fragment and epilogue logic of this very kernel. The
/// emulation sums each tile's products in increasing k in float32; the hardware's internal order and
/// rounding may differ in the last bits.
/// </para>
/// </summary>
internal static class GemmTensorCore
{
    /// <summary>Rows and columns of c per group.</summary>
    public const int Tile = 64;

    /// <summary>Threads per group (4 warps).</summary>
    public const int Threads = 128;

    /// <summary>32-bit words of k per slab row (16 tf32 values or 32 bf16 values).</summary>
    const int Words = 16;

    /// <summary>Row pitch of a staged slab in words (padding against bank conflicts).</summary>
    const int Pitch = Words + 4;

    /// <summary>The 2 × 4 accumulator fragments of one thread (emulation path; CUDA keeps them in registers).</summary>
    struct Fragments
    {
        public Float4 T00, T01, T02, T03, T10, T11, T12, T13;
    }

    /// <summary>tf32 entry point: grid (⌈N/64⌉, ⌈M/64⌉, batch), groups of 128.</summary>
    public static void KernelTf32(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p) => Body(a, b, c, p, false);

    /// <summary>bf16 entry point: grid (⌈N/64⌉, ⌈M/64⌉, batch), groups of 128.</summary>
    public static void KernelBf16(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p) => Body(a, b, c, p, true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Body(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p, bool bf16)
    {
        var sa = SharedMemory.Allocate<uint>(Tile * Pitch);
        var sb = SharedMemory.Allocate<uint>(Tile * Pitch);
        int tid = Group.IdxX, lane = tid % 32, warp = tid / 32;
        int g = lane / 4, t = lane % 4;
        int warpRow = (warp / 2) * 32, warpCol = (warp % 2) * 32;
        int col0 = Grid.IdxX * Tile, row0 = Grid.IdxY * Tile, batch = Grid.IdxZ;
        long baseA = (long)batch * p.BatchStrideA, baseB = (long)batch * p.BatchStrideB;
        long baseC = (long)batch * p.M * p.N;
        int depth = bf16 ? 2 * Words : Words;

        var acc = default(Fragments);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(".reg .f32 tc<32>;");
            CudaAsm.Emit("mov.b32 tc0, 0f00000000; mov.b32 tc1, 0f00000000; mov.b32 tc2, 0f00000000; mov.b32 tc3, 0f00000000; mov.b32 tc4, 0f00000000; mov.b32 tc5, 0f00000000; mov.b32 tc6, 0f00000000; mov.b32 tc7, 0f00000000; mov.b32 tc8, 0f00000000; mov.b32 tc9, 0f00000000; mov.b32 tc10, 0f00000000; mov.b32 tc11, 0f00000000; mov.b32 tc12, 0f00000000; mov.b32 tc13, 0f00000000; mov.b32 tc14, 0f00000000; mov.b32 tc15, 0f00000000; mov.b32 tc16, 0f00000000; mov.b32 tc17, 0f00000000; mov.b32 tc18, 0f00000000; mov.b32 tc19, 0f00000000; mov.b32 tc20, 0f00000000; mov.b32 tc21, 0f00000000; mov.b32 tc22, 0f00000000; mov.b32 tc23, 0f00000000; mov.b32 tc24, 0f00000000; mov.b32 tc25, 0f00000000; mov.b32 tc26, 0f00000000; mov.b32 tc27, 0f00000000; mov.b32 tc28, 0f00000000; mov.b32 tc29, 0f00000000; mov.b32 tc30, 0f00000000; mov.b32 tc31, 0f00000000;");
        }

        for (int k0 = 0; k0 < p.K; k0 += depth)
        {
            Stage(a, sa, baseA, p.M, row0, k0, p.K, p.TransA == 0, bf16, tid);
            Stage(b, sb, baseB, p.N, col0, k0, p.K, p.TransB != 0, bf16, tid);
            Group.Barrier();
            Step(sa, sb, ref acc, warpRow, warpCol, g, t, 0, bf16);
            Step(sa, sb, ref acc, warpRow, warpCol, g, t, Words / 2, bf16);
            Group.Barrier();
        }

        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc0;", out float x0);
            CudaAsm.Emit("mov.b32 %0, tc1;", out float y0);
            CudaAsm.Emit("mov.b32 %0, tc2;", out float z0);
            CudaAsm.Emit("mov.b32 %0, tc3;", out float w0);
            acc.T00 = new Float4(x0, y0, z0, w0);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 0, acc.T00);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc4;", out float x1);
            CudaAsm.Emit("mov.b32 %0, tc5;", out float y1);
            CudaAsm.Emit("mov.b32 %0, tc6;", out float z1);
            CudaAsm.Emit("mov.b32 %0, tc7;", out float w1);
            acc.T01 = new Float4(x1, y1, z1, w1);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 8, acc.T01);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc8;", out float x2);
            CudaAsm.Emit("mov.b32 %0, tc9;", out float y2);
            CudaAsm.Emit("mov.b32 %0, tc10;", out float z2);
            CudaAsm.Emit("mov.b32 %0, tc11;", out float w2);
            acc.T02 = new Float4(x2, y2, z2, w2);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 16, acc.T02);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc12;", out float x3);
            CudaAsm.Emit("mov.b32 %0, tc13;", out float y3);
            CudaAsm.Emit("mov.b32 %0, tc14;", out float z3);
            CudaAsm.Emit("mov.b32 %0, tc15;", out float w3);
            acc.T03 = new Float4(x3, y3, z3, w3);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 24, acc.T03);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc16;", out float x4);
            CudaAsm.Emit("mov.b32 %0, tc17;", out float y4);
            CudaAsm.Emit("mov.b32 %0, tc18;", out float z4);
            CudaAsm.Emit("mov.b32 %0, tc19;", out float w4);
            acc.T10 = new Float4(x4, y4, z4, w4);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 0, acc.T10);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc20;", out float x5);
            CudaAsm.Emit("mov.b32 %0, tc21;", out float y5);
            CudaAsm.Emit("mov.b32 %0, tc22;", out float z5);
            CudaAsm.Emit("mov.b32 %0, tc23;", out float w5);
            acc.T11 = new Float4(x5, y5, z5, w5);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 8, acc.T11);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc24;", out float x6);
            CudaAsm.Emit("mov.b32 %0, tc25;", out float y6);
            CudaAsm.Emit("mov.b32 %0, tc26;", out float z6);
            CudaAsm.Emit("mov.b32 %0, tc27;", out float w6);
            acc.T12 = new Float4(x6, y6, z6, w6);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 16, acc.T12);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.b32 %0, tc28;", out float x7);
            CudaAsm.Emit("mov.b32 %0, tc29;", out float y7);
            CudaAsm.Emit("mov.b32 %0, tc30;", out float z7);
            CudaAsm.Emit("mov.b32 %0, tc31;", out float w7);
            acc.T13 = new Float4(x7, y7, z7, w7);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 24, acc.T13);
    }

    /// <summary>One k step (8 for tf32, 16 for bf16) of the warp's 2 × 4 tiles, starting at word <paramref name="w0"/> of the slab.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step(ArrayView<uint> sa, ArrayView<uint> sb, ref Fragments acc, int warpRow, int warpCol, int g, int t, int w0, bool bf16)
    {
        int ra = (warpRow + g) * Pitch + w0 + t, rb = (warpCol + g) * Pitch + w0 + t;
        uint a00 = sa[ra], a01 = sa[ra + 8 * Pitch], a02 = sa[ra + 4], a03 = sa[ra + 8 * Pitch + 4];
        uint a10 = sa[ra + 16 * Pitch], a11 = sa[ra + 24 * Pitch], a12 = sa[ra + 16 * Pitch + 4], a13 = sa[ra + 24 * Pitch + 4];
        uint b00 = sb[rb], b01 = sb[rb + 4];
        uint b10 = sb[rb + 8 * Pitch], b11 = sb[rb + 8 * Pitch + 4];
        uint b20 = sb[rb + 16 * Pitch], b21 = sb[rb + 16 * Pitch + 4];
        uint b30 = sb[rb + 24 * Pitch], b31 = sb[rb + 24 * Pitch + 4];
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc0,tc1,tc2,tc3}, {%0,%1,%2,%3}, {%4,%5}, {tc0,tc1,tc2,tc3};", a00, a01, a02, a03, b00, b01);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc0,tc1,tc2,tc3}, {%0,%1,%2,%3}, {%4,%5}, {tc0,tc1,tc2,tc3};", a00, a01, a02, a03, b00, b01);
            }
            else acc.T00 = MmaEmulated(acc.T00, a00, a01, a02, a03, b00, b01, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc4,tc5,tc6,tc7}, {%0,%1,%2,%3}, {%4,%5}, {tc4,tc5,tc6,tc7};", a00, a01, a02, a03, b10, b11);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc4,tc5,tc6,tc7}, {%0,%1,%2,%3}, {%4,%5}, {tc4,tc5,tc6,tc7};", a00, a01, a02, a03, b10, b11);
            }
            else acc.T01 = MmaEmulated(acc.T01, a00, a01, a02, a03, b10, b11, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc8,tc9,tc10,tc11}, {%0,%1,%2,%3}, {%4,%5}, {tc8,tc9,tc10,tc11};", a00, a01, a02, a03, b20, b21);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc8,tc9,tc10,tc11}, {%0,%1,%2,%3}, {%4,%5}, {tc8,tc9,tc10,tc11};", a00, a01, a02, a03, b20, b21);
            }
            else acc.T02 = MmaEmulated(acc.T02, a00, a01, a02, a03, b20, b21, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc12,tc13,tc14,tc15}, {%0,%1,%2,%3}, {%4,%5}, {tc12,tc13,tc14,tc15};", a00, a01, a02, a03, b30, b31);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc12,tc13,tc14,tc15}, {%0,%1,%2,%3}, {%4,%5}, {tc12,tc13,tc14,tc15};", a00, a01, a02, a03, b30, b31);
            }
            else acc.T03 = MmaEmulated(acc.T03, a00, a01, a02, a03, b30, b31, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc16,tc17,tc18,tc19}, {%0,%1,%2,%3}, {%4,%5}, {tc16,tc17,tc18,tc19};", a10, a11, a12, a13, b00, b01);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc16,tc17,tc18,tc19}, {%0,%1,%2,%3}, {%4,%5}, {tc16,tc17,tc18,tc19};", a10, a11, a12, a13, b00, b01);
            }
            else acc.T10 = MmaEmulated(acc.T10, a10, a11, a12, a13, b00, b01, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc20,tc21,tc22,tc23}, {%0,%1,%2,%3}, {%4,%5}, {tc20,tc21,tc22,tc23};", a10, a11, a12, a13, b10, b11);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc20,tc21,tc22,tc23}, {%0,%1,%2,%3}, {%4,%5}, {tc20,tc21,tc22,tc23};", a10, a11, a12, a13, b10, b11);
            }
            else acc.T11 = MmaEmulated(acc.T11, a10, a11, a12, a13, b10, b11, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc24,tc25,tc26,tc27}, {%0,%1,%2,%3}, {%4,%5}, {tc24,tc25,tc26,tc27};", a10, a11, a12, a13, b20, b21);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc24,tc25,tc26,tc27}, {%0,%1,%2,%3}, {%4,%5}, {tc24,tc25,tc26,tc27};", a10, a11, a12, a13, b20, b21);
            }
            else acc.T12 = MmaEmulated(acc.T12, a10, a11, a12, a13, b20, b21, bf16);
            if (CudaAsm.IsSupported)
            {
                if (bf16) CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc28,tc29,tc30,tc31}, {%0,%1,%2,%3}, {%4,%5}, {tc28,tc29,tc30,tc31};", a10, a11, a12, a13, b30, b31);
                else CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc28,tc29,tc30,tc31}, {%0,%1,%2,%3}, {%4,%5}, {tc28,tc29,tc30,tc31};", a10, a11, a12, a13, b30, b31);
            }
            else acc.T13 = MmaEmulated(acc.T13, a10, a11, a12, a13, b30, b31, bf16);
    }

    /// <summary>
    /// Converts one slab (64 rows of op(x) × 16 words of k) into shared memory. <paramref name="deepRows"/>
    /// means element (w, k) is at w·depth + k (a, or b transposed), else at k·wide + w; threads walk the
    /// contiguous direction so that global loads coalesce.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(ArrayView<float> x, ArrayView<uint> s, long xBase, int wide, int w0, int k0, int depth, bool deepRows, bool bf16, int tid)
    {
        for (int e = tid; e < Tile * Words; e += Threads)
        {
            int w = deepRows ? e / Words : e % Tile;
            int word = deepRows ? e % Words : e / Tile;
            int gw = w0 + w;
            uint packed;
            if (bf16)
            {
                int gk = k0 + 2 * word;
                float lo = Load(x, xBase, wide, depth, gw, gk, deepRows), hi = Load(x, xBase, wide, depth, gw, gk + 1, deepRows);
                if (CudaAsm.IsSupported) CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out packed, hi, lo);
                else packed = (RoundBf16(hi) << 16) | RoundBf16(lo);
            }
            else
            {
                float v = Load(x, xBase, wide, depth, gw, k0 + word, deepRows);
                if (CudaAsm.IsSupported) CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out packed, v);
                else packed = RoundTf32(v);
            }
            s[w * Pitch + word] = packed;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Load(ArrayView<float> x, long xBase, int wide, int depth, int w, int k, bool deepRows)
    {
        if (w >= wide || k >= depth) return 0f;
        return x[xBase + (deepRows ? (long)w * depth + k : (long)k * wide + w)];
    }

    /// <summary>What <c>cvt.rna.tf32.f32</c> computes for finite x: round to nearest, ties away from zero, to 10 mantissa bits.</summary>
    public static uint RoundTf32(float x) => (Interop.FloatAsInt(x) + 0x1000u) & 0xFFFFE000u;

    /// <summary>What <c>cvt.rn.bf16.f32</c> computes for finite x: round to nearest even, to 7 mantissa bits (the top 16 bits).</summary>
    public static uint RoundBf16(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    }

    /// <summary>
    /// One warp-wide <c>mma.sync</c> (m16n8k8 tf32, or m16n8k16 bf16; row-major A, column-major B) emulated
    /// with shuffles. Lane = 4g + t holds A fragments a0 = (g, k₀), a1 = (g + 8, k₀), a2 = (g, k₀ + 4·s),
    /// a3 = (g + 8, k₀ + 4·s), B fragments b0 = (k₀, g), b1 = (k₀ + 4·s, g), and accumulators
    /// (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1), where k₀ = t and s = 1 for tf32, and k₀ = 2t
    /// (two values per word, the lower k in the low half) and s = 2 for bf16.
    /// </summary>
    static Float4 MmaEmulated(Float4 c, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1, bool bf16)
    {
        int lane = Warp.LaneIdx, g = lane / 4, t = lane % 4;
        int steps = bf16 ? 16 : 8, half = steps / 2;
        for (int k = 0; k < steps; k++)
        {
            bool upper = k >= half;
            int owner = bf16 ? (k % half) / 2 : k % half;
            uint top = Warp.Shuffle(upper ? a2 : a0, g * 4 + owner);
            uint bottom = Warp.Shuffle(upper ? a3 : a1, g * 4 + owner);
            uint left = Warp.Shuffle(upper ? b1 : b0, 2 * t * 4 + owner);
            uint right = Warp.Shuffle(upper ? b1 : b0, (2 * t + 1) * 4 + owner);
            float x0 = Value(top, k, bf16), x1 = Value(bottom, k, bf16);
            float y0 = Value(left, k, bf16), y1 = Value(right, k, bf16);
            c = new Float4(c.X + x0 * y0, c.Y + x0 * y1, c.Z + x1 * y0, c.W + x1 * y1);
        }
        return c;
    }

    static float Value(uint word, int k, bool bf16) =>
        Interop.IntAsFloat(!bf16 ? word : (k & 1) == 0 ? word << 16 : word & 0xFFFF0000u);

    /// <summary>Writes (or adds) one accumulator fragment: rows g and g + 8, columns 2t and 2t + 1 of a 16 × 8 tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreFragment(ArrayView<float> c, long baseC, GemmArgs p, int tileRow, int tileCol, Float4 v)
    {
        int lane = Group.IdxX % 32, row = tileRow + lane / 4, col = tileCol + 2 * (lane % 4);
        StoreOne(c, baseC, p, row, col, v.X);
        StoreOne(c, baseC, p, row, col + 1, v.Y);
        StoreOne(c, baseC, p, row + 8, col, v.Z);
        StoreOne(c, baseC, p, row + 8, col + 1, v.W);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreOne(ArrayView<float> c, long baseC, GemmArgs p, int row, int col, float v)
    {
        if (row >= p.M || col >= p.N) return;
        long at = baseC + (long)row * p.N + col;
        c[at] = p.Accumulate != 0 ? c[at] + v : v;
    }
}
