using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu.Kernels;

/// <summary>The dimensions of a (batched) product for <see cref="TiledMatmul"/>.</summary>
struct MatmulArgs
{
    public int Batch, M, N, K, TransA, TransB, BatchStrideA, BatchStrideB, Accumulate;
}

/// <summary>
/// The reference GPU matrix product: square T×T tiles of op(a) and op(b) staged in shared memory, one
/// output element per thread, the k loop in a fixed order. Correct for any shape, transposes, batch strides
/// (0 broadcasts an operand) and accumulation; simple rather than fast.
/// </summary>
sealed class TiledMatmul
{
    /// <summary>The largest tile side; the shared tiles are sized for it.</summary>
    const int MaxTile = 16;

    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulArgs> _kernel;
    readonly int _tile;

    internal TiledMatmul(Accelerator accelerator)
    {
        _kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulArgs>(Kernel);
        _tile = MaxTile;
        while (_tile * _tile > accelerator.MaxNumThreadsPerGroup) _tile /= 2;
    }

    /// <summary>c = op(a)·op(b) (or c += with accumulate) for every batch.</summary>
    internal void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulPlan p, bool accumulate)
    {
        var args = new MatmulArgs
        {
            Batch = p.Batch, M = p.M, N = p.N, K = p.K, TransA = p.TransA ? 1 : 0, TransB = p.TransB ? 1 : 0,
            BatchStrideA = p.BatchStrideA, BatchStrideB = p.BatchStrideB, Accumulate = accumulate ? 1 : 0,
        };
        int t = _tile;
        var grid = new Index3D((p.N + t - 1) / t, (p.M + t - 1) / t, Math.Min(p.Batch, 65535));
        _kernel(new KernelConfig(grid, new Index3D(t, t, 1)), a, b, c, args);
    }

    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulArgs p)
    {
        var ta = SharedMemory.Allocate<float>(MaxTile * MaxTile);
        var tb = SharedMemory.Allocate<float>(MaxTile * MaxTile);
        int t = Group.DimX, tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * t + ty, col = Grid.IdxX * t + tx;
        for (int batch = Grid.IdxZ; batch < p.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * p.BatchStrideA, bBase = batch * p.BatchStrideB, cBase = batch * p.M * p.N;
            float acc = 0f;
            for (int k0 = 0; k0 < p.K; k0 += t)
            {
                // a tile: (row, k0 + tx); b tile: (k0 + ty, col); zeros outside the matrices.
                int ak = k0 + tx, bk = k0 + ty;
                ta[ty * t + tx] = row < p.M && ak < p.K ? a[aBase + (p.TransA != 0 ? ak * p.M + row : row * p.K + ak)] : 0f;
                tb[ty * t + tx] = bk < p.K && col < p.N ? b[bBase + (p.TransB != 0 ? col * p.K + bk : bk * p.N + col)] : 0f;
                Group.Barrier();
                for (int kk = 0; kk < t; kk++) acc += ta[ty * t + kk] * tb[kk * t + tx];
                Group.Barrier();
            }
            if (row < p.M && col < p.N)
            {
                int i = cBase + row * p.N + col;
                c[i] = p.Accumulate != 0 ? c[i] + acc : acc;
            }
        }
    }
}
