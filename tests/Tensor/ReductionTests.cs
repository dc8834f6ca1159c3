using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>sum / mean / max / argmax along every axis, against float64 loops.</summary>
public class ReductionTests
{
    static readonly int[][] Shapes =
        [[7], [1000], [3, 5], [5, 1], [2, 3, 4], [4, 1, 33], [2, 3, 4, 5], [3, 70_001], [70_001, 3], [300, 260]];

    /// <summary>Every (shape, axis, keepDim), axes given both as non-negative and negative.</summary>
    public static TheoryData<int[], int, bool> ShapeAxisKeep()
    {
        var data = new TheoryData<int[], int, bool>();
        foreach (var shape in Shapes)
            for (int axis = 0; axis < shape.Length; axis++)
            {
                data.Add(shape, axis, false);
                data.Add(shape, axis - shape.Length, true);
            }
        return data;
    }

    static int[] KeptShape(int[] shape, int axis, bool keepDim)
    {
        var l = shape.ToList();
        if (keepDim) l[axis] = 1;
        else l.RemoveAt(axis);
        return [.. l];
    }

    /// <summary>
    /// A float sum of n terms is within (n−1)·u·Σ|x| of the exact sum (Higham, Accuracy and Stability,
    /// §4.2; u = 2⁻²⁴), whatever order the SIMD lanes add in. We use n·u·max over outputs of Σ|x| as atol.
    /// </summary>
    static double SumAtol(double[] x, int[] shape, int axis) =>
        shape[axis] * Math.Pow(2, -24) * Reference.Sum(Reference.Map(x, Math.Abs), shape, axis).DefaultIfEmpty(0).Max();

    [Theory, MemberData(nameof(ShapeAxisKeep))]
    public void SumAndMeanAlongEveryAxis(int[] shape, int axis, bool keepDim)
    {
        int a = axis < 0 ? axis + shape.Length : axis;
        using var x = Data.Tensor(shape, 11);
        var xd = Data.ToDouble(x.ToArray());
        var expected = Reference.Sum(xd, shape, a);
        double atol = SumAtol(xd, shape, a);
        using (var s = x.Sum(axis, keepDim))
        {
            Assert.Equal(new Shape(KeptShape(shape, a, keepDim)), s.Shape);
            Tolerance.AssertClose(s.ToArray(), expected, atol, 0, "sum");
        }
        using (var m = x.Mean(axis, keepDim))
        {
            Assert.Equal(new Shape(KeptShape(shape, a, keepDim)), m.Shape);
            // The mean is the sum scaled by 1/n in float: one more rounding (½ ulp relative).
            Tolerance.AssertClose(m.ToArray(), Reference.Map(expected, v => v / shape[a]), atol / shape[a], 1.2e-7, "mean");
        }
    }

    [Theory, MemberData(nameof(ShapeAxisKeep))]
    public void SumOfSmallIntegersIsExact(int[] shape, int axis, bool keepDim)
    {
        // Every partial sum of integers in [-4, 4] stays far below 2²⁴, so any summation order is exact:
        // a skipped or doubled element shows up as a whole-number error, not hidden by a rounding bound.
        int a = axis < 0 ? axis + shape.Length : axis;
        var xv = Array.ConvertAll(Data.Ints(Reference.Numel(shape), 13, -4, 5), v => (float)v);
        using var x = Tensor.FromArray(xv, new Shape(shape));
        using var s = x.Sum(axis, keepDim);
        Tolerance.AssertClose(s.ToArray(), Reference.Sum(Data.ToDouble(xv), shape, a), 0, 0, "sum of integers");
        using var all = x.Sum();
        Tolerance.AssertClose([all.ToScalar()], [xv.Sum(v => (double)v)], 0, 0, "sum() of integers");
    }

    [Theory, MemberData(nameof(ShapeAxisKeep))]
    public void MaxAndArgMaxAlongEveryAxis(int[] shape, int axis, bool keepDim)
    {
        int a = axis < 0 ? axis + shape.Length : axis;
        // Grid values: many exact ties, so argmax must pick the first maximum.
        var xv = Data.Grid(Reference.Numel(shape), 12);
        using var x = Tensor.FromArray(xv, new Shape(shape));
        var xd = Data.ToDouble(xv);
        using (var m = x.Max(axis, keepDim))
        {
            Assert.Equal(new Shape(KeptShape(shape, a, keepDim)), m.Shape);
            Tolerance.AssertClose(m.ToArray(), Reference.Max(xd, shape, a), 0, 0, "max");
        }
        using (var i = x.ArgMax(axis, keepDim))
        {
            Assert.Equal(DType.Int32, i.DType);
            Assert.Equal(new Shape(KeptShape(shape, a, keepDim)), i.Shape);
            Assert.Equal(Reference.ArgMax(xd, shape, a).Select(v => (int)v), i.ToInts());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(100_000)]
    public void FullSumAndMean(int n)
    {
        using var x = Data.Tensor([n], 3, 0, 1);
        var xd = Data.ToDouble(x.ToArray());
        double exact = xd.Sum(), atol = n * Math.Pow(2, -24) * xd.Sum(Math.Abs);
        using var s = x.Sum();
        using var m = x.Mean();
        Assert.Equal(new Shape(), s.Shape);
        Tolerance.AssertClose([s.ToScalar()], [exact], atol, 0, "sum()");
        Tolerance.AssertClose([m.ToScalar()], [exact / n], atol / n, 1.2e-7, "mean()");
        if (n % 4 != 0) return;
        using var x2 = x.Reshape(4, -1, 1);
        using var s2 = x2.Sum();
        Tolerance.AssertClose([s2.ToScalar()], [exact], atol, 0, "sum() of rank 3");
    }

    [Fact]
    public void SumOfAScalarAndOfEmpty()
    {
        using var s = Tensor.Scalar(2.5f);
        using var t = s.Sum();
        Assert.Equal(2.5f, t.ToScalar());
        using var e = Tensor.Zeros(new Shape(0, 3));
        using var es = e.Sum(0);
        Assert.Equal(new float[3], es.ToArray());
        using var all = e.Sum();
        Assert.Equal(0f, all.ToScalar());
    }

    [Fact]
    public void MaxPropagatesNaNAlongEitherLayout()
    {
        // [3, 20]: NaN at [1, 17] (past the first 16-lane vector). Along axis 1 (rows) only row 1 is NaN;
        // along axis 0 (columns) only column 17 is.
        var xv = Data.Uniform(60, 4);
        xv[1 * 20 + 17] = float.NaN;
        using var x = Tensor.FromArray(xv, new Shape(3, 20));
        using var rows = x.Max(1);
        using var cols = x.Max(0);
        Assert.Equal([false, true, false], rows.ToArray().Select(float.IsNaN));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i == 17), cols.ToArray().Select(float.IsNaN));
        using var arg = x.ArgMax(1);
        Assert.Equal(17, arg.ToInts()[1]);
    }

    [Fact]
    public void ArgMaxPicksTheFirstMaximum()
    {
        using var x = Tensor.FromArray([1f, 3, 3, 2, 5, 5, 5, 5], new Shape(2, 4));
        using var rows = x.ArgMax(1);
        Assert.Equal([1, 0], rows.ToInts());
        using var y = Tensor.FromArray([1f, 7, 7, 7, 7, 2], new Shape(3, 2));
        using var cols = y.ArgMax(0);
        Assert.Equal([1, 0], cols.ToInts());
    }
}
