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
        if (order.Length != Rank) throw new TensorShapeException(op, $"order [{string.Join(", ", order.ToArray())}] does not list the {Rank} axes of {Shape}");
        var seen = new bool[Rank];
        var axes = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = order[i] < 0 ? order[i] + Rank : order[i];
            if (a < 0 || a >= Rank || seen[a]) throw new TensorShapeException(op, $"order [{string.Join(", ", order.ToArray())}] is not a permutation of the axes of {Shape}");
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
            Backend.CopyStrided(this, y, new StridedCopy(y.Shape.ToArray(), ContiguousStrides(Shape.Dims), start * Shape.Product(a + 1, Rank), ContiguousStrides(y.Shape.Dims), 0));
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
                first.Backend.CopyStrided(p, y, new StridedCopy(p.Shape.ToArray(), ContiguousStrides(p.Shape.Dims), 0, dstStrides, at * dstStrides[a]));
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
        if (sum != Shape[a]) throw new TensorShapeException("split", $"sizes [{string.Join(", ", sizes.ToArray())}] add up to {sum}, but axis {axis} of {Shape} has {Shape[a]}");
        var parts = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(a, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }
}
