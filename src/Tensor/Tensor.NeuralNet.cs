namespace Engine;

/// <summary>How <see cref="Tensor.CrossEntropy"/> combines the per-row losses.</summary>
public enum LossReduction
{
    /// <summary>Mean over the rows whose target is not ignored (NaN if every row is ignored, as in PyTorch).</summary>
    Mean,

    /// <summary>Sum over all rows (ignored rows contribute 0).</summary>
    Sum,

    /// <summary>One loss per row (0 for ignored rows).</summary>
    None,
}

public sealed partial class Tensor
{
    // ---- softmax --------------------------------------------------------------------------------------

    /// <summary>Softmax over the last axis.</summary>
    public Tensor Softmax() => SoftmaxCore(log: false, "softmax");

    /// <summary>Log-softmax over the last axis.</summary>
    public Tensor LogSoftmax() => SoftmaxCore(log: true, "log_softmax");

    Tensor SoftmaxCore(bool log, string op)
    {
        RequireDType(DType.Float32, op);
        if (Rank == 0) throw new TensorShapeException(op, $"needs at least one axis, got {Shape}");
        var y = UninitializedLike();
        if (Numel > 0) Backend.Softmax(this, y, Numel / Shape.Last, Shape.Last, log);
        return y;
    }

    /// <summary>Gradient of <see cref="Softmax"/> (or <see cref="LogSoftmax"/> with <paramref name="log"/>) given its output
    /// <paramref name="y"/>.</summary>
    public static Tensor SoftmaxBackward(Tensor y, Tensor dy, bool log)
    {
        string op = log ? "log_softmax_backward" : "softmax_backward";
        RequireSameShape(y, dy, op);
        var dx = y.EmptyLike();
        if (dx.Numel > 0) y.Backend.SoftmaxBackward(y, dy, dx, y.Numel / y.Shape.Last, y.Shape.Last, log);
        return dx;
    }

    // ---- layer norm -----------------------------------------------------------------------------------

    /// <summary>Layer norm over the last axis: (x − mean)/√(var + eps) · weight + bias.</summary>
    public Tensor LayerNorm(Tensor weight, Tensor bias, float eps = 1e-5f)
    {
        var y = LayerNorm(weight, bias, eps, out var mean, out var rstd);
        mean.Dispose();
        rstd.Dispose();
        return y;
    }

    /// <summary>Layer norm that also returns the per-row mean and 1/σ, which the backward pass needs.</summary>
    public Tensor LayerNorm(Tensor weight, Tensor bias, float eps, out Tensor mean, out Tensor rstd)
    {
        const string op = "layer_norm";
        RequireDType(DType.Float32, op);
        weight.RequireDType(DType.Float32, op);
        bias.RequireDType(DType.Float32, op);
        RequireSameDevice(weight, op);
        RequireSameDevice(bias, op);
        if (Rank == 0) throw new TensorShapeException(op, $"needs at least one axis, got {Shape}");
        int c = Shape.Last;
        if (weight.Shape != new Shape(c) || bias.Shape != new Shape(c))
            throw new TensorShapeException(op, $"weight {weight.Shape} and bias {bias.Shape} must both be [{c}] for input {Shape}");
        if (!(eps > 0)) throw new TensorShapeException(op, $"eps must be positive, got {eps}");
        int rows = Numel / Math.Max(c, 1);
        var y = UninitializedLike();
        mean = Uninitialized(Shape.Without(Rank - 1), Device);
        rstd = Uninitialized(Shape.Without(Rank - 1), Device);
        if (Numel > 0) Backend.LayerNorm(this, weight, bias, y, mean, rstd, rows, c, eps);
        return y;
    }

