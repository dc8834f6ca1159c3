using Engine.Ops;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Unary ops against float64 references, over awkward sizes, extreme magnitudes and the parallel path.</summary>
public class ElementwiseTests
{
    /// <summary>Not multiples of 16 (the Vector512 width), a bit over, and 70 001 (≥ 2 × the per-thread grain, so two cores run).</summary>
    public static readonly TheoryData<int> Sizes = new(1, 7, 15, 16, 17, 33, 1000, 70_001);

    /// <summary>Magnitudes where exp/tanh/sigmoid/gelu saturate, overflow-guard or lose precision.</summary>
    static readonly float[] Extremes = [0f, -0f, 1e-6f, -1e-6f, 0.5f, -0.5f, 3f, -3f, 20f, -20f, 80f, -80f];

    /// <summary>Random values in [lo, hi), with the extremes (clamped into the domain) spliced in at the front.</summary>
    static float[] Inputs(int n, int seed, float lo, float hi)
    {
        var x = Data.Uniform(n, seed, lo, hi);
        int k = 0;
        foreach (float e in Extremes)
        {
            if (k >= n) break;
            if (e >= lo && e <= hi) x[k++] = e;
        }
        return x;
    }

    static void CheckUnary(Func<Tensor, Tensor> op, Func<double, double> reference, int n, float lo, float hi, double atol, double rtol, string name)
    {
        var x = Inputs(n, n, lo, hi);
        using var t = Tensor.FromArray(x);
        using var y = op(t);
        Assert.Equal(t.Shape, y.Shape);
        Tolerance.AssertClose(y.ToArray(), Reference.Map(Data.ToDouble(x), reference), atol, rtol, $"{name}[{n}]");
    }

    // Exact ops: the float result must equal the double reference of the same float input.
    [Theory, MemberData(nameof(Sizes))]
    public void NegIsExact(int n) => CheckUnary(t => t.Neg(), v => -v, n, -100, 100, 0, 0, "neg");

    [Theory, MemberData(nameof(Sizes))]
    public void AbsIsExact(int n) => CheckUnary(t => t.Abs(), Math.Abs, n, -100, 100, 0, 0, "abs");

    [Theory, MemberData(nameof(Sizes))]
    public void ReluIsExact(int n) => CheckUnary(t => t.Relu(), Reference.Relu, n, -100, 100, 0, 0, "relu");

    [Theory, MemberData(nameof(Sizes))]
    public void NegationOperatorMatchesNeg(int n) => CheckUnary(t => -t, v => -v, n, -5, 5, 0, 0, "operator-");

    // sqrt is correctly rounded (≤ ½ ulp = 2⁻²⁴ relative); rsqrt = 1/sqrt rounds twice (≤ 1 ulp, 1.2e-7).
    [Theory, MemberData(nameof(Sizes))]
    public void SqrtIsCorrectlyRounded(int n) => CheckUnary(t => t.Sqrt(), Math.Sqrt, n, 0, 1000, 0, 6e-8, "sqrt");

    [Theory, MemberData(nameof(Sizes))]
    public void RsqrtWithinTwoRoundings(int n) => CheckUnary(t => t.Rsqrt(), v => 1 / Math.Sqrt(v), n, 1e-6f, 1000, 0, 1.2e-7, "rsqrt");

    // Transcendentals: vectorised approximations are accurate to a few ulp; rtol 1e-5 is ~100 ulp of
    // headroom. The atol of 1e-7 (≈ 1 ulp at 1.0) covers results that are tiny next to the O(1) scale
    // of the function, e.g. tanh(1e-6) or gelu(−20) ≈ −2e−261 which float rounds to −0.
    [Theory, MemberData(nameof(Sizes))]
    public void ExpMatchesReference(int n) => CheckUnary(t => t.Exp(), Math.Exp, n, -80, 80, 0, 1e-5, "exp");

    // log(x) near x = 1 is near 0, so its relative error is not bounded; its absolute error is (≈ ulp of x).
    [Theory, MemberData(nameof(Sizes))]
    public void LogMatchesReference(int n) => CheckUnary(t => t.Log(), Math.Log, n, 1e-6f, 1000, 1e-7, 1e-5, "log");

    [Theory, MemberData(nameof(Sizes))]
    public void TanhMatchesReference(int n) => CheckUnary(t => t.Tanh(), Math.Tanh, n, -80, 80, 1e-7, 1e-5, "tanh");

    [Theory, MemberData(nameof(Sizes))]
    public void SigmoidMatchesReference(int n) => CheckUnary(t => t.Sigmoid(), Reference.Sigmoid, n, -80, 80, 1e-7, 1e-5, "sigmoid");

    [Theory, MemberData(nameof(Sizes))]
    public void GeluMatchesTanhFormula(int n) => CheckUnary(t => t.Gelu(), Reference.Gelu, n, -80, 80, 1e-7, 1e-5, "gelu");

