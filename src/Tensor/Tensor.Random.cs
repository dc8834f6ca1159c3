namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Uniform [0, 1): element i is Philox element (seed, offset + i), identical on every device.</summary>
    public static Tensor Rand(Shape shape, ulong seed, ulong offset = 0, Device? device = null) => Random(shape, Distribution.Uniform, seed,
        offset, device);

    /// <summary>Standard normal: element i comes from Philox block (seed, offset + i).</summary>
    public static Tensor Randn(Shape shape, ulong seed, ulong offset = 0, Device? device = null) => Random(shape, Distribution.Normal, seed,
        offset, device);

    static Tensor Random(Shape shape, Distribution d, ulong seed, ulong offset, Device? device)
    {
        var y = Uninitialized(shape, device ?? Device.Cpu);
        if (y.Numel > 0) y.Backend.Random(y, d, seed, offset);
        return y;
    }
}
