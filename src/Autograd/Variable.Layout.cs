namespace Engine.Autograd;

public sealed partial class Variable
{
    /// <summary>A view with a new shape (one dimension may be −1).</summary>
    public Variable Reshape(params int[] dims) => Record("reshape", Value.Reshape(dims), [this], g => [g.Reshape(Shape.Dims)]);

    /// <summary>Axes reordered: result axis i is input axis order[i].</summary>
    public Variable Permute(params int[] order)
    {
        var y = Value.Permute(order);
        var inverse = new int[order.Length];
        for (int i = 0; i < order.Length; i++) inverse[order[i] < 0 ? order[i] + order.Length : order[i]] = i;
        return Record("permute", y, [this], g => [g.Permute(inverse)]);
    }

    /// <summary>Two axes swapped.</summary>
    public Variable Transpose(int axis0 = -2, int axis1 = -1)
    {
        int a = Shape.Axis(axis0, "transpose"), b = Shape.Axis(axis1, "transpose");
        return Record("transpose", Value.Transpose(a, b), [this], g => [g.Transpose(a, b)]);
    }

    /// <summary>[start, start + length) along <paramref name="axis"/>.</summary>
    public Variable Slice(int axis, int start, int length)
    {
        int a = Shape.Axis(axis, "slice");
        return Record("slice", Value.Slice(a, start, length), [this], g => [Tensor.SliceBackward(g, Shape, a, start)]);
    }

    /// <summary>Rows [start, start + length) of the leading axis (a view of the value).</summary>
    public Variable Narrow(int start, int length) =>
        Record("narrow", Value.Narrow(start, length), [this], g => [Tensor.SliceBackward(g, Shape, 0, start)]);

    /// <summary>Joins variables along <paramref name="axis"/>.</summary>
    public static Variable Concat(int axis, params Variable[] parts)
    {
        var y = Tensor.Concat(axis, parts.Select(p => p.Value).ToArray());
        int a = y.Shape.Axis(axis, "concat");
        return Record("concat", y, parts, g =>
        {
            var grads = new Tensor?[parts.Length];
            int at = 0;
            for (int i = 0; i < parts.Length; i++)
            {
                int n = parts[i].Shape[a];
                if (parts[i].RequiresGrad) grads[i] = g.Slice(a, at, n);
                at += n;
            }
            return grads;
        });
    }

    /// <summary>Consecutive pieces of <paramref name="axis"/> with the given sizes.</summary>
    public Variable[] Split(int axis, params int[] sizes)
    {
        int a = Shape.Axis(axis, "split");
        if (sizes.Sum() != Shape[a]) throw new TensorShapeException("split",
            $"sizes [{string.Join(", ", sizes)}] do not add up to axis {axis} of {Shape}");
        var parts = new Variable[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(a, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }
}
