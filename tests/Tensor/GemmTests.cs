using Engine.Cpu;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The fast SGEMM (<see cref="Gemm"/>) and <see cref="Tensor.Matmul"/> against the double-accumulating
/// <see cref="GemmReference"/>. Inputs are uniform on [−1, 1], so each output is a sum of k products of
/// magnitude ≤ 1 whose float32 rounding error grows like √k·eps (random-walk) with eps ≈ 6e-8; the bound
/// atol = 1e-5·√k, rtol = 1e-5 leaves a wide margin over that while still catching any wrong index or tile.
/// </summary>
public unsafe class GemmTests
{
    static double Atol(int k) => 1e-5 * Math.Sqrt(Math.Max(k, 1));

    const double Rtol = 1e-5;

    /// <summary>Runs one path (fast or reference) on fresh copies of the same operands and returns C.</summary>
    static float[] Run(bool reference, int m, int n, int k, bool transA, bool transB, bool accumulate, int seed,
        Action<IntPtr, IntPtr, IntPtr>? fast = null)
    {
        float[] a = Data.Uniform(m * k, seed), b = Data.Uniform(k * n, seed + 1), c = Data.Uniform(m * n, seed + 2);
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (reference) GemmReference.Multiply(pa, transA, pb, transB, pc, m, n, k, accumulate);
            else if (fast is not null) fast((IntPtr)pa, (IntPtr)pb, (IntPtr)pc);
            else Gemm.Multiply(pa, transA, pb, transB, pc, m, n, k, accumulate);
        }
        return c;
    }

    static void Check(int m, int n, int k, bool transA, bool transB, bool accumulate, Action<IntPtr, IntPtr, IntPtr>? fast = null)
    {
        int seed = m * 7919 + n * 104729 + k * 31 + (transA ? 1 : 0) + (transB ? 2 : 0);
        var expected = Run(true, m, n, k, transA, transB, accumulate, seed);
        var actual = Run(false, m, n, k, transA, transB, accumulate, seed, fast);
        Tolerance.AssertClose(actual, expected, Atol(k), Rtol, $"gemm {m}x{n}x{k} tA={transA} tB={transB} acc={accumulate}");
    }

    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 1, 1 }, { 1, 7, 13 }, { 7, 1, 13 }, { 13, 7, 1 }, { 7, 13, 31 }, { 31, 65, 13 }, { 65, 97, 31 },
        { 97, 129, 65 }, { 6, 64, 256 }, { 12, 64, 257 }, { 129, 257, 97 }, { 257, 65, 129 }, { 5, 300, 300 },
        { 300, 5, 300 }, { 300, 300, 5 }, { 250, 270, 290 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyMatchesReferenceForAllTransposes(int m, int n, int k)
    {
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (bool accumulate in new[] { false, true })
                    Check(m, n, k, transA, transB, accumulate);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(13, 31, 7)]
    [InlineData(97, 65, 129)]
    [InlineData(257, 130, 200)]
    public void EveryPathMatchesReference(int m, int n, int k)
    {
        // The single-threaded blocked path (batched call site), an odd thread count, and the simple row loop
        // that small products use, each on every transpose and accumulate combination.
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (bool accumulate in new[] { false, true })
                {
                    Check(m, n, k, transA, transB, accumulate, (pa, pb, pc) =>
                        Gemm.Multiply((float*)pa, transA, (float*)pb, transB, (float*)pc, m, n, k, accumulate, parallel: false));
                    Check(m, n, k, transA, transB, accumulate, (pa, pb, pc) =>
                        Gemm.MultiplySimple((float*)pa, transA, (float*)pb, transB, (float*)pc, m, n, k, accumulate, parallel: true));
                    Check(m, n, k, transA, transB, accumulate, (pa, pb, pc) =>
                        Gemm.MultiplyBlocked((float*)pa, transA, (float*)pb, transB, (float*)pc, m, n, k, accumulate, threads: 3));
                }
    }

    [Theory]
    [InlineData(13, 31, 7)]
    [InlineData(97, 65, 600)]
    [InlineData(257, 130, 513)]
    public void EveryPathGivesTheSameBits(int m, int n, int k)
    {
        // Each element is one chain of fused multiply-adds in k order on every path, blocking and thread count.
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (bool accumulate in new[] { false, true })
                {
                    int seed = m + n + k;
                    var simple = Run(false, m, n, k, transA, transB, accumulate, seed, (pa, pb, pc) =>
                        Gemm.MultiplySimple((float*)pa, transA, (float*)pb, transB, (float*)pc, m, n, k, accumulate, parallel: false));
                    foreach (int threads in new[] { 1, 2, 3 })
                        foreach (bool packAllOfA in new[] { false, true })
                        {
                            var blocked = Run(false, m, n, k, transA, transB, accumulate, seed, (pa, pb, pc) =>
                                Gemm.MultiplyBlocked((float*)pa, transA, (float*)pb, transB, (float*)pc, m, n, k, accumulate, threads, packAllOfA));
                            string what = $"gemm {m}x{n}x{k} tA={transA} tB={transB} acc={accumulate} threads={threads} packA={packAllOfA}";
                            Assert.True(simple.AsSpan().SequenceEqual(blocked), what);
                        }
                }
    }

    [Fact]
    public void MultiplyHandlesMoreRowsThanOneChunkAndColumnsThanOneSlice()
    {
        // m > MChunk and n > NC exercise the outer row-chunk and column-slice loops with a thin k.
        Check(Gemm.MChunk + 7, 3, 2, transA: true, transB: false, accumulate: true);
        Check(3, Gemm.NC + 70, 2, transA: false, transB: true, accumulate: false);
    }

    /// <summary>Reference for a batched product: per batch, op(a[i]) · op(b[i]) with batch strides (0 = shared).</summary>
    static double[] BatchedReference(float[] a, float[] b, float[]? c0, int batch, int m, int n, int k, bool transA, bool transB,
        int strideA, int strideB)
    {
        var c = c0 is null ? new float[batch * m * n] : (float[])c0.Clone();
        fixed (float* pa = a, pb = b, pc = c)
            for (int i = 0; i < batch; i++)
                GemmReference.Multiply(pa + i * strideA, transA, pb + i * strideB, transB, pc + i * m * n, m, n, k, c0 is not null);
        return Data.ToDouble(c);
    }

    public static TheoryData<int, int, int, int, int, int> BatchedShapes() => new()
    {
        // batch, m, n, k, which operand is broadcast (0 none, 1 a, 2 b), rank of the broadcast operand (2 or 3)
        { 48, 64, 64, 64, 0, 3 },
        { 5, 7, 13, 31, 0, 3 },
        { 6, 65, 33, 17, 1, 2 },
        { 4, 31, 97, 65, 2, 2 },
        { 3, 130, 129, 70, 2, 3 },
        { 2, 200, 150, 100, 0, 3 },
    };

    [Theory]
    [MemberData(nameof(BatchedShapes))]
    public void MatmulAndMatmulAccumulateMatchReference(int batch, int m, int n, int k, int broadcast, int broadcastRank)
    {
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
            {
                int batchA = broadcast == 1 ? 1 : batch, batchB = broadcast == 2 ? 1 : batch;
                float[] a = Data.Uniform(batchA * m * k, 11), b = Data.Uniform(batchB * k * n, 12), c0 = Data.Uniform(batch * m * n, 13);
                int[] innerA = transA ? [k, m] : [m, k], innerB = transB ? [n, k] : [k, n];
                Shape shapeA = broadcast == 1 ? (broadcastRank == 2 ? innerA : [1, .. innerA]) : [batch, .. innerA];
                Shape shapeB = broadcast == 2 ? (broadcastRank == 2 ? innerB : [1, .. innerB]) : [batch, .. innerB];
                int strideA = broadcast == 1 ? 0 : m * k, strideB = broadcast == 2 ? 0 : k * n;

                using var ta = Tensor.FromArray(a, shapeA);
                using var tb = Tensor.FromArray(b, shapeB);
                using var product = Tensor.Matmul(ta, tb, transA, transB);
                Assert.Equal(new Shape(batch, m, n), product.Shape);
                string what = $"batch {batch} {shapeA}·{shapeB} tA={transA} tB={transB}";
                var expected = BatchedReference(a, b, null, batch, m, n, k, transA, transB, strideA, strideB);
                Tolerance.AssertClose(product.ToArray(), expected, Atol(k), Rtol, "matmul " + what);

                using var acc = Tensor.FromArray(c0, new Shape(batch, m, n));
                Tensor.MatmulAccumulate(acc, ta, tb, transA, transB);
                var expectedAcc = BatchedReference(a, b, c0, batch, m, n, k, transA, transB, strideA, strideB);
                Tolerance.AssertClose(acc.ToArray(), expectedAcc, Atol(k), Rtol, "matmul_acc " + what);
            }
    }

    [Fact]
    public void MatmulWithEmptyInnerDimensionIsZero()
    {
        // An empty sum: op(a)·op(b) over k = 0 is the zero matrix, and accumulating it leaves c unchanged.
        using var a = Tensor.FromArray([], new Shape(3, 0));
        using var b = Tensor.FromArray([], new Shape(0, 4));
        using var c = Tensor.Matmul(a, b);
        Assert.Equal(new Shape(3, 4), c.Shape);
        Assert.All(c.ToArray(), v => Assert.Equal(0f, v));

        float[] c0 = Data.Uniform(12, 5);
        using var acc = Tensor.FromArray(c0, new Shape(3, 4));
        Tensor.MatmulAccumulate(acc, a, b);
        Tolerance.AssertClose(acc.ToArray(), c0, 0, 0);

        fixed (float* pc = c0)
        {
            Gemm.Multiply(null, false, null, false, pc, 3, 4, 0, accumulate: false);
            Assert.All(c0, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void MatmulInnerDimensionMismatchNamesBothShapes()
    {
        using var a = Tensor.FromArray(new float[6], new Shape(2, 3));
        using var b = Tensor.FromArray(new float[8], new Shape(4, 2));
        var e = Assert.Throws<TensorShapeException>(() => Tensor.Matmul(a, b));
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 2]", e.Message);
        Assert.Contains("3 vs 4", e.Message);

        // With transB, b is [n, k] = [4, 2]: k = 2 still differs from a's 3.
        var et = Assert.Throws<TensorShapeException>(() => Tensor.Matmul(a, b, transB: true));
        Assert.Contains("[2, 3]", et.Message);
        Assert.Contains("[4, 2]ᵀ", et.Message);
    }

    [Fact]
    public void MatmulRejectsMismatchedBatchesAndWrongAccumulatorShape()
    {
        using var a = Tensor.FromArray(new float[2 * 2 * 3], new Shape(2, 2, 3));
        using var b = Tensor.FromArray(new float[3 * 3 * 4], new Shape(3, 3, 4));
        var e = Assert.Throws<TensorShapeException>(() => Tensor.Matmul(a, b));
        Assert.Contains("[2, 2, 3]", e.Message);
        Assert.Contains("[3, 3, 4]", e.Message);

        using var b2 = Tensor.FromArray(new float[3 * 4], new Shape(3, 4));
        using var wrong = Tensor.FromArray(new float[2 * 2 * 5], new Shape(2, 2, 5));
        var ea = Assert.Throws<TensorShapeException>(() => Tensor.MatmulAccumulate(wrong, a, b2));
        Assert.Contains("[2, 2, 5]", ea.Message);
        Assert.Contains("[2, 2, 4]", ea.Message);
    }
}
