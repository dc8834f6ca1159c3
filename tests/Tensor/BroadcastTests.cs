using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Binary ops, where and in-place ops with NumPy broadcasting in every position.</summary>
public class BroadcastTests
{
    public enum Op { Add, Sub, Mul, Div, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge }

    static Tensor Apply(Op op, Tensor a, Tensor b) => op switch
    {
        Op.Add => Tensor.Add(a, b),
        Op.Sub => Tensor.Sub(a, b),
        Op.Mul => Tensor.Mul(a, b),
        Op.Div => Tensor.Div(a, b),
        Op.Maximum => Tensor.Maximum(a, b),
        Op.Minimum => Tensor.Minimum(a, b),
        Op.Eq => Tensor.Eq(a, b),
        Op.Ne => Tensor.Ne(a, b),
        Op.Lt => Tensor.Lt(a, b),
        Op.Le => Tensor.Le(a, b),
        Op.Gt => Tensor.Gt(a, b),
        _ => Tensor.Ge(a, b),
    };

    static double Scalar(Op op, double a, double b) => op switch
    {
        Op.Add => a + b,
        Op.Sub => a - b,
        Op.Mul => a * b,
        Op.Div => a / b,
        Op.Maximum => Math.Max(a, b),
        Op.Minimum => Math.Min(a, b),
        Op.Eq => a == b ? 1 : 0,
        Op.Ne => a != b ? 1 : 0,
        Op.Lt => a < b ? 1 : 0,
        Op.Le => a <= b ? 1 : 0,
        Op.Gt => a > b ? 1 : 0,
        _ => a >= b ? 1 : 0,
    };

    /// <summary>
    /// add/sub/mul/div of two floats are correctly rounded, so the float result is within ½ ulp
    /// (2⁻²⁴ ≈ 6e-8 relative) of the exact double result; max/min/comparisons are exact.
    /// </summary>
    static double Rtol(Op op) => op <= Op.Div ? 6e-8 : 0;

    public static readonly TheoryData<int[], int[]> ShapePairs = new()
    {
        { [], [] },                 // rank 0 with rank 0
        { [], [3, 4] },             // scalar-tensor
        { [3, 4], [] },             // tensor-scalar
        { [1], [7] },               // size-1 axis
        { [17], [17] },             // same shape, SIMD tail
        { [5], [3, 5] },            // row vs matrix
        { [3, 5], [5] },            // matrix vs row
        { [3, 1], [3, 5] },         // column vs matrix
        { [3, 5], [3, 1] },         // matrix vs column
        { [3, 1], [1, 5] },         // outer product
        { [1, 33], [19, 1] },       // outer product, odd widths
        { [3, 1, 5], [4, 1] },      // rank mismatch, ones on both sides
        { [2, 1, 3], [2, 4, 3] },   // middle axis broadcast
        { [2, 3, 4, 5], [3, 1, 5] },
        { [1, 1], [1] },
        { [0, 3], [3] },            // empty result
        { [70_001], [70_001] },     // one long row: the parallel path
        { [300, 257], [257] },      // many rows with a broadcast row
        { [257, 300], [257, 1] },
    };

    static float[] InputsFor(Op op, int n, int seed) => op switch
    {
        // Ties matter for comparisons and max/min; keep divisors away from zero.
        >= Op.Maximum => Data.Grid(n, seed),
        Op.Div => Array.ConvertAll(Data.Uniform(n, seed, 0.5f, 2f), v => seed % 2 == 0 ? -v : v),
        _ => Data.Uniform(n, seed, -10, 10),
    };

    [Theory, MemberData(nameof(ShapePairs))]
    public void EveryBinaryOpBroadcastsLikeNumPy(int[] sa, int[] sb)
    {
        foreach (var op in Enum.GetValues<Op>())
        {
            var av = InputsFor(op, Reference.Numel(sa), 1);
            var bv = InputsFor(op, Reference.Numel(sb), 2);
            using var a = Tensor.FromArray(av, new Shape(sa));
            using var b = Tensor.FromArray(bv, new Shape(sb));
            using var y = Apply(op, a, b);
            var expected = Reference.Binary((p, q) => Scalar(op, p, q), Data.ToDouble(av), sa, Data.ToDouble(bv), sb, out var shape);
            Assert.Equal(new Shape(shape), y.Shape);
            Tolerance.AssertClose(y.ToArray(), expected, 0, Rtol(op), $"{op} {new Shape(sa)} {new Shape(sb)}");
        }
    }