    /// <summary>
    /// Gradient of <see cref="LayerNorm(Tensor, Tensor, float, out Tensor, out Tensor)"/>: returns dx and adds
    /// the weight and bias gradients into <paramref name="dweight"/> and <paramref name="dbias"/>.
    /// </summary>
    public static Tensor LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dweight, Tensor dbias)
    {
        const string op = "layer_norm_backward";
        RequireSameShape(x, dy, op);
        int c = x.Shape.Last, rows = x.Numel / Math.Max(c, 1);
        foreach (var t in new[] { mean, rstd })
        {
            x.RequireSameDevice(t, op);
            t.RequireDType(DType.Float32, op);
        }
        foreach (var t in new[] { weight, dweight, dbias })
        {
            x.RequireSameDevice(t, op);
            t.RequireDType(DType.Float32, op);
            if (t.Shape != new Shape(c)) throw new TensorShapeException(op,
                $"weight-shaped tensors must be [{c}] for input {x.Shape}, got {t.Shape}");
        }
        if (mean.Numel != rows || rstd.Numel != rows) throw new TensorShapeException(op,
            $"mean {mean.Shape} and rstd {rstd.Shape} need {rows} rows for input {x.Shape}");
        var dx = x.EmptyLike();
        if (dx.Numel > 0) x.Backend.LayerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias, rows, c);
        dweight.MarkWritten();
        dbias.MarkWritten();
        return dx;
    }

    // ---- embedding ------------------------------------------------------------------------------------

    /// <summary>Embedding lookup: rows of the [V, C] <paramref name="table"/> picked by Int32 ids of any shape; the result is [..ids, C].</summary>
    public static Tensor Embedding(Tensor table, Tensor ids)
    {
        const string op = "embedding";
        table.RequireDType(DType.Float32, op);
        ids.RequireDType(DType.Int32, op);
        table.RequireSameDevice(ids, op);
        if (table.Rank != 2) throw new TensorShapeException(op, $"table must be [vocab, dim], got {table.Shape}");
        CheckIds(ids, table.Shape[0], op, table.Shape);
        var y = Uninitialized(new Shape([.. ids.Shape.Dims, table.Shape[1]]), table.Device);
        if (y.Numel > 0) table.Backend.Gather(table, ids, y, ids.Numel, table.Shape[1]);
        return y;
    }

    /// <summary>The gradient of <see cref="Embedding"/>: a new [<paramref name="vocab"/>, C] tensor with row ids[r] += src[r]
    /// (scatter-add, fixed order).</summary>
    public static Tensor EmbeddingScatterAdd(Tensor src, Tensor ids, int vocab)
    {
        const string op = "embedding_scatter_add";
        src.RequireDType(DType.Float32, op);
        ids.RequireDType(DType.Int32, op);
        src.RequireSameDevice(ids, op);
        if (src.Rank != ids.Rank + 1 || !src.Shape.Dims[..^1].SequenceEqual(ids.Shape.Dims))
            throw new TensorShapeException(op, $"src {src.Shape} must be ids {ids.Shape} plus one trailing axis");
        if (vocab < 0) throw new TensorShapeException(op, $"vocab {vocab} is negative (src {src.Shape}, ids {ids.Shape})");
        CheckIds(ids, vocab, op, src.Shape);
        var table = Zeros(new Shape(vocab, src.Shape.Last), src.Device);
        if (src.Numel > 0) src.Backend.ScatterAdd(src, ids, table, ids.Numel, src.Shape.Last);
        return table;
    }

    static void CheckIds(Tensor ids, int vocab, string op, Shape other)
    {
        var v = ids.HostInts();
        for (int i = 0; i < v.Length; i++)
            if ((uint)v[i] >= (uint)vocab)
                throw new TensorShapeException(op, $"id {v[i]} at position {i} is outside [0, {vocab}) (ids {ids.Shape}, table {other})");
    }

    // ---- cross-entropy --------------------------------------------------------------------------------

    /// <summary>
    /// Cross-entropy of [N, V] logits against Int32 targets [N]. Rows whose target equals
    /// <paramref name="ignoreIndex"/> contribute nothing (PyTorch's semantics).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, int ignoreIndex = -100, LossReduction reduction = LossReduction.Mean)
    {
        var losses = CrossEntropyRows(logits, targets, ignoreIndex, out int counted);
        if (reduction == LossReduction.None) return losses;
        using (losses)
        {
            var total = losses.Sum();
            if (reduction == LossReduction.Sum) return total;
            using (total) return total * (counted == 0 ? float.NaN : 1f / counted);
        }
    }

    internal static Tensor CrossEntropyRows(Tensor logits, Tensor targets, int ignoreIndex, out int counted)
    {
        const string op = "cross_entropy";
        logits.RequireDType(DType.Float32, op);
        targets.RequireDType(DType.Int32, op);
        logits.RequireSameDevice(targets, op);
        if (logits.Rank != 2 || targets.Rank != 1 || targets.Shape[0] != logits.Shape[0])
            throw new TensorShapeException(op, $"logits must be [N, V] and targets [N], got {logits.Shape} and {targets.Shape}");
        int v = logits.Shape[1];
        counted = 0;
        var t = targets.HostInts();
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((uint)t[i] >= (uint)v) throw new TensorShapeException(op, $"target {t[i]} at row {i} is outside [0, {v}) (logits {logits.Shape})");
            counted++;
        }
        var losses = Uninitialized(targets.Shape, logits.Device);
        if (losses.Numel > 0) logits.Backend.CrossEntropy(logits, targets, losses, logits.Shape[0], v, ignoreIndex);
        return losses;
    }

    /// <summary>Gradient of the per-row cross-entropy, each row scaled by <paramref name="scale"/>.</summary>
    public static Tensor CrossEntropyBackward(Tensor logits, Tensor targets, int ignoreIndex, float scale)
    {
        const string op = "cross_entropy_backward";
        logits.RequireDType(DType.Float32, op);
        targets.RequireDType(DType.Int32, op);
        logits.RequireSameDevice(targets, op);
        if (logits.Rank != 2 || targets.Shape != new Shape(logits.Shape[0]))
            throw new TensorShapeException(op, $"logits must be [N, V] and targets [N], got {logits.Shape} and {targets.Shape}");
        // Checked here, not in a backend: a device kernel indexing row r at column targets[r] has no bounds check.
        var t = targets.HostInts();
        for (int i = 0; i < t.Length; i++)
            if (t[i] != ignoreIndex && (uint)t[i] >= (uint)logits.Shape[1])
                throw new TensorShapeException(op, $"target {t[i]} at row {i} is outside [0, {logits.Shape[1]}) (logits {logits.Shape})");
        var d = logits.EmptyLike();
        if (d.Numel > 0) logits.Backend.CrossEntropyBackward(logits, targets, d, logits.Shape[0], logits.Shape[1], ignoreIndex, scale);
        return d;
    }

    // ---- validation -----------------------------------------------------------------------------------

    static void RequireSameShape(Tensor a, Tensor b, string op)
    {
        a.RequireDType(DType.Float32, op);
        b.RequireDType(DType.Float32, op);
        a.RequireSameDevice(b, op);
        if (a.Shape != b.Shape) throw new TensorShapeException(op, $"shapes {a.Shape} and {b.Shape} must match");
        if (a.Rank == 0) throw new TensorShapeException(op, "needs at least one axis");
    }
}
