using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Every rejected input names the op and the shapes, and nothing is written when an op throws.</summary>
public class ErrorTests
{
    static void Throws(Action act, params string[] parts)
    {
        var e = Assert.Throws<TensorShapeException>(act);
        foreach (var p in parts) Assert.Contains(p, e.Message);
    }

    static Tensor F(params int[] shape) => Data.Tensor(shape, 1);

    static Tensor I(params int[] shape) => Tensor.FromInts(new int[new Shape(shape).Numel], new Shape(shape));

    [Fact]
    public void BinaryOpsNameTheOpAndBothShapes()
    {
        using var a = F(2, 3);
        using var b = F(4);
        Throws(() => Tensor.Add(a, b).Dispose(), "add", "[2, 3]", "[4]");
        Throws(() => (a - b).Dispose(), "sub", "[2, 3]", "[4]");
        Throws(() => (a * b).Dispose(), "mul", "[2, 3]", "[4]");
        Throws(() => (a / b).Dispose(), "div", "[2, 3]", "[4]");
        Throws(() => Tensor.Maximum(a, b).Dispose(), "maximum", "[2, 3]", "[4]");
        Throws(() => Tensor.Minimum(a, b).Dispose(), "minimum", "[2, 3]", "[4]");
        Throws(() => Tensor.Eq(a, b).Dispose(), "eq", "[2, 3]", "[4]");
        Throws(() => Tensor.Ge(a, b).Dispose(), "ge", "[2, 3]", "[4]");
        using var c = F(3, 1, 5);
        using var d = F(4, 2);
        Throws(() => (c + d).Dispose(), "add", "[3, 1, 5]", "[4, 2]");
        using var e = F(0);
        using var f = F(3);
        Throws(() => (e + f).Dispose(), "add", "[0]", "[3]");
    }

    [Fact]
    public void DTypeErrorsNameTheOpAndTheType()
    {
        using var ints = I(2, 3);
        using var x = F(2, 3);
        Throws(() => ints.Exp().Dispose(), "exp", "Int32", "[2, 3]");
        Throws(() => (ints + x).Dispose(), "add", "Int32");
        Throws(() => ints.Sum(0).Dispose(), "sum", "Int32");
        Throws(() => ints.Softmax().Dispose(), "softmax", "Int32");
        Throws(() => ints.ToArray(), "to_array", "Int32");
        Throws(() => x.ToInts(), "to_ints", "Float32");
        Throws(() => ints.Fill(1f), "fill_", "Int32");
        Throws(() => x.MaskedFill(ints, 0f).Dispose(), "masked_fill", "Int32");
        Throws(() => Tensor.Where(ints, x, x).Dispose(), "where", "Int32");
        Throws(() => Tensor.Embedding(x, x).Dispose(), "embedding", "Float32");
    }

    [Fact]
    public void AxisErrorsNameTheOpTheAxisAndTheShape()
    {
        using var x = F(2, 3);
        Throws(() => x.Sum(2).Dispose(), "sum", "axis 2", "[2, 3]");
        Throws(() => x.Mean(-3).Dispose(), "mean", "axis -3", "[2, 3]");
        Throws(() => x.Max(5).Dispose(), "max", "[2, 3]");
        Throws(() => x.ArgMax(2).Dispose(), "argmax", "[2, 3]");
        Throws(() => x.Slice(2, 0, 1).Dispose(), "slice", "[2, 3]");
        Throws(() => x.Transpose(0, 2).Dispose(), "transpose", "[2, 3]");
        Throws(() => x.Split(3, 1, 1), "split", "[2, 3]");
        Throws(() => Tensor.Concat(2, x, x).Dispose(), "concat", "[2, 3]");
        using var s = Tensor.Scalar(1f);
        Throws(() => s.Sum(0).Dispose(), "sum", "[]");
        Throws(() => s.Softmax().Dispose(), "softmax", "[]");
        using var empty = F(2, 0);
        Throws(() => empty.Max(1).Dispose(), "max", "[2, 0]");
        Throws(() => empty.ArgMax(1).Dispose(), "argmax", "[2, 0]");
    }