    [Fact]
    public void NaNPropagatesThroughMaximumAndMinimum()
    {
        // 17 elements so the NaN sits both in a vector lane and in the scalar tail.
        var av = Data.Uniform(17, 1);
        av[3] = float.NaN;
        av[16] = float.NaN;
        using var a = Tensor.FromArray(av);
        using var b = Tensor.Zeros(new Shape(17));
        using var mx = Tensor.Maximum(a, b);
        using var mn = Tensor.Minimum(b, a);
        foreach (var y in new[] { mx.ToArray(), mn.ToArray() })
            for (int i = 0; i < 17; i++) Assert.Equal(float.IsNaN(av[i]), float.IsNaN(y[i]));
    }

    [Fact]
    public void OperatorsAndScalarVariants()
    {
        var av = Data.Uniform(37, 5, 0.5f, 3f);
        var bv = Data.Uniform(37, 6, 0.5f, 3f);
        var ad = Data.ToDouble(av);
        var bd = Data.ToDouble(bv);
        using var a = Tensor.FromArray(av);
        using var b = Tensor.FromArray(bv);
        const float s = 1.75f;
        // Each result is one correctly rounded float operation: ½ ulp.
        void Check(Tensor y, Func<int, double> f, string what)
        {
            using (y) Tolerance.AssertClose(y.ToArray(), Enumerable.Range(0, 37).Select(f).ToArray(), 0, 6e-8, what);
        }
        Check(a + b, i => ad[i] + bd[i], "a + b");
        Check(a - b, i => ad[i] - bd[i], "a - b");
        Check(a * b, i => ad[i] * bd[i], "a * b");
        Check(a / b, i => ad[i] / bd[i], "a / b");
        Check(a + s, i => ad[i] + s, "a + s");
        Check(a - s, i => ad[i] - s, "a - s");
        Check(a * s, i => ad[i] * s, "a * s");
        Check(a / s, i => ad[i] / s, "a / s");
        Check(s + a, i => s + ad[i], "s + a");
        Check(s - a, i => s - ad[i], "s - a");
        Check(s * a, i => s * ad[i], "s * a");
        Check(s / a, i => s / ad[i], "s / a");
        Check(-a, i => -ad[i], "-a");
        Check(a.Eq(av[4]), i => ad[i] == av[4] ? 1 : 0, "a.Eq(v)");
        Check(a.Lt(s), i => ad[i] < s ? 1 : 0, "a.Lt(v)");
        Check(a.Gt(s), i => ad[i] > s ? 1 : 0, "a.Gt(v)");
    }

    [Theory]
    [InlineData(new[] { 3, 5 }, new[] { 5 })]
    [InlineData(new[] { 3, 5 }, new[] { 3, 1 })]
    [InlineData(new[] { 3, 5 }, new int[0])]
    [InlineData(new[] { 3, 5 }, new[] { 3, 5 })]
    [InlineData(new[] { 2, 3, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 70_001 }, new[] { 70_001 })]
    public void InPlaceOpsBroadcastTheOtherOperand(int[] target, int[] other)
    {
        var tv = Data.Uniform(Reference.Numel(target), 1, -3, 3);
        var ov = Data.Uniform(Reference.Numel(other), 2, 0.5f, 3);
        var td = Data.ToDouble(tv);
        var od = Data.ToDouble(ov);

        using (var t = Tensor.FromArray(tv, new Shape(target)))
        using (var o = Tensor.FromArray(ov, new Shape(other)))
        {
            int version = t.Storage.Version;
            t.AddInPlace(o);
            Assert.True(t.Storage.Version > version, "an in-place write bumps the storage version");
            Tolerance.AssertClose(t.ToArray(), Reference.Binary((p, q) => p + q, td, target, od, other, out _), 0, 6e-8, "add_");
        }
        using (var t = Tensor.FromArray(tv, new Shape(target)))
        using (var o = Tensor.FromArray(ov, new Shape(other)))
        {
            t.ZipInPlace<Engine.Ops.Div>(o);
            Tolerance.AssertClose(t.ToArray(), Reference.Binary((p, q) => p / q, td, target, od, other, out _), 0, 6e-8, "div_");
        }
        using (var t = Tensor.FromArray(tv, new Shape(target)))
        {
            t.MulInPlace(-2.5f);
            Tolerance.AssertClose(t.ToArray(), Reference.Map(td, v => v * -2.5), 0, 6e-8, "mul_");
        }
    }