    [Theory, MemberData(nameof(Sizes))]
    public void GeluOnTypicalActivations(int n) => CheckUnary(t => t.Gelu(), Reference.Gelu, n, -6, 6, 1e-7, 1e-5, "gelu");

    [Fact]
    public void ScalarFunctorsMatchTheVectorPath()
    {
        // The scalar Apply is the reference for GPU kernels: it must agree with the SIMD path.
        var x = Inputs(1000, 3, -80, 80);
        static double[] Scalar<TOp>(float[] v) where TOp : struct, IUnaryOp => Array.ConvertAll(v, e => (double)TOp.Apply(e));
        using var t = Tensor.FromArray(x);
        using (var y = t.Gelu()) Tolerance.AssertClose(y.ToArray(), Scalar<Gelu>(x), 1e-7, 1e-5, "gelu scalar");
        using (var y = t.Sigmoid()) Tolerance.AssertClose(y.ToArray(), Scalar<Sigmoid>(x), 1e-7, 1e-5, "sigmoid scalar");
        using (var y = t.Tanh()) Tolerance.AssertClose(y.ToArray(), Scalar<Tanh>(x), 1e-7, 1e-5, "tanh scalar");
        using (var y = t.Relu()) Tolerance.AssertClose(y.ToArray(), Scalar<Relu>(x), 0, 0, "relu scalar");
    }

    [Fact]
    public void NaNPropagatesThroughEveryUnaryOpOnBothPaths()
    {
        // PyTorch's semantics: f(NaN) = NaN, relu included. 17 elements: the SIMD body and its tail.
        var x = Enumerable.Repeat(float.NaN, 17).ToArray();
        using var t = Tensor.FromArray(x);
        static void Check<TOp>(Tensor t) where TOp : struct, IUnaryOp
        {
            Assert.True(float.IsNaN(TOp.Apply(float.NaN)), $"{TOp.Name}: scalar path turned NaN into a number");
            using var y = t.Map<TOp>();
            Assert.All(y.ToArray(), v => Assert.True(float.IsNaN(v), $"{TOp.Name}: vector path turned NaN into {v}"));
        }
        Check<Neg>(t); Check<Abs>(t); Check<Exp>(t); Check<Log>(t); Check<Sqrt>(t); Check<Rsqrt>(t);
        Check<Tanh>(t); Check<Sigmoid>(t); Check<Relu>(t); Check<Gelu>(t);
    }

    [Fact]
    public void UnaryOnEmptyAndRankZero()
    {
        using var empty = Tensor.Zeros(new Shape(0, 3));
        using var e = empty.Exp();
        Assert.Equal(new Shape(0, 3), e.Shape);
        using var s = Tensor.Scalar(-2f);
        using var a = s.Abs();
        Assert.Equal(new Shape(), a.Shape);
        Assert.Equal(2f, a.ToScalar());
    }

    [Fact]
    public void UnaryOnAViewReadsTheViewOnly()
    {
        using var x = Tensor.FromArray([1f, -2, 3, -4, 5, -6], new Shape(3, 2));
        using var row = x[1];
        using var y = row.Abs();
        Tolerance.AssertClose(y.ToArray(), [3.0, 4], 0, 0);
    }

    [Fact]
    public void BiasGeluMatchesGeluOfSum()
    {
        // [5, 33] (odd width: SIMD tail per row) and [300, 257] (rows split over the cores).
        foreach (int[] shape in new[] { new[] { 5, 33 }, [300, 257], [2, 3, 16] })
        {
            using var x = Data.Tensor(shape, 1, -6, 6);
            using var b = Data.Tensor([shape[^1]], 2, -2, 2);
            using var fused = x.BiasGelu(b);
            using var sum = x + b;
            using var composed = sum.Gelu();
            // Same float sum, same gelu: only the evaluation path differs.
            Tolerance.AssertClose(fused.ToArray(), composed.ToArray(), 1e-7, 1e-6, "bias_gelu vs gelu(x+b)");
            var xs = Data.ToDouble(x.ToArray());
            var bs = Data.ToDouble(b.ToArray());
            var expected = Reference.Binary((p, q) => Reference.Gelu((float)(p + q)), xs, shape, bs, [shape[^1]], out _);
            Tolerance.AssertClose(fused.ToArray(), expected, 1e-7, 1e-5, "bias_gelu vs reference");
        }
    }

    [Fact]
    public void ExpOfZeroIsExactlyOne()
    {
        // GRPO's first-pass ratio is exp(logp − logp); the vector exp alone rounds e^0 to 1 + 2⁻²³.
        using var zeros = Engine.Tensor.FromArray([.. Enumerable.Repeat(0f, 37), -0f, 2f]);
        using var e = zeros.Exp();
        Assert.All(e.ToArray().Take(38), v => Assert.Equal(1f, v));
        Assert.Equal(MathF.Exp(2f), e.ToArray()[38], 6);
    }
}