    [Fact]
    public void LayoutErrorsNameTheOpAndTheShapes()
    {
        using var x = F(2, 3);
        Throws(() => x.Reshape(4, 2).Dispose(), "reshape", "[2, 3]", "[4, 2]");
        Throws(() => x.Reshape(-1, -1).Dispose(), "reshape", "[2, 3]");
        Throws(() => x.Reshape(4, -1).Dispose(), "reshape", "[2, 3]");
        Throws(() => x.Reshape(-2, -3).Dispose(), "reshape", "[2, 3]");
        Throws(() => x.Slice(1, 2, 2).Dispose(), "slice", "[2, 3]");
        Throws(() => x.Slice(1, -1, 2).Dispose(), "slice", "[2, 3]");
        Throws(() => x.Split(1, 1, 1), "split", "[2, 3]", "[1, 1]");
        Throws(() => x.Split(1, 4, -1), "split");
        Throws(() => x.Narrow(1, 2).Dispose(), "narrow", "[2, 3]");
        Throws(() => x[2].Dispose(), "index", "[2, 3]");
        Throws(() => x[-1].Dispose(), "index", "[2, 3]");
        Throws(() => x.Permute(0).Dispose(), "permute", "[2, 3]");
        Throws(() => x.Permute(0, 0).Dispose(), "permute", "[2, 3]");
        using var y = F(3, 3);
        Throws(() => Tensor.Concat(1, x, y).Dispose(), "concat", "[2, 3]", "[3, 3]");
        using var z = F(2, 3, 1);
        Throws(() => Tensor.Concat(0, x, z).Dispose(), "concat", "[2, 3]", "[2, 3, 1]");
        Throws(() => Tensor.FromArray([1f, 2f], new Shape(3)).Dispose(), "from_array", "[3]");
        Throws(() => x.CopyFrom([1f]), "copy_from", "[2, 3]");
        Throws(() => x.ToScalar(), "to_scalar", "[2, 3]");
    }

    [Fact]
    public void NeuralNetOpErrorsNameTheOpAndTheShapes()
    {
        using var x = F(2, 4);
        using var w3 = F(3);
        using var w4 = F(4);
        Throws(() => x.LayerNorm(w3, w4).Dispose(), "layer_norm", "[3]", "[2, 4]");
        Throws(() => x.LayerNorm(w4, w4, 0f).Dispose(), "layer_norm", "eps");
        Throws(() => x.BiasGelu(w3).Dispose(), "bias_gelu", "[3]", "[2, 4]");
        using var mask = F(3);
        Throws(() => x.MaskedFill(mask, 0f).Dispose(), "masked_fill", "[3]", "[2, 4]");
        using var m21 = F(2, 1);
        using var big = F(3, 2, 4);
        Throws(() => x.MaskedFill(big, 0f).Dispose(), "masked_fill", "[3, 2, 4]", "[2, 4]");
        Throws(() => Tensor.Where(m21, x, w3).Dispose(), "where", "[2, 1]", "[2, 4]", "[3]");
    }

