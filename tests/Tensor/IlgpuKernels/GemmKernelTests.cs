using Engine.Ilgpu.Kernels;
using Engine.Tests.Support;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// The ILGPU GEMM kernels on the CPU accelerator against a float64 reference. Inputs are uniform on [−1, 1].
/// Float32 (SIMT): the sum of k float32 FMAs is within ~√k·6e-8 of the exact value; atol = 1e-5·√k as in
/// <see cref="GemmTests"/>. Tensor-core paths: the reference is computed from the inputs rounded exactly as
/// the kernel rounds them (tf32 / bf16), so only float32 accumulation error remains and the same tolerance
/// applies; that pins down every fragment index. A second check against the unrounded product uses the
/// precision's own bound (tf32: 2·2⁻¹¹ per product; bf16: 2·2⁻⁸), times k as a worst case.
/// </summary>
[Collection(nameof(IlgpuKernelCollection))]
public sealed class GemmKernelTests
{
    static double Atol(int k) => 1e-5 * Math.Sqrt(Math.Max(k, 1));

    /// <summary>c (+)= op(a)·op(b) in float64 over the batch; <paramref name="round"/> maps each input first.</summary>
    static double[] Reference(float[] a, float[] b, float[] c, MatmulPlan p, bool accumulate, Func<float, float> round)
    {
        var r = new double[p.Batch * p.M * p.N];
        for (int z = 0; z < p.Batch; z++)
            for (int i = 0; i < p.M; i++)
                for (int j = 0; j < p.N; j++)
                {
                    double sum = 0;
                    for (int q = 0; q < p.K; q++)
                    {
                        float av = a[z * p.BatchStrideA + (p.TransA ? q * p.M + i : i * p.K + q)];
                        float bv = b[z * p.BatchStrideB + (p.TransB ? j * p.K + q : q * p.N + j)];
                        sum += (double)round(av) * round(bv);
                    }
                    int at = (z * p.M + i) * p.N + j;
                    r[at] = accumulate ? c[at] + sum : sum;
                }
        return r;
    }

    static float Tf32(float x) => BitConverter.UInt32BitsToSingle(GemmTensorCore.RoundTf32(x));

    static float Bf16(float x) => BitConverter.UInt32BitsToSingle(GemmTensorCore.RoundBf16(x) << 16);

    static float[] Run(KernelHost host, GemmPrecision precision, float[] a, float[] b, float[] c, MatmulPlan plan, bool accumulate)
    {
        using var da = host.Upload(a);
        using var db = host.Upload(b);
        using var dc = host.Upload(c);
        host.Gemm.Matmul(da.View.SubView(0, a.Length), db.View.SubView(0, b.Length), dc.View.SubView(0, c.Length), plan, accumulate, precision);
        return host.Download(dc.View, c.Length);
    }

