namespace Engine.Cpu;

internal sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// Per-matrix multiply-adds below which a batch is spread across cores one matrix per task (each GEMM
    /// single-threaded) rather than parallelising inside each GEMM: attention's many 64×64×64 products, say.
    /// </summary>
    const long BatchParallelWork = 1L << 22;

    /// <inheritdoc/>
    public void Matmul(Tensor a, Tensor b, Tensor c, MatmulPlan p, bool accumulate)
    {
        float* ap = Ptr(a), bp = Ptr(b), cp = Ptr(c);
        long work = (long)p.M * p.N * p.K;
        if (p.Batch > 1 && work < BatchParallelWork && CpuParallel.Threads > 1)
        {
            // Enough matrices per thread that each task amortises its dispatch: ≥ 2^16 multiply-adds.
            int grain = (int)Math.Max(1, Math.Min(p.Batch, (1L << 16) / Math.Max(1, work)));
            CpuParallel.For(p.Batch, grain, (start, end) =>
            {
                for (int i = start; i < end; i++)
                    // SAFETY: i < Batch; the plan's batch strides (0 for a broadcast operand) keep each operand inside its tensor.
                    Gemm.Multiply(ap + (long)i * p.BatchStrideA, p.TransA, bp + (long)i * p.BatchStrideB, p.TransB,
                        cp + (long)i * p.M * p.N, p.M, p.N, p.K, accumulate, parallel: false);
            });
            return;
        }
        for (int i = 0; i < p.Batch; i++)
            // SAFETY: as above.
            Gemm.Multiply(ap + (long)i * p.BatchStrideA, p.TransA, bp + (long)i * p.BatchStrideB, p.TransB,
                cp + (long)i * p.M * p.N, p.M, p.N, p.K, accumulate);
    }
}
