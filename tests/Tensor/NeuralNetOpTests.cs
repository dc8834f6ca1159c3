using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>softmax, log-softmax, layer norm, embedding and cross-entropy against float64 loops.</summary>
public class NeuralNetOpTests
{
    public static readonly TheoryData<int[]> RowShapes = new([1], [1, 1], [3, 7], [4, 17], [2, 3, 16], [2, 1000], [130, 600], [8, 8192]);

    /// <summary>Rows with huge, tiny and equal logits, which overflow a naive exp(x) / Σ exp(x).</summary>
    static float[] Logits(int[] shape, int seed)
    {
        var x = Data.Uniform(Reference.Numel(shape), seed, -8, 8);
        int cols = shape[^1];
        if (x.Length >= 3 * cols && cols >= 3)
        {
            for (int c = 0; c < cols; c++)
            {
                x[c] = 1000f + c % 3;               // row 0: around +1000
                x[cols + c] = -1000f - c % 5;       // row 1: around −1000
                x[2 * cols + c] = 0.25f;            // row 2: all equal
            }
        }
        return x;
    }

    [Theory, MemberData(nameof(RowShapes))]
    public void SoftmaxIsStableAndMatchesReference(int[] shape)
    {
        var xv = Logits(shape, 1);
        using var x = Tensor.FromArray(xv, new Shape(shape));
        using var y = x.Softmax();
        Assert.Equal(x.Shape, y.Shape);
        // exp and the row sum in float: a few ulp each, well inside rtol 1e-5; atol 1e-9 for
        // probabilities that underflow (e^−16 ≈ 1e-7 is still resolved relatively).
        Tolerance.AssertClose(y.ToArray(), Reference.Softmax(Data.ToDouble(xv), shape[^1], log: false), 1e-9, 1e-5, "softmax");
    }

    [Theory, MemberData(nameof(RowShapes))]
    public void LogSoftmaxIsStableAndMatchesReference(int[] shape)
    {
        var xv = Logits(shape, 2);
        using var x = Tensor.FromArray(xv, new Shape(shape));
        using var y = x.LogSoftmax();
        // (x − max) is exact in float for these inputs; log Σ adds an absolute error of a few ulp of
        // log(cols) ≤ 9.1, so atol 1e-5 bounds it; rtol 1e-6 covers the rounding of x − max − lse.
        Tolerance.AssertClose(y.ToArray(), Reference.Softmax(Data.ToDouble(xv), shape[^1], log: true), 1e-5, 1e-6, "log_softmax");
    }

    [Theory]
    [InlineData(new[] { 2, 8 })]
    [InlineData(new[] { 3, 768 })]
    [InlineData(new[] { 2, 3, 33 })]
    [InlineData(new[] { 65, 513 })]
    [InlineData(new[] { 200, 768 })]
    [InlineData(new[] { 7 })]
    public void LayerNormMatchesReferenceWithMeanAndRstd(int[] shape)
    {
        int cols = shape[^1];
        // A large offset (mean ≈ 3) and scale (σ ≈ 2.9) so a one-pass variance would lose digits.
        using var x = Data.Tensor(shape, 1, -2, 8);
        using var w = Data.Tensor([cols], 2, 0.5f, 1.5f);
        using var b = Data.Tensor([cols], 3, -1, 1);
        using var y = x.LayerNorm(w, b, 1e-5f, out var mean, out var rstd);
        using (mean)
        using (rstd)
        {
            var expected = Reference.LayerNorm(Data.ToDouble(x.ToArray()), Data.ToDouble(w.ToArray()), Data.ToDouble(b.ToArray()), cols,
                1e-5, out var em, out var es);
            int[] rowShape = shape[..^1];
            Assert.Equal(new Shape(rowShape), mean.Shape);
            Assert.Equal(new Shape(rowShape), rstd.Shape);
            // Float row sums over ≤ 768 values of |x| ≤ 8: n·u·Σ|x| / n ≈ 8·768·6e-8 ≈ 4e-4 is the worst-case
            // bound on the mean; its typical error is far smaller, and 1e-5 absolute on outputs of
            // size O(1) is ~100 ulp. The reference computes the same formula in double.
            Tolerance.AssertClose(mean.ToArray(), em, 1e-5, 1e-6, "layer_norm mean");
            Tolerance.AssertClose(rstd.ToArray(), es, 0, 1e-5, "layer_norm rstd");
            Tolerance.AssertClose(y.ToArray(), expected, 1e-5, 1e-5, "layer_norm y");
        }
        using var plain = x.LayerNorm(w, b);
        Tolerance.AssertClose(plain.ToArray(), y.ToArray(), 0, 0, "layer_norm without mean/rstd");
    }

    [Fact]
    public void LayerNormOfAConstantRowIsTheBias()
    {
        // var = 0, so rstd = 1/√eps and y = 0·rstd·w + b = b exactly.
        using var x = Tensor.Full(new Shape(2, 5), 3f);
        using var w = Tensor.Ones(new Shape(5));
        using var b = Tensor.FromArray([1f, 2, 3, 4, 5]);
        using var y = x.LayerNorm(w, b, 1e-5f, out var mean, out var rstd);
        using (mean)
        using (rstd)
        {
            Tolerance.AssertClose(y.ToArray(), [1.0, 2, 3, 4, 5, 1, 2, 3, 4, 5], 0, 0, "y");
            Tolerance.AssertClose(mean.ToArray(), [3.0, 3], 0, 0, "mean");
            Tolerance.AssertClose(rstd.ToArray(), [1 / Math.Sqrt(1e-5f), 1 / Math.Sqrt(1e-5f)], 0, 1e-6, "rstd");
        }
    }

