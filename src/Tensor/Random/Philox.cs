namespace Engine.Random;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
/// generator. Element i of stream (seed, offset) is a pure function of seed and offset + i, so any device,
/// any thread layout and any resumption point produce the identical stream. This is the one definition of
/// that function; every backend calls it.
/// </summary>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The four 32-bit words of block <paramref name="counter"/> under key <paramref name="seed"/>.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Block(ulong seed, ulong counter) =>
        Block((uint)counter, (uint)(counter >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));

    /// <summary>The full Philox4x32-10 bijection of a 128-bit counter under a 64-bit key (Random123's philox4x32).</summary>
    internal static (uint X0, uint X1, uint X2, uint X3) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Element <paramref name="index"/> of the uniform stream: exactly a multiple of 2⁻²⁴ in [0, 1).</summary>
    public static float Uniform(ulong seed, ulong index) => (Block(seed, index).X0 >> 8) * (1f / 16777216f);

    /// <summary>
    /// Element <paramref name="index"/> of the standard-normal stream, by Box–Muller on the block's first two
    /// words. The words are identical on every device; the result can differ in the last bits where a
    /// device's log and cos round differently.
    /// </summary>
    public static float Normal(ulong seed, ulong index)
    {
        var b = Block(seed, index);
        float u1 = ((b.X0 >> 8) + 1) * (1f / 16777216f); // (0, 1]: log is finite
        float u2 = (b.X1 >> 8) * (1f / 16777216f);
        return MathF.Sqrt(-2f * MathF.Log(u1)) * MathF.Cos(2f * MathF.PI * u2);
    }
}
