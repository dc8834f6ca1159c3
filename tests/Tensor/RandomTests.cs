using Engine.Random;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Philox4x32-10, the streams built on it, and categorical sampling.</summary>
public class RandomTests
{
    // Known-answer vectors from Random123's kat_vectors (philox4x32 10): counter words, key words, output.
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3) =>
        Assert.Equal((x0, x1, x2, x3), Philox.Block(c0, c1, c2, c3, k0, k1));

    [Fact]
    public void PublicBlockIsTheKatBijectionWithCounterWordsTwoAndThreeZero()
    {
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), Philox.Block(0, 0));
        // Counter word 0 is the low half of the 64-bit counter, key word 0 the low half of the seed.
        Assert.Equal(Philox.Block(0x9abcdef0u, 0x12345678u, 0, 0, 0x0000beefu, 0xdeadu), Philox.Block(0xdead_0000beefUL, 0x12345678_9abcdef0UL));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StreamDependsOnlyOnSeedAndOffset(bool normal)
    {
        Func<Shape, ulong, ulong, Tensor> draw = !normal ? (s, seed, o) => Tensor.Rand(s, seed, o) : (s, seed, o) => Tensor.Randn(s, seed, o);
        // 70 000 elements: drawn on two threads; the stream must not depend on the split.
        using var big = draw(new Shape(70_000), 42, 0);
        using var tail = draw(new Shape(100, 699), 42, 5);
        Assert.Equal(big.ToArray()[5..69_905], tail.ToArray());
        using var again = draw(new Shape(70_000), 42, 0);
        Assert.Equal(big.ToArray(), again.ToArray());
        using var other = draw(new Shape(70_000), 43, 0);
        Assert.NotEqual(big.ToArray(), other.ToArray());
        // Element i is the host function of (seed, offset + i).
        var host = Enumerable.Range(0, 50).Select(i => !normal ? Philox.Uniform(42, 5 + (ulong)i) : Philox.Normal(42, 5 + (ulong)i));
        Assert.Equal(host, tail.ToArray()[..50]);
    }

    [Fact]
    public void UniformIsInUnitIntervalWithMeanAndVarianceOfU01()
    {
        const int n = 100_000;
        using var u = Tensor.Rand(new Shape(n), 7);
        var v = u.ToArray();
        Assert.All(v, x => Assert.InRange(x, 0f, 0.99999994f));
        double mean = v.Average(x => (double)x), variance = v.Average(x => (x - mean) * (x - mean));
        // U(0,1): mean ½ with standard error √(1/12/n) ≈ 9.1e-4; 5σ ≈ 4.6e-3 (false-alarm rate ~6e-7).
        Assert.InRange(mean, 0.5 - 4.6e-3, 0.5 + 4.6e-3);
        // variance 1/12 ≈ 0.08333; the sample variance has standard error √(1/180/n) ≈ 2.4e-4; 5σ ≈ 1.2e-3.
        Assert.InRange(variance, 1.0 / 12 - 1.2e-3, 1.0 / 12 + 1.2e-3);
    }

    [Fact]
    public void NormalHasMeanZeroAndUnitStd()
    {
        const int n = 100_000;
        using var z = Tensor.Randn(new Shape(n), 11);
        var v = z.ToArray();
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
        double mean = v.Average(x => (double)x), variance = v.Average(x => (x - mean) * (x - mean));
        // N(0,1): the mean has standard error 1/√n ≈ 3.2e-3, 5σ ≈ 0.016; the variance has standard
        // error √(2/n) ≈ 4.5e-3, 5σ ≈ 0.022.
        Assert.InRange(mean, -0.016, 0.016);
        Assert.InRange(variance, 1 - 0.022, 1 + 0.022);
        // Tail mass beyond 2σ is 4.55%; its standard error √(p(1−p)/n) ≈ 6.6e-4, 5σ ≈ 3.3e-3.
        double tail = v.Count(x => Math.Abs(x) > 2) / (double)n;
        Assert.InRange(tail, 0.0455 - 3.3e-3, 0.0455 + 3.3e-3);
    }

    [Fact]
    public void GeneratorAdvancesItsOffsetByTheElementsDrawn()
    {
        var g = new Generator(123);
        using var a = g.Uniform(new Shape(3, 4));
        Assert.Equal(12UL, g.Offset);
        using var b = g.Normal(new Shape(5));
        Assert.Equal(17UL, g.Offset);
        float u = g.NextUniform();
        Assert.Equal(18UL, g.Offset);

        // The draws are the fixed stream at those offsets.
        using var ra = Tensor.Rand(new Shape(12), 123, 0);
        using var rb = Tensor.Randn(new Shape(5), 123, 12);
        Assert.Equal(ra.ToArray(), a.ToArray());
        Assert.Equal(rb.ToArray(), b.ToArray());
        Assert.Equal(Philox.Uniform(123, 17), u);

        // A restored generator continues identically.
        var resumed = new Generator(123, 12);
        using var b2 = resumed.Normal(new Shape(5));
        Assert.Equal(b.ToArray(), b2.ToArray());
    }

    [Fact]
    public void GeneratorNormalScalesAndShifts()
    {
        var g = new Generator(5);
        using var z = g.Normal(new Shape(1000), mean: 3f, std: 0.5f);
        using var raw = Tensor.Randn(new Shape(1000), 5);
        // z = raw·std + mean: two correctly rounded float operations.
        Tolerance.AssertClose(z.ToArray(), Reference.Map(Data.ToDouble(raw.ToArray()), v => v * 0.5 + 3), 0, 2.4e-7, "normal(3, 0.5)");
    }
}