    [Fact]
    public void EmbeddingGathersRowsForIdsOfAnyShape()
    {
        const int vocab = 10, dim = 5;
        using var table = Data.Tensor([vocab, dim], 1);
        int[] ids = [3, 0, 9, 3, 3, 7];
        using var idt = Tensor.FromInts(ids, new Shape(2, 3));
        using var y = Tensor.Embedding(table, idt);
        Assert.Equal(new Shape(2, 3, dim), y.Shape);
        Tolerance.AssertClose(y.ToArray(), Reference.Gather(Data.ToDouble(table.ToArray()), ids, dim), 0, 0, "embedding");
    }

    [Theory]
    [InlineData(6, 5, 10)]
    [InlineData(300, 130, 7)] // many rows hitting few ids; 130 columns split over the cores
    public void EmbeddingScatterAddAccumulatesRepeatedIds(int rows, int dim, int vocab)
    {
        var ids = Data.Ints(rows, 4, 0, vocab);
        ids[0] = ids[1] = ids[^1]; // guaranteed repeats
        using var src = Data.Tensor([rows, dim], 5);
        using var idt = Tensor.FromInts(ids, new Shape(rows));
        using var table = Tensor.EmbeddingScatterAdd(src, idt, vocab);
        Assert.Equal(new Shape(vocab, dim), table.Shape);
        var srcd = Data.ToDouble(src.ToArray());
        // Float sums of ≤ rows terms with |x| ≤ 1: rows·u·rows bounds each sum (Higham).
        Tolerance.AssertClose(table.ToArray(), Reference.ScatterAdd(srcd, ids, vocab, dim), rows * rows * Math.Pow(2, -24), 0, "scatter_add");
        // Deterministic: the same call gives bit-identical sums.
        using var again = Tensor.EmbeddingScatterAdd(src, idt, vocab);
        Assert.Equal(table.ToArray(), again.ToArray());
    }

    static (float[] Logits, int[] Targets) CrossEntropyCase(int rows, int cols, int ignoreIndex, int seed)
    {
        var logits = Data.Uniform(rows * cols, seed, -5, 5);
        for (int c = 0; c < cols; c++) logits[c] += 1000f; // row 0: huge logits, stable only with the max subtracted
        var targets = Data.Ints(rows, seed + 1, 0, cols);
        for (int r = 1; r < rows; r += 3) targets[r] = ignoreIndex;
        return (logits, targets);
    }

    [Theory]
    [InlineData(6, 11, -100)]
    [InlineData(7, 5, 3)]       // an ignore index that is also a valid class
    [InlineData(64, 1000, -1)]
    [InlineData(1, 4, -100)]
    public void CrossEntropyWithIgnoreIndexInEveryReduction(int rows, int cols, int ignoreIndex)
    {
        var (lv, tv) = CrossEntropyCase(rows, cols, ignoreIndex, 7);
        using var logits = Tensor.FromArray(lv, new Shape(rows, cols));
        using var targets = Tensor.FromInts(tv, new Shape(rows));
        var expected = Reference.CrossEntropyRows(Data.ToDouble(lv), tv, cols, ignoreIndex);
        int counted = tv.Count(t => t != ignoreIndex);
        // Per-row losses are log Σ exp(x − max) + max − x_t: the absolute error is a few ulp of the
        // logits (|x| ≤ 1005 → ulp 6e-5), so atol 5e-4 (≈ 8 ulp at 1000) with rtol 1e-5.
        using (var none = Tensor.CrossEntropy(logits, targets, ignoreIndex, LossReduction.None))
            Tolerance.AssertClose(none.ToArray(), expected, 5e-4, 1e-5, "cross_entropy none");
        using (var sum = Tensor.CrossEntropy(logits, targets, ignoreIndex, LossReduction.Sum))
            Tolerance.AssertClose([sum.ToScalar()], [expected.Sum()], 5e-4 * rows, 1e-5, "cross_entropy sum");
        using (var mean = Tensor.CrossEntropy(logits, targets, ignoreIndex, LossReduction.Mean))
            Tolerance.AssertClose([mean.ToScalar()], [expected.Sum() / counted], 5e-4, 1e-5, "cross_entropy mean");
    }

    [Fact]
    public void CrossEntropyWithEveryRowIgnored()
    {
        using var logits = Data.Tensor([3, 4], 1);
        using var targets = Tensor.FromInts([-100, -100, -100], new Shape(3));
        using var mean = Tensor.CrossEntropy(logits, targets);
        Assert.True(float.IsNaN(mean.ToScalar()), "mean over zero counted rows is NaN, as in PyTorch");
        using var sum = Tensor.CrossEntropy(logits, targets, reduction: LossReduction.Sum);
        Assert.Equal(0f, sum.ToScalar());
        using var none = Tensor.CrossEntropy(logits, targets, reduction: LossReduction.None);
        Assert.Equal(new float[3], none.ToArray());
    }

    [Fact]
    public void CrossEntropyOfUniformLogitsIsLogV()
    {
        // All-equal logits: softmax is 1/V, so the loss is ln V exactly in real arithmetic.
        using var logits = Tensor.Zeros(new Shape(4, 50));
        using var targets = Tensor.FromInts([0, 10, 49, 25], new Shape(4));
        using var loss = Tensor.CrossEntropy(logits, targets);
        Tolerance.AssertClose([loss.ToScalar()], [Math.Log(50)], 0, 1e-6, "ln V");
    }
}
