using System.Globalization;

namespace Engine.Rl.Experiments;

/// <summary>A mean over seeds with its two-sided 95 % Student-t interval.</summary>
/// <param name="Mean">The sample mean.</param>
/// <param name="Low">The interval's lower end (the mean itself when there is one value).</param>
/// <param name="High">The interval's upper end.</param>
/// <param name="Count">How many values.</param>
public sealed record Interval(double Mean, double Low, double High, int Count)
{
    /// <summary>Half the interval's width.</summary>
    public double HalfWidth => (High - Low) / 2;

    /// <summary>Whether there is an interval and all of it lies above zero.</summary>
    public bool AboveZero => Count > 1 && Low > 0;

    /// <summary>Whether there is an interval and all of it lies below zero.</summary>
    public bool BelowZero => Count > 1 && High < 0;

    /// <summary>"0.412 ± 0.081" with <paramref name="format"/> for both numbers; "0.412 (1 seed)" when there is no interval.</summary>
    public string Format(string format = "F3", string unit = "seed") => Count == 1
        ? $"{Mean.ToString(format, CultureInfo.InvariantCulture)} (1 {unit})" :
        $"{Mean.ToString(format, CultureInfo.InvariantCulture)} ± {HalfWidth.ToString(format, CultureInfo.InvariantCulture)}";
}

/// <summary>
/// The statistics every GRPO-against-λ-GRPO comparison reports over its seeds: the mean with a 95 % t interval, the paired
/// difference between two methods run with the same seeds, a curve's peak and the steps it takes to reach a fraction of that
/// peak, and the correlation of two per-step series.
/// </summary>
public static class SeedStatistics
{
    // t_{0.975, df} for df = 1 … 30 (any statistics table; e.g. scipy.stats.t.ppf(0.975, df)).
    static readonly double[] TQuantiles =
    [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];

    /// <summary>The 97.5 % quantile of Student's t with <paramref name="degreesOfFreedom"/> degrees of freedom.</summary>
    public static double TQuantile975(int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1)
            throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), degreesOfFreedom, "seed statistics: df must be ≥ 1");
        if (degreesOfFreedom <= TQuantiles.Length) return TQuantiles[degreesOfFreedom - 1];
        // Beyond the table, the Cornish-Fisher expansion around the normal quantile (error < 1e-4 for df > 30).
        const double z = 1.959964;
        double v = degreesOfFreedom;
        return z + (z * z * z + z) / (4 * v) + (5 * Math.Pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
    }

    /// <summary>The mean of <paramref name="values"/> and its 95 % t interval, mean ± t·s/√n.</summary>
    public static Interval Mean(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("seed statistics: the mean of no values", nameof(values));
        if (values.Any(v => !double.IsFinite(v))) throw new ArgumentException("seed statistics: a value is NaN or infinite", nameof(values));
        double mean = values.Average();
        if (values.Count == 1) return new Interval(mean, mean, mean, 1);
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        double half = TQuantile975(values.Count - 1) * Math.Sqrt(variance / values.Count);
        return new Interval(mean, mean - half, mean + half, values.Count);
    }

    /// <summary>
    /// The paired difference <paramref name="treatment"/>[i] − <paramref name="control"/>[i] (the same seed i in both) and its 95 % t
    /// interval: the interval excludes 0 when the methods differ at that level.
    /// </summary>
    public static Interval PairedDifference(IReadOnlyList<double> treatment, IReadOnlyList<double> control)
    {
        ArgumentNullException.ThrowIfNull(treatment);
        ArgumentNullException.ThrowIfNull(control);
        if (treatment.Count != control.Count)
            throw new ArgumentException($"seed statistics: a paired difference needs equal counts, got {treatment.Count} and {control.Count}");
        return Mean(treatment.Zip(control, (t, c) => t - c).ToArray());
    }

    /// <summary>How many of the pairs have <paramref name="treatment"/> strictly above <paramref name="control"/>.</summary>
    public static int Wins(IReadOnlyList<double> treatment, IReadOnlyList<double> control) => treatment.Zip(control).Count(p => p.First > p.Second);

    /// <summary>The trailing moving average over <paramref name="window"/> points (shorter at the start).</summary>
    public static double[] Smooth(IReadOnlyList<double> values, int window)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "seed statistics: window must be ≥ 1");
        var smooth = new double[values.Count];
        double sum = 0;
        for (int i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            smooth[i] = sum / Math.Min(i + 1, window);
        }
        return smooth;
    }

    /// <summary>The largest value of a curve of (step, value) points.</summary>
    public static double Peak(IReadOnlyList<(int Step, double Value)> curve)
    {
        ArgumentNullException.ThrowIfNull(curve);
        if (curve.Count == 0) throw new ArgumentException("seed statistics: the peak of an empty curve", nameof(curve));
        return curve.Max(p => p.Value);
    }

    /// <summary>
    /// The first step at which the curve reaches <paramref name="fraction"/> of its own peak (of the rise from its first value to its
    /// peak, so a curve that starts high is not "fast" for it): the paper's claim that λ-GRPO gets there sooner.
    /// </summary>
    public static int StepsToFraction(IReadOnlyList<(int Step, double Value)> curve, double fraction = 0.9)
    {
        double peak = Peak(curve);
        if (!(fraction is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "seed statistics: fraction in (0, 1]");
        double start = curve[0].Value, threshold = start + fraction * (peak - start);
        return curve.First(p => p.Value >= threshold).Step;
    }

    /// <summary>Pearson's correlation of two equally long series (0 when either is constant).</summary>
    public static double Correlation(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count || x.Count < 2)
            throw new ArgumentException($"seed statistics: a correlation needs two series of equal length ≥ 2, got {x.Count} and {y.Count}");
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? 0 : sxy / Math.Sqrt(sxx * syy);
    }
}
