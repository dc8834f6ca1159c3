using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Host side of the GEMM kernels for one accelerator: loads each kernel once, validates every extent against
/// the views before launching (an out-of-range index on ILGPU's CPU accelerator kills the process), and
/// launches on the accelerator's default stream without synchronising.
/// </summary>
internal sealed class GemmKernels
{
    readonly Accelerator _accelerator;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs> _simt;
    readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>> _tf32;
    readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>> _bf16;

    /// <summary>
    /// True when the kernels can run on <paramref name="accelerator"/>: groups of 256 threads (every GPU;
    /// ILGPU's CPU accelerator only as <c>CPUDevice.Nvidia</c>, not in its default 16-thread shape).
    /// </summary>
    public static bool CanRunOn(Accelerator accelerator) => accelerator.MaxNumThreadsPerGroup >= GemmSimt.Threads;

    /// <summary>Loads (compiles) the SIMT kernel now; the tensor-core kernels on first use.</summary>
    public GemmKernels(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        if (!CanRunOn(accelerator))
            throw new NotSupportedException($"gemm: the accelerator allows {accelerator.MaxNumThreadsPerGroup} threads per group; " +
                $"the kernels need {GemmSimt.Threads}");
        _accelerator = accelerator;
        _simt = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmSimt.Kernel);
        _tf32 = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmTensorCore.KernelTf32));
        _bf16 = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmTensorCore.KernelBf16));
    }

    /// <summary>
    /// True when <see cref="GemmPrecision.Tf32"/> and <see cref="GemmPrecision.Bf16"/> can run here: on CUDA
    /// (compute capability ≥ 8.0) through <c>mma.sync</c>, or on a CPU accelerator with a warp of 32, where
    /// the same kernel emulates each <c>mma</c> with warp shuffles (for testing).
    /// </summary>
    public bool SupportsTensorCores => _accelerator.AcceleratorType switch
    {
        AcceleratorType.Cuda => _accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda && cuda.Architecture is { } arch && arch.Major >= 8,
        AcceleratorType.CPU => _accelerator.WarpSize == 32,
        _ => false,
    };

    /// <summary>
    /// c = op(a) · op(b) for each of <paramref name="plan"/>.Batch products (c += … with
    /// <paramref name="accumulate"/>). Each view starts at its tensor's first element: a holds the batches of
    /// op(a) at multiples of BatchStrideA (0 = one matrix shared by every batch), likewise b, and c is
    /// [Batch, M, N] dense. Asynchronous: synchronise the accelerator before reading c.
    /// </summary>
    public void Matmul(ArrayView1D<float, Stride1D.Dense> a, ArrayView1D<float, Stride1D.Dense> b, ArrayView1D<float, Stride1D.Dense> c,
        MatmulPlan plan, bool accumulate, GemmPrecision precision = GemmPrecision.Float32)
    {
        var args = Validate(a, b, c, plan, accumulate);
        if (plan.Batch == 0 || plan.M == 0 || plan.N == 0) return;
        if (plan.K == 0)
        {
            if (!accumulate) c.SubView(0, (long)plan.Batch * plan.M * plan.N).MemSetToZero();
            return;
        }
        switch (precision)
        {
            case GemmPrecision.Float32:
                _simt(Config(plan, GemmSimt.Tile, GemmSimt.Threads), a, b, c, args);
                break;
            case GemmPrecision.Tf32 or GemmPrecision.Bf16:
                if (!SupportsTensorCores) throw new NotSupportedException($"gemm: {precision} needs tensor cores (CUDA sm_80+) or a CPU " +
                    "accelerator with a warp of 32");
                var kernel = precision == GemmPrecision.Tf32 ? _tf32.Value : _bf16.Value;
                kernel(Config(plan, GemmTensorCore.Tile, GemmTensorCore.Threads), a, b, c, args);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(precision), precision, "gemm: unknown precision");
        }
    }

    static int Ceil(int x, int tile) => (x + tile - 1) / tile;

    /// <summary>Grid (⌈N/tile⌉, ⌈M/tile⌉, batch) of groups of <paramref name="threads"/>, checked against the device's grid limits.</summary>
    KernelConfig Config(MatmulPlan plan, int tile, int threads)
    {
        var grid = new Index3D(Ceil(plan.N, tile), Ceil(plan.M, tile), plan.Batch);
        var max = _accelerator.MaxGridSize;
        if (grid.X > max.X || grid.Y > max.Y || grid.Z > max.Z)
            throw new NotSupportedException($"gemm: {plan} needs a grid of {grid} groups; the device allows {max}");
        return new KernelConfig(grid, new Index3D(threads, 1, 1));
    }

    static GemmArgs Validate(ArrayView1D<float, Stride1D.Dense> a, ArrayView1D<float, Stride1D.Dense> b, ArrayView1D<float,
        Stride1D.Dense> c, MatmulPlan p, bool accumulate)
    {
        if (p.Batch < 0 || p.M < 0 || p.N < 0 || p.K < 0 || p.BatchStrideA < 0 || p.BatchStrideB < 0)
            throw new ArgumentException($"gemm: negative extent in {p}");
        long needA = Extent(p.Batch, p.BatchStrideA, (long)p.M * p.K);
        long needB = Extent(p.Batch, p.BatchStrideB, (long)p.K * p.N);
        long needC = (long)p.Batch * p.M * p.N;
        if (a.Length < needA || b.Length < needB || c.Length < needC)
            throw new ArgumentException($"gemm: views of {a.Length}, {b.Length}, " +
                $"{c.Length} elements are too short for {p} (need {needA}, {needB}, {needC})");
        if (needA > int.MaxValue || needB > int.MaxValue || needC > int.MaxValue)
            throw new ArgumentException($"gemm: {p} exceeds 2³¹ elements");
        int rowA = p.TransA ? p.M : p.K, rowB = p.TransB ? p.K : p.N;
        return new GemmArgs(p.M, p.N, p.K, p.Batch, p.BatchStrideA, p.BatchStrideB,
            p.TransA ? 1 : 0, p.TransB ? 1 : 0, accumulate ? 1 : 0,
            Aligned(a, rowA, p.BatchStrideA), Aligned(b, rowB, p.BatchStrideB), Aligned(c, p.N, p.M * p.N));
    }

    static long Extent(int batch, int stride, long matrix) => batch == 0 ? 0 : stride == 0 ? matrix : (long)(batch - 1) * stride + matrix;

    /// <summary>1 when every row of the operand starts 16-byte aligned, so 128-bit loads are legal.</summary>
    static int Aligned(ArrayView1D<float, Stride1D.Dense> view, int rowStride, int batchStride) =>
        ((IContiguousArrayView)(ArrayView<float>)view).Index % 4 == 0 && rowStride % 4 == 0 && batchStride % 4 == 0 ? 1 : 0;
}
