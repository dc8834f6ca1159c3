using System.Globalization;
using System.Text;
using Engine.Rl.Experiments;
using Engine.Rl.Grpo;

namespace Engine.Cli.Reporting;

/// <summary>
/// What the demo experiments print: lines that go both to the console and to the run's summary.md, the paired GRPO-against-λ-GRPO
/// table cells, and the paper's §5 tree statistics (path depth and intermediate proportion against entropy) as numbers and plots.
/// </summary>
sealed class ExperimentReport
{
    readonly StringBuilder _summary = new();

    /// <summary>Prints a line and keeps it for summary.md.</summary>
    public void Line(string text = "")
    {
        Console.WriteLine(text);
        _summary.AppendLine(text);
    }

    /// <summary>Writes every line printed so far to <paramref name="path"/>.</summary>
    public void Save(string path) => Engine.Model.Checkpoints.AtomicFile.WriteText(path, _summary.ToString());

    /// <summary>The header of <see cref="PairedCells"/> for a metric called <paramref name="metric"/>.</summary>
    public static string PairedHeader(string metric = "")
    {
        string m = metric.Length > 0 ? " " + metric : "";
        return $"GRPO{m} | λ-GRPO{m} | Δ{m} (λ − GRPO) [95 % CI] | λ ahead";
    }

    /// <summary>
    /// Mean ± 95 % t half-width of each method, the paired difference λ-GRPO − GRPO over the same seeds with its interval, and the
    /// seed pairs in which λ-GRPO is ahead (higher, or lower when <paramref name="higherIsBetter"/> is false, as for steps).
    /// </summary>
    public static string PairedCells(IReadOnlyList<double> grpo, IReadOnlyList<double> lambda, string format = "F3", bool higherIsBetter = true)
    {
        var d = SeedStatistics.PairedDifference(lambda, grpo);
        string F(double v) => v.ToString(format, CultureInfo.InvariantCulture);
        string interval = d.Count > 1 ? $"[{F(d.Low)}, {F(d.High)}]" : "(1 seed)";
        return $"{SeedStatistics.Mean(grpo).Format(format)} | {SeedStatistics.Mean(lambda).Format(format)} | " +
            $"{Signed(d.Mean, format)} {interval}{Verdict(d, higherIsBetter)} | " +
            $"{(higherIsBetter ? SeedStatistics.Wins(lambda, grpo) : SeedStatistics.Wins(grpo, lambda))}/{grpo.Count}";
    }

    /// <summary>A difference with its sign: "+0.470", "-0.017", and "0.000" when it rounds to zero either way.</summary>
    public static string Signed(double value, string format = "F3")
    {
        string text = value.ToString(format, CultureInfo.InvariantCulture);
        bool zero = text.TrimStart('-').All(c => c is '0' or '.');
        return zero ? text.TrimStart('-') : value > 0 ? "+" + text : text;
    }

    /// <summary>" (λ-GRPO)" or " (GRPO)", the better method, when the paired interval of λ-GRPO − GRPO excludes 0; "" when it does not.</summary>
    public static string Verdict(Interval difference, bool higherIsBetter = true) =>
        difference.AboveZero == higherIsBetter && (difference.AboveZero || difference.BelowZero) ? " (λ-GRPO)"
        : difference.AboveZero || difference.BelowZero ? " (GRPO)" : "";

    /// <summary>
    /// The paper's §5 claim on these runs: per run, Pearson's r between the step's entropy and its path depth and intermediate
    /// proportion (negative: they rise as entropy falls), mean ± 95 % t over runs, beside the means of the first and last steps; and
    /// depth_vs_entropy{suffix}.svg and intermediate_vs_entropy{suffix}.svg in <paramref name="directory"/>.
    /// </summary>
    public void TreeStatistics(string directory, string suffix, IReadOnlyList<(bool Lambda, IReadOnlyList<GrpoStepMetrics> Steps)> runs)
    {
        int early = Math.Max(1, runs.Min(r => r.Steps.Count) / 10);
        Line($"tree statistics (paper §5): Pearson r over each run's steps, mean ± 95 % t over runs; first {early} steps → last {early} steps:");
        foreach (bool lambda in new[] { false, true })
        {
            var rs = runs.Where(r => r.Lambda == lambda && r.Steps.Count >= 2).ToArray();
            if (rs.Length == 0) continue;
            double[] R(Func<GrpoStepMetrics, double> y) =>
                rs.Select(r => SeedStatistics.Correlation(r.Steps.Select(s => s.Entropy).ToArray(), r.Steps.Select(y).ToArray())).ToArray();
            string Span(Func<GrpoStepMetrics, double> f) => string.Create(CultureInfo.InvariantCulture,
                $"{rs.Average(r => r.Steps.Take(early).Average(f)):F3} → {rs.Average(r => r.Steps.TakeLast(early).Average(f)):F3}");
            var depth = R(s => s.PathDepth);
            var intermediate = R(s => s.IntermediateProportion);
            Line(string.Create(CultureInfo.InvariantCulture,
                $"  {(lambda ? "λ-GRPO" : "GRPO  ")} ({rs.Length} runs): entropy {Span(s => s.Entropy)}; path depth {Span(s => s.PathDepth)}, " +
                $"r(entropy, depth) {SeedStatistics.Mean(depth).Format("F2", "run")} ({depth.Count(r => r < 0)} of {rs.Length} negative); " +
                $"intermediate proportion {Span(s => s.IntermediateProportion)}, " +
                $"r(entropy, IP) {SeedStatistics.Mean(intermediate).Format("F2", "run")} " +
                $"({intermediate.Count(r => r < 0)} negative)"));
        }
        AgainstEntropy(Path.Combine(directory, $"depth_vs_entropy{suffix}.svg"), "path depth", runs, s => s.PathDepth);
        AgainstEntropy(Path.Combine(directory, $"intermediate_vs_entropy{suffix}.svg"), "intermediate proportion", runs,
            s => s.IntermediateProportion);
    }

    /// <summary>A statistic against entropy: every step of every run, binned by entropy, the mean (line) and the 95 % t band of each bin.</summary>
    static void AgainstEntropy(string path, string what, IReadOnlyList<(bool Lambda, IReadOnlyList<GrpoStepMetrics> Steps)> runs,
        Func<GrpoStepMetrics, double> statistic)
    {
        var all = runs.SelectMany(r => r.Steps).ToArray();
        if (all.Length == 0) return;
        double lo = all.Min(s => s.Entropy), hi = all.Max(s => s.Entropy);
        const int bins = 16;
        double width = Math.Max(hi - lo, 1e-9) / bins;
        var series = new List<PlotSeries>();
        foreach (bool lambda in new[] { false, true })
        {
            var byBin = runs.Where(r => r.Lambda == lambda).SelectMany(r => r.Steps)
                .GroupBy(s => Math.Min(bins - 1, (int)((s.Entropy - lo) / width))).Where(g => g.Count() >= 2).OrderBy(g => g.Key)
                .Select(g => (X: lo + (g.Key + 0.5) * width, Y: SeedStatistics.Mean(g.Select(statistic).ToArray()))).ToArray();
            series.Add(new PlotSeries(lambda ? "λ-GRPO" : "GRPO", byBin.Select(b => (b.X, b.Y.Mean)).ToArray(),
                byBin.Select(b => (b.X, b.Y.Low, b.Y.High)).ToArray()));
        }
        SvgPlot.Write(path, $"{what} against entropy (steps binned by entropy; band: 95 % t of the bin's mean)", "policy entropy (nats)", what,
            series);
    }
}
