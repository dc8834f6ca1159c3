using Engine.Rl.Experiments;
using Engine.Tests.Support;

namespace Engine.Tests;

public class SeedStatisticsTests
{
    [Fact]
    public void TheMeanHasTheStudentTInterval()
    {
        // [1 … 5]: mean 3, s² = 2.5, s/√5 = √0.5; t(0.975, 4) = 2.7764, so ± 2.7764·0.70711 = ± 1.96321.
        var i = SeedStatistics.Mean([1, 2, 3, 4, 5]);
        Tolerance.AssertClose([i.Mean, i.Low, i.High, i.HalfWidth], [3, 1.03679, 4.96321, 1.96321], 1e-5, 0, "mean and interval");
        Assert.Equal(5, i.Count);
        Assert.Equal("3.000 ± 1.963", i.Format());
        Assert.True(i.AboveZero);
    }

    [Fact]
    public void OneSeedHasNoWidth()
    {
        var i = SeedStatistics.Mean([0.25]);
        Tolerance.AssertClose([i.Low, i.High], [0.25, 0.25], 0, 0, "interval of one value");
        Assert.Equal("0.250 (1 seed)", i.Format());
        Assert.False(i.AboveZero, "one value has no interval to exclude 0");
    }

    [Fact]
    public void ThePairedDifferenceIsTheIntervalOfPerSeedDifferences()
    {
        // Differences [2, 3, 2]: mean 7/3, s² = 1/3, s/√3 = 1/3; t(0.975, 2) = 4.3027, so ± 1.43423.
        var d = SeedStatistics.PairedDifference([3, 5, 4], [1, 2, 2]);
        Tolerance.AssertClose([d.Mean, d.Low, d.High], [7.0 / 3, 7.0 / 3 - 1.43423, 7.0 / 3 + 1.43423], 1e-5, 0, "paired difference");
        Assert.Equal(3, SeedStatistics.Wins([3, 5, 4], [1, 2, 2]));
        Assert.Equal(1, SeedStatistics.Wins([0, 5, 1], [1, 2, 2]));
        var e = Assert.Throws<ArgumentException>(() => SeedStatistics.PairedDifference([1, 2], [1]));
        Assert.Contains("equal counts, got 2 and 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheTQuantileFollowsTheTableAndItsExpansion()
    {
        // scipy.stats.t.ppf(0.975, df) for df = 1, 9, 30, 40, 120.
        Tolerance.AssertClose([SeedStatistics.TQuantile975(1), SeedStatistics.TQuantile975(9), SeedStatistics.TQuantile975(30),
            SeedStatistics.TQuantile975(40), SeedStatistics.TQuantile975(120)], [12.7062, 2.2622, 2.0423, 2.0211, 1.9799], 2e-4, 0, "t quantiles");
        Assert.Throws<ArgumentOutOfRangeException>(() => SeedStatistics.TQuantile975(0));
    }

    [Fact]
    public void PeakAndStepsToAFractionOfTheRise()
    {
        // Rise from 0.2 to the peak 1.0: 90 % of it is 0.92, first reached at step 30; 50 % is 0.6, first reached at step 20.
        (int, double)[] curve = [(0, 0.2), (10, 0.5), (20, 0.9), (30, 1.0), (40, 0.8)];
        Assert.Equal(1.0, SeedStatistics.Peak(curve));
        Assert.Equal(30, SeedStatistics.StepsToFraction(curve, 0.9));
        Assert.Equal(20, SeedStatistics.StepsToFraction(curve, 0.5));
        Assert.Equal(0, SeedStatistics.StepsToFraction([(0, 0.5), (10, 0.5)], 0.9));
    }

    [Fact]
    public void SmoothingIsATrailingMean()
    {
        Tolerance.AssertClose(SeedStatistics.Smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5], 1e-12, 0, "moving average");
    }

    [Fact]
    public void CorrelationIsPearsons()
    {
        // x = [1, 2, 3], y = [2, 4, 7]: Σdxdy = 5, Σdx² = 2, Σdy² = 114/9, r = 5 / √(2·114/9) = 0.993399.
        Tolerance.AssertClose([SeedStatistics.Correlation([1, 2, 3], [2, 4, 7])], [0.993399], 1e-6, 0, "pearson r");
        Assert.Equal(0, SeedStatistics.Correlation([1, 1, 1], [2, 4, 7]));
        Tolerance.AssertClose([SeedStatistics.Correlation([1, 2, 3], [3, 2, 1])], [-1.0], 1e-12, 0, "anti-correlated");
    }
}
