using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>concat, split, slice, transpose, permute, reshape and views. Every result is a copy of input values: exact.</summary>
public class LayoutTests
{
    static readonly int[][] Shapes = [[7], [3, 5], [2, 3, 4], [2, 1, 3, 5], [40, 2000]];

    public static TheoryData<int[], int> ShapeAxis()
    {
        var data = new TheoryData<int[], int>();
        foreach (var s in Shapes)
            for (int a = 0; a < s.Length; a++) data.Add(s, a);
        return data;
    }

    [Fact]
    public void ScalarShapes()
    {
        Assert.Equal(1, new Shape().Numel);
        Assert.Equal(1, default(Shape).Numel);
        Assert.Equal(0, new Shape().Rank);
        Assert.Equal(0, new Shape(3, 0).Numel);
        using var s = Tensor.Scalar(4.5f);
        Assert.Equal(4.5f, s.ToScalar());
    }

    [Theory, MemberData(nameof(ShapeAxis))]
    public void SliceAlongEveryAxis(int[] shape, int axis)
    {
        using var x = Data.Tensor(shape, 1);
        var xd = Data.ToDouble(x.ToArray());
        int n = shape[axis];
        foreach (var (start, length) in new[] { (0, n), (0, 1), (n - 1, 1), (n / 3, n - n / 3), (n / 2, 0) })
        {
            using var y = x.Slice(axis, start, length);
            Assert.Equal(new Shape(shape).With(axis, length), y.Shape);
            Tolerance.AssertClose(y.ToArray(), Reference.Slice(xd, shape, axis, start, length), 0, 0, $"slice({axis}, {start}, {length})");
            using var yn = x.Slice(axis - shape.Length, start, length);
            Assert.Equal(y.ToArray(), yn.ToArray());
        }
    }

    [Theory, MemberData(nameof(ShapeAxis))]
    public void ConcatAndSplitAlongEveryAxis(int[] shape, int axis)
    {
        int n = shape[axis];
        int[] sizes = n >= 3 ? [1, n - 3, 2] : [n, 0];
        var parts = new List<Tensor>();
        var refs = new List<(double[], int[])>();
        for (int i = 0; i < sizes.Length; i++)
        {
            int[] s = [.. shape];
            s[axis] = sizes[i];
            var t = Data.Tensor(s, 10 + i);
            parts.Add(t);
            refs.Add((Data.ToDouble(t.ToArray()), s));
        }
        using var y = Tensor.Concat(axis, [.. parts]);
        Assert.Equal(new Shape(shape), y.Shape);
        Tolerance.AssertClose(y.ToArray(), Reference.Concat(axis, [.. refs]), 0, 0, $"concat axis {axis}");

        var pieces = y.Split(axis - shape.Length, sizes);
        Assert.Equal(sizes.Length, pieces.Length);
        for (int i = 0; i < pieces.Length; i++)
        {
            Assert.Equal(parts[i].Shape, pieces[i].Shape);
            Assert.Equal(parts[i].ToArray(), pieces[i].ToArray());
            pieces[i].Dispose();
            parts[i].Dispose();
        }
    }

    [Fact]
    public void ConcatOfInt32Tensors()
    {
        using var a = Tensor.FromInts([1, 2], new Shape(2));
        using var b = Tensor.FromInts([3], new Shape(1));
        using var y = Tensor.Concat(0, a, b);
        Assert.Equal(DType.Int32, y.DType);
        Assert.Equal([1, 2, 3], y.ToInts());
    }

    static IEnumerable<int[]> Permutations(int n)
    {
        if (n == 0)
        {
            yield return [];
            yield break;
        }
        foreach (var p in Permutations(n - 1))
            for (int i = 0; i <= p.Length; i++) yield return [.. p[..i], n - 1, .. p[i..]];
    }

    [Theory]
    [InlineData(new[] { 5 })]
    [InlineData(new[] { 3, 5 })]
    [InlineData(new[] { 2, 3, 4 })]
    [InlineData(new[] { 2, 1, 3, 5 })]
    [InlineData(new[] { 4, 300, 70 })]
    public void PermuteEveryOrder(int[] shape)
    {
        using var x = Data.Tensor(shape, 2);
        var xd = Data.ToDouble(x.ToArray());
        foreach (var order in Permutations(shape.Length))
        {
            using var y = x.Permute(order);
            var expected = Reference.Permute(xd, shape, order, out var outShape);
            Assert.Equal(new Shape(outShape), y.Shape);
            Tolerance.AssertClose(y.ToArray(), expected, 0, 0, $"permute [{string.Join(",", order)}]");
        }
    }

