using Engine.Model;
using Engine.Random;

namespace Engine.Tests;

/// <summary>The sampler is right at every temperature above 0, greedy at 0, and refuses logits that are not finite.</summary>
public sealed class SamplerTests
{
    static readonly float[] Logits = [0.5f, 2.0f, -1.0f, 1.999f];

    [Theory]
    [InlineData(1e-39f)]
    [InlineData(1e-45f)]
    [InlineData(1e-20f)]
    [InlineData(0f)]
    public void TinyAndZeroTemperaturesPickTheMostLikelyToken(float temperature)
    {
        var rng = new Generator(5);
        var options = new SamplingOptions(Temperature: temperature);
        for (int i = 0; i < 200; i++) Assert.Equal(1, Sampler.Choose(Logits, options, rng));
    }

    [Fact]
    public void ASmallTemperatureSharpensTheDistributionAsTheFormulaSays()
    {
        // At T = 0.001 tokens 1 and 3 (logits 0.001 apart) have odds e^1 : 1; the others are never drawn.
        var rng = new Generator(11);
        var options = new SamplingOptions(Temperature: 0.001f);
        int ones = 0, threes = 0;
        const int draws = 20000;
        for (int i = 0; i < draws; i++)
        {
            int t = Sampler.Choose(Logits, options, rng);
            Assert.True(t is 1 or 3, $"drew token {t}");
            if (t == 1) ones++;
            else threes++;
        }
        double expected = Math.Exp((2.0 - 1.999f) / 0.001f) / (1 + Math.Exp((2.0 - 1.999f) / 0.001f));
        double sigma = Math.Sqrt(expected * (1 - expected) / draws);
        Assert.True(Math.Abs((double)ones / draws - expected) < 5 * sigma, $"P(token 1) = {(double)ones / draws}, expected {expected}");
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteLogitsAreAnError(float bad)
    {
        float[] logits = [.. Logits];
        logits[2] = bad;
        var e = Assert.Throws<ArgumentException>(() => Sampler.Choose(logits, new SamplingOptions(), new Generator(1)));
        Assert.Contains("token 2", e.Message);
        Assert.Throws<ArgumentException>(() => Sampler.Choose(logits, SamplingOptions.ArgMax, new Generator(1)));
    }

    [Fact]
    public void NegativeOrInfiniteTemperaturesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new SamplingOptions(Temperature: -0.5f).Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions(Temperature: float.PositiveInfinity).Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions(Temperature: float.NaN).Validate());
        new SamplingOptions(Temperature: 0).Validate();
    }
}