    static void Check(KernelHost host, GemmPrecision precision, int batch, int m, int n, int k, bool transA, bool transB, bool accumulate,
        bool broadcastA = false, bool broadcastB = false)
    {
        int seed = m * 7919 + n * 104729 + k * 31 + batch * 3 + (transA ? 1 : 0) + (transB ? 2 : 0);
        var plan = new MatmulPlan(batch, m, n, k, transA, transB, broadcastA ? 0 : m * k, broadcastB ? 0 : k * n);
        float[] a = Data.Uniform((broadcastA ? 1 : batch) * m * k, seed), b = Data.Uniform((broadcastB ? 1 : batch) * k * n, seed + 1);
        float[] c = Data.Uniform(batch * m * n, seed + 2);
        var actual = Run(host, precision, a, b, c, plan, accumulate);
        string what = $"{precision} gemm b={batch} {m}x{n}x{k} tA={transA} tB={transB} acc={accumulate}";
        Func<float, float> round = precision switch { GemmPrecision.Tf32 => Tf32, GemmPrecision.Bf16 => Bf16, _ => x => x };
        Tolerance.AssertClose(actual, Reference(a, b, c, plan, accumulate, round), Atol(k), 1e-5, what + " (rounded inputs)");
        if (precision != GemmPrecision.Float32)
        {
            double unit = precision == GemmPrecision.Tf32 ? 2 * Math.Pow(2, -11) : 2 * Math.Pow(2, -8);
            Tolerance.AssertClose(actual, Reference(a, b, c, plan, accumulate, x => x), unit * k + Atol(k), 0, what + " (exact inputs)");
        }
    }

    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 1, 1 }, { 7, 13, 5 }, { 16, 8, 8 }, { 33, 17, 9 }, { 64, 64, 64 }, { 5, 63, 37 }, { 61, 3, 64 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SimtMatchesReferenceForAllTransposes(int m, int n, int k)
    {
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                Check(KernelHost.Cpu, GemmPrecision.Float32, 1, m, n, k, transA, transB, accumulate: (m + n + k + (transA ? 1 : 0)) % 2 == 0);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void SimtBatchesWithBroadcastAndAccumulate(bool broadcastA, bool broadcastB)
    {
        Check(KernelHost.Cpu, GemmPrecision.Float32, 3, 12, 20, 8, false, true, accumulate: true, broadcastA, broadcastB);
        Check(KernelHost.Cpu, GemmPrecision.Float32, 2, 9, 7, 13, true, false, accumulate: false, broadcastA, broadcastB);
    }

    [Fact]
    public void SimtUsesScalarPathOnMisalignedViews()
    {
        var host = KernelHost.Cpu;
        // Views starting at element 1: the 128-bit path must be refused, and results stay exact.
        float[] a = Data.Uniform(1 + 8 * 12, 5), b = Data.Uniform(1 + 12 * 16, 6), c = new float[1 + 8 * 16];
        using var da = host.Upload(a);
        using var db = host.Upload(b);
        using var dc = host.Upload(c);
        var plan = new MatmulPlan(1, 8, 16, 12, false, false, 0, 0);
        host.Gemm.Matmul(da.View.SubView(1, 96), db.View.SubView(1, 192), dc.View.SubView(1, 128), plan, false);
        var actual = host.Download(dc.View, c.Length);
        Assert.Equal(0f, actual[0]);
        Tolerance.AssertClose(actual.AsSpan(1), Reference(a[1..], b[1..], c[1..], plan, false, x => x), Atol(12), 1e-5, "misaligned gemm");
    }

    [Fact]
    public void RejectsViewsTooShortForThePlan()
    {
        var host = KernelHost.Cpu;
        using var buffer = host.Upload(new float[16]);
        var plan = new MatmulPlan(2, 4, 4, 4, false, false, 16, 16);
        var ex = Assert.Throws<ArgumentException>(() => host.Gemm.Matmul(buffer.View, buffer.View, buffer.View, plan, false));
        Assert.Contains("too short", ex.Message);
    }

    [Theory]
    [InlineData(GemmPrecision.Tf32)]
    [InlineData(GemmPrecision.Bf16)]
    public void TensorCoreEmulationMatchesRoundedReference(GemmPrecision precision)
    {
        // Each emulated mma costs dozens of warp barriers on the CPU accelerator: a few slabs cover every warp,
        // both k steps of a slab, ragged edges, all transposes, accumulate and a broadcast batch.
        int k = precision == GemmPrecision.Tf32 ? 20 : 40;
        Check(KernelHost.Cpu, precision, 1, 40, 36, k, false, false, accumulate: false);
        Check(KernelHost.Cpu, precision, 1, 17, 9, 13, true, true, accumulate: true);
        Check(KernelHost.Cpu, precision, 2, 9, 17, 7, false, true, accumulate: false, broadcastA: true);
        Check(KernelHost.Cpu, precision, 1, 3, 5, 11, true, false, accumulate: true);
    }

    // ---- on a CUDA device, when there is one: larger ragged shapes, and the real mma.sync ----------------

    [Theory]
    [InlineData(GemmPrecision.Float32)]
    [InlineData(GemmPrecision.Tf32)]
    [InlineData(GemmPrecision.Bf16)]
    public void CudaMatchesReference(GemmPrecision precision)
    {
        var host = KernelHost.Cuda;
        Check(host, precision, 1, 300, 260, 200, false, false, accumulate: false);
        Check(host, precision, 2, 129, 257, 97, true, false, accumulate: true, broadcastB: true);
        Check(host, precision, 3, 64, 130, 67, false, true, accumulate: false);
        Check(host, precision, 1, 255, 33, 513, true, true, accumulate: true);
    }
}
