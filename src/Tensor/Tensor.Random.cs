namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Uniform [0, 1): element i is Philox element (seed, offset + i), identical on every device.</summary>
    public static Tensor Rand(Shape shape, ulong seed, ulong offset = 0, Device? device = null) => Random(shape, Distribution.Uniform, seed, offset, device);

    /// <summary>Standard normal: element i comes from Philox block (seed, offset + i).</summary>
    public static Tensor Randn(Shape shape, ulong seed, ulong offset = 0, Device? device = null) => Random(shape, Distribution.Normal, seed, offset, device);

    static Tensor Random(Shape shape, Distribution d, ulong seed, ulong offset, Device? device)
    {
        var y = Uninitialized(shape, device ?? Device.Cpu);
        if (y.Numel > 0) y.Backend.Random(y, d, seed, offset);
        return y;
    }

    /// <summary>
    /// Draws one category per row of non-negative [rows, cols] weights (they need not sum to 1), using
    /// uniform element (seed, offset + row). Returns Int32 [rows].
    /// </summary>
    public static Tensor SampleCategorical(Tensor weights, ulong seed, ulong offset = 0)
    {
        const string op = "categorical";
        weights.RequireDType(DType.Float32, op);
        if (weights.Rank != 2 || weights.Shape[1] == 0) throw new TensorShapeException(op, $"weights must be [rows, cols] with cols > 0, got {weights.Shape}");
        var y = Uninitialized(new Shape(weights.Shape[0]), weights.Device, DType.Int32);
        if (y.Numel > 0) weights.Backend.SampleCategorical(weights, y, weights.Shape[0], weights.Shape[1], seed, offset);
        return y;
    }
}
