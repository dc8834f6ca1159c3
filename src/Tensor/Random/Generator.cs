namespace Engine.Random;

/// <summary>
/// A seed plus a running offset into its Philox stream. Each draw consumes as many offsets as it returns
/// elements, so the state is two integers that a checkpoint can save and restore exactly.
/// </summary>
public sealed class Generator(ulong seed, ulong offset = 0)
{
    /// <summary>The key of the stream.</summary>
    public ulong Seed { get; } = seed;

    /// <summary>The next unused element of the stream.</summary>
    public ulong Offset { get; set; } = offset;

    ulong Take(int n)
    {
        ulong o = Offset;
        Offset += (ulong)n;
        return o;
    }

    /// <summary>Uniform [0, 1) values.</summary>
    public Tensor Uniform(Shape shape, Device? device = null) => Tensor.Rand(shape, Seed, Take(shape.Numel), device);

    /// <summary>Normal values with the given mean and standard deviation.</summary>
    public Tensor Normal(Shape shape, float mean = 0f, float std = 1f, Device? device = null)
    {
        var z = Tensor.Randn(shape, Seed, Take(shape.Numel), device);
        if (mean == 0f && std == 1f) return z;
        using (z)
        {
            using var scaled = z * std;
            return scaled + mean;
        }
    }

    /// <summary>A uniform float in [0, 1) on the host, from the same stream.</summary>
    public float NextUniform() => Philox.Uniform(Seed, Take(1));
}
