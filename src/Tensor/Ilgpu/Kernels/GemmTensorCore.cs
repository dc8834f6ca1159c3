using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// GEMM on tensor cores through inline PTX <c>mma.sync</c>, float32 accumulation. A group of 128 threads
/// (4 warps, 2 × 2) computes a 64 × 64 tile of c; each warp a 32 × 32 sub-tile as 2 × 4 <c>mma</c> tiles of
/// 16 × 8. The group stages slabs of op(a) and op(b) as float32 in shared memory (64 rows × k, k contiguous,
/// rows padded so that fragment reads hit distinct banks): 16 deep for tf32 (two <c>m16n8k8</c> steps), 32
/// deep for bf16 (two <c>m16n8k16</c> steps); each slab is loaded into registers while the previous one
/// is being multiplied. At each step a thread reads its A and B fragments and converts
/// them with <c>cvt.rna.tf32.f32</c> or <c>cvt.rn.bf16x2.f32</c> straight into PTX registers that the kernel
/// declares itself (<c>fa0…fa7</c>, <c>fb0…fb7</c>), which the 8 <c>mma</c>s read; the 32 accumulators per
/// thread are declared registers too (<c>tc0…tc31</c>) and are read out once after the loop. No operand
/// or accumulator passes through an <c>out</c> argument, which ILGPU would route through <c>.local</c> memory.
/// <para>
/// On any accelerator but CUDA, <see cref="CudaAsm.IsSupported"/> is false and each <c>mma</c> is emulated by
/// <see cref="MmaEmulated"/> with warp shuffles, reproducing the PTX fragment layout exactly, and the inputs
/// are rounded as the <c>cvt</c>s round them (<see cref="RoundTf32"/>, <see cref="RoundBf16"/>; needs a warp of
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

    /// <summary>Row pitch (floats) of a staged tf32 slab: 16 k + 4 padding, so g·20 + t hits 32 distinct banks.</summary>
    const int PitchTf32 = 20;

    /// <summary>Row pitch (floats) of a staged bf16 slab: 32 k + 8 padding, so pairs at g·40 + 2t fill 2 wavefronts exactly.</summary>
    const int PitchBf16 = 40;

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
        var sa = SharedMemory.Allocate<float>(Tile * PitchBf16);
        var sb = SharedMemory.Allocate<float>(Tile * PitchBf16);
        int tid = Group.IdxX, lane = tid % 32, warp = tid / 32;
        int g = lane / 4, t = lane % 4;
        int warpRow = (warp / 2) * 32, warpCol = (warp % 2) * 32;
        int col0 = Grid.IdxX * Tile, row0 = Grid.IdxY * Tile, batch = Grid.IdxZ;
        long baseA = (long)batch * p.BatchStrideA, baseB = (long)batch * p.BatchStrideB;
        long baseC = (long)batch * p.M * p.N;
        int depth = bf16 ? 32 : 16, pitch = bf16 ? PitchBf16 : PitchTf32;

        var acc = default(Fragments);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(".reg .f32 tc<32>;");
            CudaAsm.Emit(".reg .b32 fa<8>;");
            CudaAsm.Emit(".reg .b32 fb<8>;");
            CudaAsm.Emit("mov.f32 tc0, 0f00000000; mov.f32 tc1, 0f00000000; mov.f32 tc2, 0f00000000; mov.f32 tc3, 0f00000000; " +
                "mov.f32 tc4, 0f00000000; mov.f32 tc5, 0f00000000; mov.f32 tc6, 0f00000000; mov.f32 tc7, 0f00000000; mov.f32 tc8, " +
                "0f00000000; mov.f32 tc9, 0f00000000; mov.f32 tc10, 0f00000000; mov.f32 tc11, 0f00000000; mov.f32 tc12, 0f00000000; " +
                "mov.f32 tc13, 0f00000000; mov.f32 tc14, 0f00000000; mov.f32 tc15, 0f00000000; mov.f32 tc16, 0f00000000; mov.f32 tc17, " +
                "0f00000000; mov.f32 tc18, 0f00000000; mov.f32 tc19, 0f00000000; mov.f32 tc20, 0f00000000; mov.f32 tc21, 0f00000000; " +
                "mov.f32 tc22, 0f00000000; mov.f32 tc23, 0f00000000; mov.f32 tc24, 0f00000000; mov.f32 tc25, 0f00000000; mov.f32 tc26, " +
                "0f00000000; mov.f32 tc27, 0f00000000; mov.f32 tc28, 0f00000000; mov.f32 tc29, 0f00000000; mov.f32 tc30, 0f00000000; " +
                "mov.f32 tc31, 0f00000000;");
        }

        // The next slab is fetched into registers while the current one is multiplied, hiding global latency.
        bool deepA = p.TransA == 0, deepB = p.TransB != 0;
        var nextA = Fetch(a, baseA, p.M, row0, 0, p.K, deepA, bf16, tid);
        var nextB = Fetch(b, baseB, p.N, col0, 0, p.K, deepB, bf16, tid);
        for (int k0 = 0; k0 < p.K; k0 += depth)
        {
            Put(sa, nextA, deepA, bf16, pitch, tid);
            Put(sb, nextB, deepB, bf16, pitch, tid);
            Group.Barrier();
            if (k0 + depth < p.K)
            {
                nextA = Fetch(a, baseA, p.M, row0, k0 + depth, p.K, deepA, bf16, tid);
                nextB = Fetch(b, baseB, p.N, col0, k0 + depth, p.K, deepB, bf16, tid);
            }
            if (bf16)
            {
                StepBf16(sa, sb, ref acc, warpRow, warpCol, g, t, 0);
                StepBf16(sa, sb, ref acc, warpRow, warpCol, g, t, 16);
            }
            else
            {
                StepTf32(sa, sb, ref acc, warpRow, warpCol, g, t, 0);
                StepTf32(sa, sb, ref acc, warpRow, warpCol, g, t, 8);
            }
            Group.Barrier();
        }

        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc0;", out float x0);
            CudaAsm.Emit("mov.f32 %0, tc1;", out float y0);
            CudaAsm.Emit("mov.f32 %0, tc2;", out float z0);
            CudaAsm.Emit("mov.f32 %0, tc3;", out float w0);
            acc.T00 = new Float4(x0, y0, z0, w0);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 0, acc.T00);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc4;", out float x1);
            CudaAsm.Emit("mov.f32 %0, tc5;", out float y1);
            CudaAsm.Emit("mov.f32 %0, tc6;", out float z1);
            CudaAsm.Emit("mov.f32 %0, tc7;", out float w1);
            acc.T01 = new Float4(x1, y1, z1, w1);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 8, acc.T01);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc8;", out float x2);
            CudaAsm.Emit("mov.f32 %0, tc9;", out float y2);
            CudaAsm.Emit("mov.f32 %0, tc10;", out float z2);
            CudaAsm.Emit("mov.f32 %0, tc11;", out float w2);
            acc.T02 = new Float4(x2, y2, z2, w2);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 16, acc.T02);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc12;", out float x3);
            CudaAsm.Emit("mov.f32 %0, tc13;", out float y3);
            CudaAsm.Emit("mov.f32 %0, tc14;", out float z3);
            CudaAsm.Emit("mov.f32 %0, tc15;", out float w3);
            acc.T03 = new Float4(x3, y3, z3, w3);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 0, col0 + warpCol + 24, acc.T03);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc16;", out float x4);
            CudaAsm.Emit("mov.f32 %0, tc17;", out float y4);
            CudaAsm.Emit("mov.f32 %0, tc18;", out float z4);
            CudaAsm.Emit("mov.f32 %0, tc19;", out float w4);
            acc.T10 = new Float4(x4, y4, z4, w4);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 0, acc.T10);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc20;", out float x5);
            CudaAsm.Emit("mov.f32 %0, tc21;", out float y5);
            CudaAsm.Emit("mov.f32 %0, tc22;", out float z5);
            CudaAsm.Emit("mov.f32 %0, tc23;", out float w5);
            acc.T11 = new Float4(x5, y5, z5, w5);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 8, acc.T11);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc24;", out float x6);
            CudaAsm.Emit("mov.f32 %0, tc25;", out float y6);
            CudaAsm.Emit("mov.f32 %0, tc26;", out float z6);
            CudaAsm.Emit("mov.f32 %0, tc27;", out float w6);
            acc.T12 = new Float4(x6, y6, z6, w6);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 16, acc.T12);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mov.f32 %0, tc28;", out float x7);
            CudaAsm.Emit("mov.f32 %0, tc29;", out float y7);
            CudaAsm.Emit("mov.f32 %0, tc30;", out float z7);
            CudaAsm.Emit("mov.f32 %0, tc31;", out float w7);
            acc.T13 = new Float4(x7, y7, z7, w7);
        }
        StoreFragment(c, baseC, p, row0 + warpRow + 16, col0 + warpCol + 24, acc.T13);
    }

    /// <summary>One k8 step of the warp's 2 × 4 tf32 tiles, from column <paramref name="k"/> of the slab.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StepTf32(ArrayView<float> sa, ArrayView<float> sb, ref Fragments acc, int warpRow, int warpCol, int g, int t, int k)
    {
        const int P = PitchTf32;
        int ra = (warpRow + g) * P + k + t, rb = (warpCol + g) * P + k + t;
        // A: a0 = (g, t), a1 = (g + 8, t), a2 = (g, t + 4), a3 = (g + 8, t + 4); B: b0 = (k t, n g), b1 = (t + 4, g).
        float x00 = sa[ra], x01 = sa[ra + 8 * P], x02 = sa[ra + 4], x03 = sa[ra + 8 * P + 4];
        float x10 = sa[ra + 16 * P], x11 = sa[ra + 24 * P], x12 = sa[ra + 16 * P + 4], x13 = sa[ra + 24 * P + 4];
        float y00 = sb[rb], y01 = sb[rb + 4], y10 = sb[rb + 8 * P], y11 = sb[rb + 8 * P + 4];
        float y20 = sb[rb + 16 * P], y21 = sb[rb + 16 * P + 4], y30 = sb[rb + 24 * P], y31 = sb[rb + 24 * P + 4];
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rna.tf32.f32 fa0, %0; cvt.rna.tf32.f32 fa1, %1; cvt.rna.tf32.f32 fa2, %2; cvt.rna.tf32.f32 fa3, %3; " +
                "cvt.rna.tf32.f32 fa4, %4; cvt.rna.tf32.f32 fa5, %5; cvt.rna.tf32.f32 fa6, %6; cvt.rna.tf32.f32 fa7, %7;",
                x00, x01, x02, x03, x10, x11, x12, x13);
            CudaAsm.Emit("cvt.rna.tf32.f32 fb0, %0; cvt.rna.tf32.f32 fb1, %1; cvt.rna.tf32.f32 fb2, %2; cvt.rna.tf32.f32 fb3, %3; " +
                "cvt.rna.tf32.f32 fb4, %4; cvt.rna.tf32.f32 fb5, %5; cvt.rna.tf32.f32 fb6, %6; cvt.rna.tf32.f32 fb7, %7;",
                y00, y01, y10, y11, y20, y21, y30, y31);
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc0,tc1,tc2,tc3}, {fa0,fa1,fa2,fa3}, {fb0,fb1}, " +
                    "{tc0,tc1,tc2,tc3};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc4,tc5,tc6,tc7}, {fa0,fa1,fa2,fa3}, {fb2,fb3}, " +
                    "{tc4,tc5,tc6,tc7};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc8,tc9,tc10,tc11}, {fa0,fa1,fa2,fa3}, {fb4,fb5}, " +
                    "{tc8,tc9,tc10,tc11};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc12,tc13,tc14,tc15}, {fa0,fa1,fa2,fa3}, {fb6,fb7}, " +
                    "{tc12,tc13,tc14,tc15};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc16,tc17,tc18,tc19}, {fa4,fa5,fa6,fa7}, {fb0,fb1}, " +
                    "{tc16,tc17,tc18,tc19};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc20,tc21,tc22,tc23}, {fa4,fa5,fa6,fa7}, {fb2,fb3}, " +
                    "{tc20,tc21,tc22,tc23};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc24,tc25,tc26,tc27}, {fa4,fa5,fa6,fa7}, {fb4,fb5}, " +
                    "{tc24,tc25,tc26,tc27};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {tc28,tc29,tc30,tc31}, {fa4,fa5,fa6,fa7}, {fb6,fb7}, " +
                    "{tc28,tc29,tc30,tc31};");
        }
        else
        {
            uint a00 = RoundTf32(x00), a01 = RoundTf32(x01), a02 = RoundTf32(x02), a03 = RoundTf32(x03);
            uint a10 = RoundTf32(x10), a11 = RoundTf32(x11), a12 = RoundTf32(x12), a13 = RoundTf32(x13);
            uint b00 = RoundTf32(y00), b01 = RoundTf32(y01), b10 = RoundTf32(y10), b11 = RoundTf32(y11);
            uint b20 = RoundTf32(y20), b21 = RoundTf32(y21), b30 = RoundTf32(y30), b31 = RoundTf32(y31);
            const bool bf16 = false;
            acc.T00 = MmaEmulated(acc.T00, a00, a01, a02, a03, b00, b01, bf16);
            acc.T01 = MmaEmulated(acc.T01, a00, a01, a02, a03, b10, b11, bf16);
            acc.T02 = MmaEmulated(acc.T02, a00, a01, a02, a03, b20, b21, bf16);
            acc.T03 = MmaEmulated(acc.T03, a00, a01, a02, a03, b30, b31, bf16);
            acc.T10 = MmaEmulated(acc.T10, a10, a11, a12, a13, b00, b01, bf16);
            acc.T11 = MmaEmulated(acc.T11, a10, a11, a12, a13, b10, b11, bf16);
            acc.T12 = MmaEmulated(acc.T12, a10, a11, a12, a13, b20, b21, bf16);
            acc.T13 = MmaEmulated(acc.T13, a10, a11, a12, a13, b30, b31, bf16);
        }
    }

    /// <summary>One k16 step of the warp's 2 × 4 bf16 tiles, from column <paramref name="k"/> of the slab.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StepBf16(ArrayView<float> sa, ArrayView<float> sb, ref Fragments acc, int warpRow, int warpCol, int g, int t, int k)
    {
        const int P = PitchBf16;
        int ra = (warpRow + g) * P + k + 2 * t, rb = (warpCol + g) * P + k + 2 * t;
        // Each register holds the pair (k, k + 1), the lower k in the low half. A: a0 = (g, 2t…), a1 = (g + 8, 2t…),
        // a2 = (g, 2t + 8…), a3 = (g + 8, 2t + 8…); B: b0 = (k 2t…, n g), b1 = (2t + 8…, g).
        float x00 = sa[ra], x00h = sa[ra + 1], x01 = sa[ra + 8 * P], x01h = sa[ra + 8 * P + 1];
        float x02 = sa[ra + 8], x02h = sa[ra + 9], x03 = sa[ra + 8 * P + 8], x03h = sa[ra + 8 * P + 9];
        float x10 = sa[ra + 16 * P], x10h = sa[ra + 16 * P + 1], x11 = sa[ra + 24 * P], x11h = sa[ra + 24 * P + 1];
        float x12 = sa[ra + 16 * P + 8], x12h = sa[ra + 16 * P + 9], x13 = sa[ra + 24 * P + 8], x13h = sa[ra + 24 * P + 9];
        float y00 = sb[rb], y00h = sb[rb + 1], y01 = sb[rb + 8], y01h = sb[rb + 9];
        float y10 = sb[rb + 8 * P], y10h = sb[rb + 8 * P + 1], y11 = sb[rb + 8 * P + 8], y11h = sb[rb + 8 * P + 9];
        float y20 = sb[rb + 16 * P], y20h = sb[rb + 16 * P + 1], y21 = sb[rb + 16 * P + 8], y21h = sb[rb + 16 * P + 9];
        float y30 = sb[rb + 24 * P], y30h = sb[rb + 24 * P + 1], y31 = sb[rb + 24 * P + 8], y31h = sb[rb + 24 * P + 9];
        if (CudaAsm.IsSupported)
        {
            // cvt.rn.bf16x2.f32 d, hi, lo puts hi in the upper half.
            CudaAsm.Emit("cvt.rn.bf16x2.f32 fa0, %1, %0; cvt.rn.bf16x2.f32 fa1, %3, %2; cvt.rn.bf16x2.f32 fa2, %5, %4; " +
                "cvt.rn.bf16x2.f32 fa3, %7, %6;",
                x00, x00h, x01, x01h, x02, x02h, x03, x03h);
            CudaAsm.Emit("cvt.rn.bf16x2.f32 fa4, %1, %0; cvt.rn.bf16x2.f32 fa5, %3, %2; cvt.rn.bf16x2.f32 fa6, %5, %4; " +
                "cvt.rn.bf16x2.f32 fa7, %7, %6;",
                x10, x10h, x11, x11h, x12, x12h, x13, x13h);
            CudaAsm.Emit("cvt.rn.bf16x2.f32 fb0, %1, %0; cvt.rn.bf16x2.f32 fb1, %3, %2; cvt.rn.bf16x2.f32 fb2, %5, %4; " +
                "cvt.rn.bf16x2.f32 fb3, %7, %6;",
                y00, y00h, y01, y01h, y10, y10h, y11, y11h);
            CudaAsm.Emit("cvt.rn.bf16x2.f32 fb4, %1, %0; cvt.rn.bf16x2.f32 fb5, %3, %2; cvt.rn.bf16x2.f32 fb6, %5, %4; " +
                "cvt.rn.bf16x2.f32 fb7, %7, %6;",
                y20, y20h, y21, y21h, y30, y30h, y31, y31h);
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc0,tc1,tc2,tc3}, {fa0,fa1,fa2,fa3}, {fb0,fb1}, " +
                    "{tc0,tc1,tc2,tc3};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc4,tc5,tc6,tc7}, {fa0,fa1,fa2,fa3}, {fb2,fb3}, " +
                    "{tc4,tc5,tc6,tc7};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc8,tc9,tc10,tc11}, {fa0,fa1,fa2,fa3}, {fb4,fb5}, " +
                    "{tc8,tc9,tc10,tc11};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc12,tc13,tc14,tc15}, {fa0,fa1,fa2,fa3}, {fb6,fb7}, " +
                    "{tc12,tc13,tc14,tc15};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc16,tc17,tc18,tc19}, {fa4,fa5,fa6,fa7}, {fb0,fb1}, " +
                    "{tc16,tc17,tc18,tc19};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc20,tc21,tc22,tc23}, {fa4,fa5,fa6,fa7}, {fb2,fb3}, " +
                    "{tc20,tc21,tc22,tc23};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc24,tc25,tc26,tc27}, {fa4,fa5,fa6,fa7}, {fb4,fb5}, " +
                    "{tc24,tc25,tc26,tc27};");
                CudaAsm.Emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {tc28,tc29,tc30,tc31}, {fa4,fa5,fa6,fa7}, {fb6,fb7}, " +
                    "{tc28,tc29,tc30,tc31};");
        }
        else
        {
            uint a00 = Pack(x00, x00h), a01 = Pack(x01, x01h), a02 = Pack(x02, x02h), a03 = Pack(x03, x03h);
            uint a10 = Pack(x10, x10h), a11 = Pack(x11, x11h), a12 = Pack(x12, x12h), a13 = Pack(x13, x13h);
            uint b00 = Pack(y00, y00h), b01 = Pack(y01, y01h), b10 = Pack(y10, y10h), b11 = Pack(y11, y11h);
            uint b20 = Pack(y20, y20h), b21 = Pack(y21, y21h), b30 = Pack(y30, y30h), b31 = Pack(y31, y31h);
            const bool bf16 = true;
            acc.T00 = MmaEmulated(acc.T00, a00, a01, a02, a03, b00, b01, bf16);
            acc.T01 = MmaEmulated(acc.T01, a00, a01, a02, a03, b10, b11, bf16);
            acc.T02 = MmaEmulated(acc.T02, a00, a01, a02, a03, b20, b21, bf16);
            acc.T03 = MmaEmulated(acc.T03, a00, a01, a02, a03, b30, b31, bf16);
            acc.T10 = MmaEmulated(acc.T10, a10, a11, a12, a13, b00, b01, bf16);
            acc.T11 = MmaEmulated(acc.T11, a10, a11, a12, a13, b10, b11, bf16);
            acc.T12 = MmaEmulated(acc.T12, a10, a11, a12, a13, b20, b21, bf16);
            acc.T13 = MmaEmulated(acc.T13, a10, a11, a12, a13, b30, b31, bf16);
        }
    }

    /// <summary>One thread's share of a slab: 8 floats (tf32) or 16 (bf16), elements tid + 128·i.</summary>
    struct Share
    {
        public Float4 P0, P1, P2, P3;
    }

    /// <summary>
    /// Loads this thread's share of one slab (64 rows of op(x) × 16 or 32 k), zero outside the matrix. Element e
    /// of the slab is row e / depth, column e % depth when <paramref name="deepRows"/> (element (w, k) at w·K + k:
    /// a, or b transposed), else row e % 64, column e / 64 (element (w, k) at k·wide + w): consecutive threads
    /// read consecutive addresses either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Share Fetch(ArrayView<float> x, long xBase, int wide, int w0, int k0, int kTotal, bool deepRows, bool bf16, int tid)
    {
        var r = default(Share);
        r.P0 = new Float4(
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + Threads),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 2 * Threads),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 3 * Threads));
        r.P1 = new Float4(
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 4 * Threads),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 5 * Threads),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 6 * Threads),
            Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 7 * Threads));
        if (bf16)
        {
            r.P2 = new Float4(
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 8 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 9 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 10 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 11 * Threads));
            r.P3 = new Float4(
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 12 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 13 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 14 * Threads),
                Element(x, xBase, wide, w0, k0, kTotal, deepRows, bf16, tid + 15 * Threads));
        }
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Element(ArrayView<float> x, long xBase, int wide, int w0, int k0, int kTotal, bool deepRows, bool bf16, int e)
    {
        int depth = bf16 ? 32 : 16;
        int gw = w0 + (deepRows ? e / depth : e % Tile), gk = k0 + (deepRows ? e % depth : e / Tile);
        if (gw >= wide || gk >= kTotal) return 0f;
        return x[xBase + (deepRows ? (long)gw * kTotal + gk : (long)gk * wide + gw)];
    }

    /// <summary>Stores what <see cref="Fetch"/> returned into the slab s[w·pitch + k].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<float> s, Share r, bool deepRows, bool bf16, int pitch, int tid)
    {
        Place(s, r.P0.X, deepRows, bf16, pitch, tid);
        Place(s, r.P0.Y, deepRows, bf16, pitch, tid + Threads);
        Place(s, r.P0.Z, deepRows, bf16, pitch, tid + 2 * Threads);
        Place(s, r.P0.W, deepRows, bf16, pitch, tid + 3 * Threads);
        Place(s, r.P1.X, deepRows, bf16, pitch, tid + 4 * Threads);
        Place(s, r.P1.Y, deepRows, bf16, pitch, tid + 5 * Threads);
        Place(s, r.P1.Z, deepRows, bf16, pitch, tid + 6 * Threads);
        Place(s, r.P1.W, deepRows, bf16, pitch, tid + 7 * Threads);
        if (!bf16) return;
        Place(s, r.P2.X, deepRows, bf16, pitch, tid + 8 * Threads);
        Place(s, r.P2.Y, deepRows, bf16, pitch, tid + 9 * Threads);
        Place(s, r.P2.Z, deepRows, bf16, pitch, tid + 10 * Threads);
        Place(s, r.P2.W, deepRows, bf16, pitch, tid + 11 * Threads);
        Place(s, r.P3.X, deepRows, bf16, pitch, tid + 12 * Threads);
        Place(s, r.P3.Y, deepRows, bf16, pitch, tid + 13 * Threads);
        Place(s, r.P3.Z, deepRows, bf16, pitch, tid + 14 * Threads);
        Place(s, r.P3.W, deepRows, bf16, pitch, tid + 15 * Threads);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Place(ArrayView<float> s, float v, bool deepRows, bool bf16, int pitch, int e)
    {
        int depth = bf16 ? 32 : 16;
        int w = deepRows ? e / depth : e % Tile, kk = deepRows ? e % depth : e / Tile;
        s[w * pitch + kk] = v;
    }

    /// <summary>What <c>cvt.rna.tf32.f32</c> computes for finite x: round to nearest, ties away from zero, to 10 mantissa bits.</summary>
    public static uint RoundTf32(float x) => (Interop.FloatAsInt(x) + 0x1000u) & 0xFFFFE000u;

    /// <summary>What <c>cvt.rn.bf16.f32</c> computes for finite x: round to nearest even, to 7 mantissa bits (the top 16 bits).</summary>
    public static uint RoundBf16(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    }

    /// <summary>What <c>cvt.rn.bf16x2.f32 d, hi, lo</c> computes: both rounded to bf16, hi in the upper half.</summary>
    static uint Pack(float lo, float hi) => (RoundBf16(hi) << 16) | RoundBf16(lo);

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
