namespace Engine;

public sealed partial class Tensor
{
    Reduction PlanReduction(int axis, string op, out int a)
    {
        RequireDType(DType.Float32, op);
        if (Rank == 0) throw new TensorShapeException(op, $"cannot reduce the scalar shape {Shape} along an axis");
        a = Shape.Axis(axis, op);
        return new Reduction(Shape.Product(0, a), Shape[a], Shape.Product(a + 1, Rank));
    }

    Shape Reduced(int axis, bool keepDim) => keepDim ? Shape.With(axis, 1) : Shape.Without(axis);

    /// <summary>Σ along <paramref name="axis"/>.</summary>
    public Tensor Sum(int axis, bool keepDim = false) => SumScaled(axis, keepDim, 1f, "sum");

    /// <summary>Mean along <paramref name="axis"/>.</summary>
    public Tensor Mean(int axis, bool keepDim = false)
    {
        int a = Rank == 0 ? 0 : Shape.Axis(axis, "mean");
        int n = Rank == 0 ? 1 : Shape[a];
        return SumScaled(axis, keepDim, n == 0 ? float.NaN : 1f / n, "mean");
    }

    /// <summary>Σ of every element, as a scalar.</summary>
    public Tensor Sum()
    {
        using var flat = Reshape(Numel);
        return flat.Sum(0);
    }

    /// <summary>Mean of every element, as a scalar.</summary>
    public Tensor Mean()
    {
        using var flat = Reshape(Numel);
        return flat.Mean(0);
    }

    Tensor SumScaled(int axis, bool keepDim, float scale, string op)
    {
        var r = PlanReduction(axis, op, out int a);
        var y = Uninitialized(Reduced(a, keepDim), Device);
        if (y.Numel > 0) Backend.Sum(this, y, r, scale);
        return y;
    }

    /// <summary>Maximum along <paramref name="axis"/>; NaN propagates.</summary>
    public Tensor Max(int axis, bool keepDim = false)
    {
        var r = PlanReduction(axis, "max", out int a);
        if (r.Length == 0) throw new TensorShapeException("max", $"axis {axis} of {Shape} is empty");
        var y = Uninitialized(Reduced(a, keepDim), Device);
        if (y.Numel > 0) Backend.Max(this, y, r);
        return y;
    }

    /// <summary>Index of the first maximum along <paramref name="axis"/>, as an Int32 tensor.</summary>
    public Tensor ArgMax(int axis, bool keepDim = false)
    {
        var r = PlanReduction(axis, "argmax", out int a);
        if (r.Length == 0) throw new TensorShapeException("argmax", $"axis {axis} of {Shape} is empty");
        var y = Uninitialized(Reduced(a, keepDim), Device, DType.Int32);
        if (y.Numel > 0) Backend.ArgMax(this, y, r);
        return y;
    }
}
