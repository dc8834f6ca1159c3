using Engine.Cli.Reporting;
using Engine.Tests.Support;

namespace Engine.Tests;

public class PlotTicksTests
{
    [Theory]
    // (min, max, most intervals) → ticks: the step is the first of 1, 2, 5 × 10ⁿ at least (max − min) / intervals.
    [InlineData(0.0625, 0.95, 5, new[] { 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 })]       // (0.95 − 0.0625) / 5 = 0.1775 → 0.2
    [InlineData(1, 250, 6, new[] { 0.0, 50, 100, 150, 200, 250 })]               // 249 / 6 = 41.5 → 50
    [InlineData(-1.5, 1, 5, new[] { -1.5, -1.0, -0.5, 0.0, 0.5, 1.0 })]           // 2.5 / 5 = 0.5 → 0.5
    // A point widens to [2.5, 3.5]: 1 / 5 = 0.2, but 0.2 needs 6 intervals from 2.4 to 3.6, so the next round step, 0.5.
    [InlineData(3, 3, 5, new[] { 2.5, 3.0, 3.5 })]
    [InlineData(0.7625, 50.8, 6, new[] { 0.0, 10, 20, 30, 40, 50, 60 })]          // 50.04 / 6 = 8.34 → 10
    public void TicksSitAtRoundValues(double min, double max, int intervals, double[] expected)
    {
        Tolerance.AssertClose(SvgPlot.Ticks(min, max, intervals), expected, 1e-12, 0, "ticks");
    }

    [Fact]
    public void TicksCoverAnyRangeWithARoundStep()
    {
        var random = new System.Random(5);
        for (int trial = 0; trial < 500; trial++)
        {
            double min = (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-4, 5));
            double max = min + random.NextDouble() * Math.Pow(10, random.Next(-4, 5));
            var ticks = SvgPlot.Ticks(min, max, 6);
            double step = ticks[1] - ticks[0], mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
            Assert.Contains(new[] { 1.0, 2.0, 5.0 }, m => Math.Abs(m - mantissa) < 1e-6);
            Assert.True(ticks[0] <= min && ticks[^1] >= max, $"[{min}, {max}] not covered by [{ticks[0]}, {ticks[^1]}]");
            Assert.InRange(ticks.Length - 1, 1, 6);
        }
    }

    [Theory]
    [InlineData(0.6000000000000001, 0.2, "0.6")]
    [InlineData(150, 50, "150")]
    [InlineData(0.05, 0.05, "0.05")]
    public void LabelsHaveTheStepsDecimals(double value, double step, string expected) => Assert.Equal(expected, SvgPlot.TickLabel(value, step));
}