    [Fact]
    public void PermuteOfAScalar()
    {
        using var s = Tensor.Scalar(2f);
        using var y = s.Permute();
        Assert.Equal(2f, y.ToScalar());
    }

    [Theory]
    [InlineData(new[] { 3, 5 }, -2, -1)]
    [InlineData(new[] { 2, 3, 4 }, 0, 2)]
    [InlineData(new[] { 2, 3, 4 }, 1, -1)]
    [InlineData(new[] { 2, 3, 4, 5 }, 3, 0)]
    public void TransposeSwapsTwoAxes(int[] shape, int a0, int a1)
    {
        using var x = Data.Tensor(shape, 3);
        using var y = x.Transpose(a0, a1);
        var order = Enumerable.Range(0, shape.Length).ToArray();
        int p = a0 < 0 ? a0 + shape.Length : a0, q = a1 < 0 ? a1 + shape.Length : a1;
        (order[p], order[q]) = (order[q], order[p]);
        var expected = Reference.Permute(Data.ToDouble(x.ToArray()), shape, order, out var outShape);
        Assert.Equal(new Shape(outShape), y.Shape);
        Tolerance.AssertClose(y.ToArray(), expected, 0, 0, "transpose");
        using var back = y.Transpose(a0, a1);
        Assert.Equal(x.ToArray(), back.ToArray());
    }

    [Fact]
    public void ReshapeInfersMinusOneAndSharesStorage()
    {
        using var x = Tensor.Arange(24);
        using var a = x.Reshape(2, -1, 4);
        Assert.Equal(new Shape(2, 3, 4), a.Shape);
        using var b = x.Reshape(-1);
        Assert.Equal(new Shape(24), b.Shape);
        using var c = a.Reshape(4, 6);
        Assert.Same(x.Storage, c.Storage);
        Assert.Equal(x.ToArray(), c.ToArray());
        using var s = Tensor.Scalar(1f);
        using var s1 = s.Reshape(1, 1);
        using var s0 = s1.Reshape();
        Assert.Equal(new Shape(), s0.Shape);
    }

    [Fact]
    public void NarrowAndIndexerAreViewsThatWriteThrough()
    {
        using var x = Tensor.Arange(12);
        using var m = x.Reshape(4, 3);
        using var rows = m.Narrow(1, 2);           // rows 1..2 of [4, 3]
        Assert.Equal(new Shape(2, 3), rows.Shape);
        Assert.Equal([3f, 4, 5, 6, 7, 8], rows.ToArray());
        using var row = rows[1];                    // row 2 of the parent
        Assert.Equal(new Shape(3), row.Shape);
        Assert.Equal([6f, 7, 8], row.ToArray());
        using var elem = row[2];                    // element [2, 2]
        Assert.Equal(new Shape(), elem.Shape);
        Assert.Equal(8f, elem.ToScalar());

        row.CopyFrom([-1f, -2, -3]);
        Assert.Equal([0f, 1, 2, 3, 4, 5, -1, -2, -3, 9, 10, 11], x.ToArray());
        elem.CopyFrom([100f]);
        Assert.Equal(100f, m.ToArray()[8]);

        // Ops on a view read only the view's elements, at its offset.
        using var doubled = rows * 2f;
        Assert.Equal([6f, 8, 10, -2, -4, 200], doubled.ToArray());
        using var sum = rows.Sum(0);
        Assert.Equal([2f, 2, 105], sum.ToArray());
        using var t = rows.Transpose();
        Assert.Equal([3f, -1, 4, -2, 5, 100], t.ToArray());
        using var z = rows.Clone();
        Assert.NotSame(rows.Storage, z.Storage);
        Assert.Equal(rows.ToArray(), z.ToArray());
    }

    [Fact]
    public void InPlaceOpOnAViewChangesOnlyThatPartOfTheParent()
    {
        using var x = Tensor.Arange(6);
        using var m = x.Reshape(2, 3);
        using var row = m[1];
        using var one = Tensor.Ones(new Shape(3));
        row.AddInPlace(one);
        Assert.Equal([0f, 1, 2, 4, 5, 6], x.ToArray());
        using var top = m.Narrow(0, 1);
        top.Fill(9f);
        Assert.Equal([9f, 9, 9, 4, 5, 6], x.ToArray());
    }

    [Fact]
    public void CloneAndToCopyEverything()
    {
        using var x = Data.Tensor([3, 70_001], 5);
        using var c = x.Clone();
        using var d = x.To(Device.Cpu);
        Assert.Equal(x.ToArray(), c.ToArray());
        Assert.Equal(x.ToArray(), d.ToArray());
        Assert.NotSame(x.Storage, d.Storage);
    }
}
