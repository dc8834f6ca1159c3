namespace Engine;

public sealed partial class Tensor
{
    static int[] ContiguousStrides(ReadOnlySpan<int> dims)
    {
        var s = new int[dims.Length];
        int stride = 1;
        for (int d = dims.Length - 1; d >= 0; d--)
        {
            s[d] = stride;
            stride *= dims[d];
        }
        return s;
    }

    /// <summary>A new tensor with axes reordered: result axis i is input axis <paramref name="order"/>[i].</summary>
    public Tensor Permute(params ReadOnlySpan<int> order)
    {
        const string op = "permute";
        _ = Storage;
        if (order.Length != Rank) throw new TensorShapeException(op,
            $"order [{string.Join(", ", order.ToArray())}] does not list the {Rank} axes of {Shape}");
        var seen = new bool[Rank];
        var axes = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = order[i] < 0 ? order[i] + Rank : order[i];
            if (a < 0 || a >= Rank || seen[a]) throw new TensorShapeException(op,
                $"order [{string.Join(", ", order.ToArray())}] is not a permutation of the axes of {Shape}");
            seen[a] = true;
            axes[i] = a;
        }
        if (Rank == 0) return Clone();
        var inStrides = ContiguousStrides(Shape.Dims);
        var dims = new int[Rank];
        var srcStrides = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            dims[i] = Shape[axes[i]];
            srcStrides[i] = inStrides[axes[i]];
        }
        var y = Uninitialized(new Shape(dims), Device, DType);
        if (y.Numel > 0) Backend.CopyStrided(this, y, new StridedCopy(dims, srcStrides, 0, ContiguousStrides(dims), 0));
        return y;
    }

    /// <summary>A new tensor with two axes swapped.</summary>
    public Tensor Transpose(int axis0 = -2, int axis1 = -1)
    {
        if (Rank < 2) throw new TensorShapeException("transpose", $"needs rank ≥ 2, got {Shape}");
        int a = Shape.Axis(axis0, "transpose"), b = Shape.Axis(axis1, "transpose");
        var order = Enumerable.Range(0, Rank).ToArray();
        (order[a], order[b]) = (order[b], order[a]);
        return Permute(order);
    }

    /// <summary>A new tensor holding [start, start+length) of <paramref name="axis"/>.</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        const string op = "slice";
        _ = Storage;
        int a = Shape.Axis(axis, op);
        if (start < 0 || length < 0 || start + length > Shape[a])
            throw new TensorShapeException(op, $"[{start}, {start + length}) is out of range for axis {axis} of {Shape}");
        var y = Uninitialized(Shape.With(a, length), Device, DType);
        if (y.Numel > 0)
            Backend.CopyStrided(this, y,
                new StridedCopy(y.Shape.ToArray(), ContiguousStrides(Shape.Dims), start * Shape.Product(a + 1, Rank),
                ContiguousStrides(y.Shape.Dims), 0));
        return y;
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other axes must match.</summary>
    public static Tensor Concat(int axis, params ReadOnlySpan<Tensor> parts)
    {
        const string op = "concat";
        if (parts.Length == 0) throw new TensorShapeException(op, "needs at least one tensor");
        var first = parts[0];
        _ = first.Storage;
        int a = first.Shape.Axis(axis, op);
        int total = 0;
        foreach (var p in parts)
        {
            first.RequireSameDevice(p, op);
            if (p.DType != first.DType || p.Rank != first.Rank || !p.Shape.With(a, 0).Equals(first.Shape.With(a, 0)))
                throw new TensorShapeException(op, $"shapes {string.Join(", ", parts.ToArray().Select(t => t.Shape))} differ outside axis {axis}");
            total += p.Shape[a];
        }
        var y = Uninitialized(first.Shape.With(a, total), first.Device, first.DType);
        var dstStrides = ContiguousStrides(y.Shape.Dims);
        int at = 0;
        foreach (var p in parts)
        {
            if (p.Numel > 0)
                first.Backend.CopyStrided(p, y,
                    new StridedCopy(p.Shape.ToArray(), ContiguousStrides(p.Shape.Dims), 0, dstStrides, at * dstStrides[a]));
            at += p.Shape[a];
        }
        return y;
    }

    /// <summary>Cuts <paramref name="axis"/> into consecutive pieces of the given sizes, which must add up to its length.</summary>
    public Tensor[] Split(int axis, params ReadOnlySpan<int> sizes)
    {
        int a = Shape.Axis(axis, "split");
        int sum = 0;
        foreach (int s in sizes)
        {
            if (s < 0) throw new TensorShapeException("split", $"negative size in [{string.Join(", ", sizes.ToArray())}]");
            sum += s;
        }
        if (sum != Shape[a]) throw new TensorShapeException("split",
            $"sizes [{string.Join(", ", sizes.ToArray())}] add up to {sum}, but axis {axis} of {Shape} has {Shape[a]}");
        var parts = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(a, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }

    // ---- broadcasting and slices: the backward passes of the views ------------------------------------

    /// <summary>Sums <paramref name="g"/> over the axes along which a tensor of <paramref name="shape"/> was broadcast, giving
    /// <paramref name="shape"/>.</summary>
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

    /// <summary>A new tensor of <paramref name="shape"/> holding this tensor repeated along its broadcast axes (the adjoint of
    /// <see cref="SumTo"/>).</summary>
    public Tensor BroadcastTo(Shape shape)
    {
        var plan = Broadcast.Create("broadcast_to", Shape, shape);
        if (plan.Output != shape) throw new TensorShapeException("broadcast_to", $"{Shape} does not broadcast to {shape}");
        var y = Zeros(shape, Device, DType);
        if (y.Numel > 0)
            Backend.CopyStrided(this, y, new StridedCopy(plan.Shape, plan.Strides[0], 0, ContiguousStrides(plan.Shape), 0));
        return y;
    }

    /// <summary>A zero tensor of <paramref name="shape"/> with <paramref name="part"/> written at [start, start + part's length) of
    /// <paramref name="axis"/> (the adjoint of <see cref="Slice"/>).</summary>
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
}