    [Fact]
    public void BadIdsAndTargetsAreRejectedWithTheirPosition()
    {
        using var table = F(5, 3);
        using var ids = Tensor.FromInts([0, 4, 5], new Shape(3));
        Throws(() => Tensor.Embedding(table, ids).Dispose(), "embedding", "id 5", "position 2", "[5, 3]");
        using var neg = Tensor.FromInts([-1], new Shape(1));
        Throws(() => Tensor.Embedding(table, neg).Dispose(), "embedding", "id -1");
        using var flat = F(15);
        Throws(() => Tensor.Embedding(flat, ids).Dispose(), "embedding", "[15]");

        using var src = F(3, 2);
        Throws(() => Tensor.EmbeddingScatterAdd(src, ids, 5).Dispose(), "embedding_scatter_add", "id 5");
        using var ids2 = Tensor.FromInts([0, 1], new Shape(2));
        Throws(() => Tensor.EmbeddingScatterAdd(src, ids2, 5).Dispose(), "embedding_scatter_add", "[3, 2]", "[2]");
        using var ids3 = I(3);
        Throws(() => Tensor.EmbeddingScatterAdd(src, ids3, -1).Dispose(), "embedding_scatter_add", "-1");

        using var logits = F(3, 4);
        using var targets = Tensor.FromInts([0, 4, -100], new Shape(3));
        Throws(() => Tensor.CrossEntropy(logits, targets).Dispose(), "cross_entropy", "target 4", "row 1", "[3, 4]");
        using var negTarget = Tensor.FromInts([0, -2, 1], new Shape(3));
        Throws(() => Tensor.CrossEntropy(logits, negTarget).Dispose(), "cross_entropy", "target -2");
        using var short2 = Tensor.FromInts([0, 1], new Shape(2));
        Throws(() => Tensor.CrossEntropy(logits, short2).Dispose(), "cross_entropy", "[3, 4]", "[2]");
    }

    [Fact]
    public void DisposedTensorsThrowObjectDisposedException()
    {
        var x = F(2, 3);
        using var ok = F(2, 3);
        x.Dispose();
        Assert.True(x.IsDisposed);
        x.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => x.ToArray());
        Assert.Throws<ObjectDisposedException>(() => x.Exp());
        Assert.Throws<ObjectDisposedException>(() => x + ok);
        Assert.Throws<ObjectDisposedException>(() => ok + x);
        Assert.Throws<ObjectDisposedException>(() => x * 2f);
        Assert.Throws<ObjectDisposedException>(() => x.Sum(0));
        Assert.Throws<ObjectDisposedException>(() => x.Sum());
        Assert.Throws<ObjectDisposedException>(() => x.Max(1));
        Assert.Throws<ObjectDisposedException>(() => x.Softmax());
        Assert.Throws<ObjectDisposedException>(() => x.Reshape(3, 2));
        Assert.Throws<ObjectDisposedException>(() => x.Narrow(0, 1));
        Assert.Throws<ObjectDisposedException>(() => x[0]);
        Assert.Throws<ObjectDisposedException>(() => x.Permute(1, 0));
        Assert.Throws<ObjectDisposedException>(() => x.Slice(0, 0, 1));
        Assert.Throws<ObjectDisposedException>(() => x.Clone());
        Assert.Throws<ObjectDisposedException>(() => Tensor.Concat(0, ok, x));
        Assert.Throws<ObjectDisposedException>(() => Tensor.Where(ok, x, ok));
        Assert.Throws<ObjectDisposedException>(() => x.CopyFrom(new float[6]));
        Assert.Throws<ObjectDisposedException>(() => x.Fill(1f));
        Assert.Throws<ObjectDisposedException>(() => x.AddInPlace(ok));
        Assert.Throws<ObjectDisposedException>(() => ok.AddInPlace(x));
        Assert.Contains("disposed", x.ToString());
    }

    [Fact]
    public void FailedInPlaceOpsLeaveTheTargetUnchanged()
    {
        var before = Data.Uniform(6, 3);
        using var t = Tensor.FromArray(before, new Shape(2, 3));
        using var wrongShape = F(2);
        using var ints = I(2, 3);
        var gone = F(2, 3);
        gone.Dispose();
        Assert.Throws<TensorShapeException>(() => t.AddInPlace(wrongShape));
        Assert.Throws<TensorShapeException>(() => t.ZipInPlace<Ops.Mul>(ints));
        Assert.Throws<ObjectDisposedException>(() => t.AddInPlace(gone));
        Assert.Throws<TensorShapeException>(() => t.CopyFrom([1f, 2f]));
        Assert.Equal(before, t.ToArray());
        Assert.Equal(0, t.Storage.Version);
    }
}
