namespace Engine.Autograd;

public sealed partial class Variable
{
    /// <summary>Σ along <paramref name="axis"/>.</summary>
    public Variable Sum(int axis, bool keepDim = false)
    {
        int a = Shape.Axis(axis, "sum");
        return Record("sum", Value.Sum(a, keepDim), [this], g => [Spread(g, a, 1f)]);
    }

    /// <summary>Mean along <paramref name="axis"/>.</summary>
    public Variable Mean(int axis, bool keepDim = false)
    {
        int a = Shape.Axis(axis, "mean");
        return Record("mean", Value.Mean(a, keepDim), [this], g => [Spread(g, a, 1f / Shape[a])]);
    }

    /// <summary>Σ of all elements.</summary>
    public Variable Sum() => Record("sum_all", Value.Sum(), [this], g => [Spread(g, -1, 1f)]);

    /// <summary>Mean of all elements.</summary>
    public Variable Mean() => Record("mean_all", Value.Mean(), [this], g => [Spread(g, -1, 1f / Math.Max(1, Value.Numel))]);

    /// <summary>
    /// Maximum along <paramref name="axis"/>. The gradient is shared evenly among tied maxima, like
    /// PyTorch's <c>amax</c>.
    /// </summary>
    public Variable Max(int axis, bool keepDim = false)
    {
        int a = Shape.Axis(axis, "max");
        var keep = Value.Max(a, keepDim: true);
        var y = keepDim ? keep.Reshape(keep.Shape.Dims) : keep.Reshape(Shape.Without(a).Dims);
        return Record("max", y, [this], g =>
        {
            using var winners = Tensor.Eq(Value, keep);
            using var count = winners.Sum(a, keepDim: true);
            using var gk = g.Reshape(keep.Shape.Dims);
            using var share = gk / count;
            return [winners * share];
        }, Value, keep);
    }

    /// <summary>g (reduced along <paramref name="axis"/>, or over everything when −1) broadcast back to this shape, times
    /// <paramref name="scale"/>.</summary>
    Tensor Spread(Tensor g, int axis, float scale)
    {
        using var kept = axis < 0 ? g.Reshape(Enumerable.Repeat(1, Shape.Rank).ToArray()) : g.Reshape(Shape.With(axis, 1).Dims);
        if (scale == 1f) return kept.BroadcastTo(Shape);
        using var scaled = kept * scale;
        return scaled.BroadcastTo(Shape);
    }
}
