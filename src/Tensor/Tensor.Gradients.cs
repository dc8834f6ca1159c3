namespace Engine;

// The backward halves of the fused ops. Autograd calls these; they are plain tensor ops, usable without it.
public sealed partial class Tensor
{
    /// <summary>Gradient of <see cref="Softmax"/> (or <see cref="LogSoftmax"/> with <paramref name="log"/>) given its output <paramref name="y"/>.</summary>
    public static Tensor SoftmaxBackward(Tensor y, Tensor dy, bool log)
    {
        string op = log ? "log_softmax_backward" : "softmax_backward";
        RequireSameShape(y, dy, op);
        var dx = y.EmptyLike();
        if (dx.Numel > 0) y.Backend.SoftmaxBackward(y, dy, dx, y.Numel / y.Shape.Last, y.Shape.Last, log);
        return dx;
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
        foreach (var t in new[] { weight, dweight, dbias })
        {
            x.RequireSameDevice(t, op);
            if (t.Shape != new Shape(c)) throw new TensorShapeException(op, $"weight-shaped tensors must be [{c}] for input {x.Shape}, got {t.Shape}");
        }
        if (mean.Numel != rows || rstd.Numel != rows) throw new TensorShapeException(op, $"mean {mean.Shape} and rstd {rstd.Shape} need {rows} rows for input {x.Shape}");
        var dx = x.EmptyLike();
        if (dx.Numel > 0) x.Backend.LayerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias, rows, c);
        dweight.MarkWritten();
        dbias.MarkWritten();
        return dx;
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

    /// <summary>One fused AdamW update of every slot, in place.</summary>
    public static void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep step)
    {
        if (slots.Length == 0) return;
        var first = slots[0].Param;
        foreach (var s in slots)
        {
            s.Param.RequireDType(DType.Float32, "adamw");
            foreach (var t in new[] { s.Grad, s.M, s.V })
            {
                t.RequireDType(DType.Float32, "adamw");
                s.Param.RequireSameDevice(t, "adamw");
                if (t.Shape != s.Param.Shape) throw new TensorShapeException("adamw", $"parameter {s.Param.Shape} has a state or gradient of shape {t.Shape}");
            }
            first.RequireSameDevice(s.Param, "adamw");
        }
        first.Backend.AdamW(slots, step);
        foreach (var s in slots)
        {
            s.Param.MarkWritten();
            s.M.MarkWritten();
            s.V.MarkWritten();
        }
    }

    /// <summary>Sums <paramref name="g"/> over the axes along which a tensor of <paramref name="shape"/> was broadcast, giving <paramref name="shape"/>.</summary>
    public static Tensor SumTo(Tensor g, Shape shape)
    {
        if (g.Shape == shape) return g.Clone();
        if (Broadcast.ResultShape("sum_to", g.Shape, shape) != g.Shape)
            throw new TensorShapeException("sum_to", $"{shape} does not broadcast to {g.Shape}");
        // The first reduction reads g directly; later ones replace (and free) the previous partial sum.
        Tensor? current = null;
        int lead = g.Rank - shape.Rank;
        for (int axis = 0; axis < g.Rank; axis++)
        {
            bool reduce = axis < lead || (shape[axis - lead] == 1 && g.Shape[axis] != 1);
            if (!reduce) continue;
            var next = (current ?? g).Sum(axis, keepDim: true);
            current?.Dispose();
            current = next;
        }
        current ??= g.Clone();
        var result = current.Reshape(shape.Dims);
        current.Dispose();
        return result;
    }

    /// <summary>A new tensor of <paramref name="shape"/> holding this tensor repeated along its broadcast axes (the adjoint of <see cref="SumTo"/>).</summary>
    public Tensor BroadcastTo(Shape shape)
    {
        var plan = Broadcast.Create("broadcast_to", Shape, shape);
        if (plan.Output != shape) throw new TensorShapeException("broadcast_to", $"{Shape} does not broadcast to {shape}");
        var y = Zeros(shape, Device, DType);
        if (y.Numel > 0)
            Backend.CopyStrided(this, y, new StridedCopy(plan.Shape, plan.Strides[0], 0, ContiguousStrides(plan.Shape), 0));
        return y;
    }

    /// <summary>A zero tensor of <paramref name="shape"/> with <paramref name="part"/> written at [start, start + part's length) of <paramref name="axis"/> (the adjoint of <see cref="Slice"/>).</summary>
    public static Tensor SliceBackward(Tensor part, Shape shape, int axis, int start)
    {
        var y = Zeros(shape, part.Device, part.DType);
        try
        {
            y.WriteSlice(part, axis, start);
        }
        catch
        {
            y.Dispose();
            throw;
        }
        return y;
    }

    /// <summary>Overwrites [start, start + part's length) of <paramref name="axis"/> with <paramref name="part"/>, in place.</summary>
    public void WriteSlice(Tensor part, int axis, int start)
    {
        const string op = "write_slice";
        RequireSameDevice(part, op);
        int a = Shape.Axis(axis, op);
        if (part.DType != DType || part.Rank != Rank || part.Shape.With(a, 0) != Shape.With(a, 0) || start < 0 || start + part.Shape[a] > Shape[a])
            throw new TensorShapeException(op, $"part {part.Shape} at {start} does not fit axis {axis} of {Shape}");
        if (part.Numel > 0)
        {
            var dst = ContiguousStrides(Shape.Dims);
            Backend.CopyStrided(part, this, new StridedCopy(part.Shape.ToArray(), ContiguousStrides(part.Shape.Dims), 0, dst, start * dst[a]));
        }
        MarkWritten();
    }

    static void RequireSameShape(Tensor a, Tensor b, string op)
    {
        a.RequireDType(DType.Float32, op);
        b.RequireDType(DType.Float32, op);
        a.RequireSameDevice(b, op);
        if (a.Shape != b.Shape) throw new TensorShapeException(op, $"shapes {a.Shape} and {b.Shape} must match");
        if (a.Rank == 0) throw new TensorShapeException(op, "needs at least one axis");
    }
}