    [Theory]
    [InlineData(new[] { 3, 1 }, new[] { 3, 5 })] // broadcastable, but the result is bigger than the target
    [InlineData(new[] { 3, 5 }, new[] { 4 })]    // not broadcastable at all
    [InlineData(new int[0], new[] { 2 })]
    public void InPlaceIntoATargetTheResultDoesNotFitThrowsWithoutWriting(int[] target, int[] other)
    {
        var tv = Data.Uniform(Reference.Numel(target), 1);
        using var t = Tensor.FromArray(tv, new Shape(target));
        using var o = Tensor.Ones(new Shape(other));
        var e = Assert.Throws<TensorShapeException>(() => t.AddInPlace(o));
        Assert.Contains("add", e.Message);
        Assert.Contains(new Shape(target).ToString(), e.Message);
        Assert.Contains(new Shape(other).ToString(), e.Message);
        Assert.Equal(tv, t.ToArray());
    }

    public static readonly TheoryData<int[], int[], int[]> WhereShapes = new()
    {
        { [3, 4], [3, 4], [3, 4] },
        { [3, 1], [1, 4], [] },
        { [4], [3, 4], [3, 1] },
        { [], [2, 3], [2, 3] },
        { [2, 1, 3], [4, 1], [3] },
        { [70_001], [70_001], [70_001] },
    };

    [Theory, MemberData(nameof(WhereShapes))]
    public void WhereBroadcastsAllThreeInputs(int[] sc, int[] sa, int[] sb)
    {
        var cv = Array.ConvertAll(Data.Ints(Reference.Numel(sc), 1, 0, 2), v => (float)v);
        var av = Data.Uniform(Reference.Numel(sa), 2);
        var bv = Data.Uniform(Reference.Numel(sb), 3);
        using var c = Tensor.FromArray(cv, new Shape(sc));
        using var a = Tensor.FromArray(av, new Shape(sa));
        using var b = Tensor.FromArray(bv, new Shape(sb));
        using var y = Tensor.Where(c, a, b);
        var shape = Reference.BroadcastShape(sc, sa, sb)!;
        var expected = Reference.Broadcasted(v => v[0] != 0 ? v[1] : v[2], shape, (Data.ToDouble(cv), sc), (Data.ToDouble(av), sa),
            (Data.ToDouble(bv), sb));
        Assert.Equal(new Shape(shape), y.Shape);
        Tolerance.AssertClose(y.ToArray(), expected, 0, 0, "where");
    }

    [Fact]
    public void WhereTreatsAnyNonZeroAsTrue()
    {
        using var c = Tensor.FromArray([0f, -0f, 2f, float.NaN, -1f]);
        using var a = Tensor.Ones(new Shape(5));
        using var b = Tensor.Zeros(new Shape(5));
        using var y = Tensor.Where(c, a, b);
        Assert.Equal([0f, 0, 1, 1, 1], y.ToArray());
    }

    [Theory]
    [InlineData(new[] { 3, 4 }, new[] { 4 })]
    [InlineData(new[] { 3, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 2, 3, 4 }, new[] { 2, 3, 4 })]
    public void MaskedFillReplacesWhereTheMaskIsSet(int[] shape, int[] maskShape)
    {
        var xv = Data.Uniform(Reference.Numel(shape), 1);
        var mv = Array.ConvertAll(Data.Ints(Reference.Numel(maskShape), 2, 0, 2), v => (float)v);
        using var x = Tensor.FromArray(xv, new Shape(shape));
        using var m = Tensor.FromArray(mv, new Shape(maskShape));
        using var y = x.MaskedFill(m, float.NegativeInfinity);
        var expected = Reference.Broadcasted(v => v[1] != 0 ? double.NegativeInfinity : v[0], shape, (Data.ToDouble(xv), shape),
            (Data.ToDouble(mv), maskShape));
        Tolerance.AssertClose(y.ToArray(), expected, 0, 0, "masked_fill");
        Assert.Equal(xv, x.ToArray());
    }
}
