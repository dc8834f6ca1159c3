using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu.Kernels;

/// <summary>The dimensions of a (batched) product for <see cref="TiledMatmul"/>.</summary>
struct MatmulArgs
{
    public int Batch, M, N, K, TransA, TransB, BatchStrideA, BatchStrideB, Accumulate;
}

/// <summary>
/// The reference GPU matrix product: a group of T×T threads computes a 4T×4T block of C, staging 4T×16
/// panels of op(a) and 16×4T panels of op(b) in shared memory; each thread keeps a 4×4 block of
/// accumulators (rows ty + i·T, columns tx + j·T) in registers. The k loop runs in a fixed order. Correct
/// for any shape, transposes, batch strides (0 broadcasts an operand) and accumulation; simple rather
/// than fast. The register blocking matters most on ILGPU's CPU accelerator, where every barrier wakes
/// T² OS threads: 16 outputs per thread cut the barriers sixteen-fold.
/// </summary>
sealed class TiledMatmul
{
    /// <summary>Outputs per thread along each axis.</summary>
    const int R = 4;

    /// <summary>Depth of a k panel.</summary>
    const int Bk = 16;

    /// <summary>The largest group side; the shared panels are sized for it.</summary>
    const int MaxSide = 16;

    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulArgs> _kernel;

    internal TiledMatmul(Accelerator accelerator) =>
        _kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulArgs>(Kernel);

    /// <summary>c = op(a)·op(b) (or c += with accumulate) for every batch, with groups of at most <paramref name="maxThreads"/> threads.</summary>
    internal void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulPlan p, bool accumulate, int maxThreads)
    {
        int side = MaxSide;
        while (side > 1 && side * side > maxThreads) side /= 2;
        var args = new MatmulArgs
        {
            Batch = p.Batch, M = p.M, N = p.N, K = p.K, TransA = p.TransA ? 1 : 0, TransB = p.TransB ? 1 : 0,
            BatchStrideA = p.BatchStrideA, BatchStrideB = p.BatchStrideB, Accumulate = accumulate ? 1 : 0,
        };
        int block = side * R;
        var grid = new Index3D((p.N + block - 1) / block, (p.M + block - 1) / block, Math.Min(p.Batch, 65535));
        _kernel(new KernelConfig(grid, new Index3D(side, side, 1)), a, b, c, args);
    }

    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulArgs p)
    {
        var sa = SharedMemory.Allocate<float>(MaxSide * R * Bk);
        var sb = SharedMemory.Allocate<float>(Bk * MaxSide * R);
        int t = Group.DimX, tx = Group.IdxX, ty = Group.IdxY, tid = ty * t + tx, threads = t * t;
        int block = t * R, rowBase = Grid.IdxY * block, colBase = Grid.IdxX * block;
        for (int batch = Grid.IdxZ; batch < p.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * p.BatchStrideA, bBase = batch * p.BatchStrideB, cBase = batch * p.M * p.N;
            var acc = default(Block4);
            for (int k0 = 0; k0 < p.K; k0 += Bk)
            {
                // Panels of op(a) [block × Bk] and op(b) [Bk × block]; zeros outside the matrices.
                for (int e = tid; e < block * Bk; e += threads)
                {
                    int i = e / Bk, row = rowBase + i, k = k0 + e - i * Bk;
                    sa[e] = row < p.M && k < p.K ? a[aBase + (p.TransA != 0 ? k * p.M + row : row * p.K + k)] : 0f;
                }
                for (int e = tid; e < Bk * block; e += threads)
                {
                    int kk = e / block, col = colBase + e - kk * block, k = k0 + kk;
                    sb[e] = k < p.K && col < p.N ? b[bBase + (p.TransB != 0 ? col * p.K + k : k * p.N + col)] : 0f;
                }
                Group.Barrier();
                for (int kk = 0; kk < Bk; kk++)
                {
                    acc.Add(
                        sa[ty * Bk + kk], sa[(ty + t) * Bk + kk], sa[(ty + 2 * t) * Bk + kk], sa[(ty + 3 * t) * Bk + kk],
                        sb[kk * block + tx], sb[kk * block + tx + t], sb[kk * block + tx + 2 * t], sb[kk * block + tx + 3 * t]);
                }
                Group.Barrier();
            }
            for (int i = 0; i < R; i++)
            {
                int row = rowBase + ty + i * t;
                if (row >= p.M) continue;
                for (int j = 0; j < R; j++)
                {
                    int col = colBase + tx + j * t;
                    if (col >= p.N) continue;
                    int o = cBase + row * p.N + col;
                    float v = acc.Get(i, j);
                    c[o] = p.Accumulate != 0 ? c[o] + v : v;
                }
            }
        }
    }

    /// <summary>A thread's 4×4 accumulators as sixteen fields, so they stay in registers (ILGPU does not unroll loops).</summary>
    struct Block4
    {
        float _00, _01, _02, _03, _10, _11, _12, _13, _20, _21, _22, _23, _30, _31, _32, _33;

        /// <summary>The outer product a·bᵀ added in.</summary>
        public void Add(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
        {
            _00 += a0 * b0; _01 += a0 * b1; _02 += a0 * b2; _03 += a0 * b3;
            _10 += a1 * b0; _11 += a1 * b1; _12 += a1 * b2; _13 += a1 * b3;
            _20 += a2 * b0; _21 += a2 * b1; _22 += a2 * b2; _23 += a2 * b3;
            _30 += a3 * b0; _31 += a3 * b1; _32 += a3 * b2; _33 += a3 * b3;
        }

        public readonly float Get(int i, int j) => (i * R + j) switch
        {
            0 => _00, 1 => _01, 2 => _02, 3 => _03,
            4 => _10, 5 => _11, 6 => _12, 7 => _13,
            8 => _20, 9 => _21, 10 => _22, 11 => _23,
            12 => _30, 13 => _31, 14 => _32, _ => _33,
        };
    }
}
