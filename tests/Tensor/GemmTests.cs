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
}
