namespace Engine.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <inheritdoc/>
    public void Matmul(Tensor a, Tensor b, Tensor c, MatmulPlan p, bool accumulate)
    {
        float* ap = Ptr(a), bp = Ptr(b), cp = Ptr(c);
        for (int i = 0; i < p.Batch; i++)
            Gemm.Multiply(ap + (long)i * p.BatchStrideA, p.TransA, bp + (long)i * p.BatchStrideB, p.TransB,
                cp + (long)i * p.M * p.N, p.M, p.N, p.K, accumulate);
    }
}
