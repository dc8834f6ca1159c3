using Engine.Cpu;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The width-agnostic reductions of the CPU backend against a scalar model of their 32 fixed lanes (bit for bit,
/// which is what makes them width-independent) and against float64 (within rounding).
/// </summary>
public unsafe class VectorMathTests
{
    /// <summary>The order of additions <see cref="VectorMath"/> promises: lane i mod 32, then a fixed pairwise fold.</summary>
    static float LaneModel(float[] x, float[]? y)
    {
        var lanes = new float[VectorMath.Lanes];
        for (int i = 0; i < x.Length; i++)
        {
            ref float lane = ref lanes[i % VectorMath.Lanes];
            lane = y is null ? lane + x[i] : Simd.VectorWidth.HasFma ? MathF.FusedMultiplyAdd(x[i], y[i], lane) : x[i] * y[i] + lane;
        }
        for (int half = VectorMath.Lanes / 2; half >= 1; half /= 2)
            for (int l = 0; l < half; l++) lanes[l] += lanes[l + half];
        return lanes[0];
    }

    public static readonly TheoryData<int> Lengths = new(0, 1, 3, 4, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 768, 1001, 50257);

    [Theory, MemberData(nameof(Lengths))]
    public void SumAndDotFollowTheLaneOrderExactly(int n)
    {
        float[] x = Data.Uniform(n, n + 1), y = Data.Uniform(n, n + 2);
        Assert.Equal(BitConverter.SingleToInt32Bits(LaneModel(x, null)), BitConverter.SingleToInt32Bits(VectorMath.Sum(x)));
        Assert.Equal(BitConverter.SingleToInt32Bits(LaneModel(x, y)), BitConverter.SingleToInt32Bits(VectorMath.Dot(x, y)));
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SumAndDotMatchFloat64(int n)
    {
        float[] x = Data.Uniform(n, n + 3), y = Data.Uniform(n, n + 4);
        double sum = 0, dot = 0;
        for (int i = 0; i < n; i++)
        {
            sum += x[i];
            dot += (double)x[i] * y[i];
        }
        double atol = 1e-6 * Math.Sqrt(n + 1);
        Tolerance.AssertClose([VectorMath.Sum(x)], [sum], atol, 1e-6, $"sum of {n}");
        Tolerance.AssertClose([VectorMath.Dot(x, y)], [dot], atol, 1e-6, $"dot of {n}");
    }

    [Fact]
    public void DotRejectsUnequalLengths()
    {
        var ex = Assert.Throws<ArgumentException>(() => VectorMath.Dot(new float[3], new float[4]));
        Assert.Contains("3", ex.Message);
    }

    [Fact]
    public void NaNPropagatesThroughSumAndDot()
    {
        var x = Data.Uniform(70, 5);
        x[41] = float.NaN;
        Assert.True(float.IsNaN(VectorMath.Sum(x)));
        Assert.True(float.IsNaN(VectorMath.Dot(x, x)));
    }
}
