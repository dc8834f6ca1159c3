using System.Globalization;
using Engine.Model.Training;
using Engine.Rl.Grpo;

namespace Engine.Cli.Reporting;

/// <summary>The SVG plots of a run, drawn from the CSV files the libraries write (the plots are the CLI's; the data are the run's).</summary>
static class RunPlots
{
    /// <summary>Train and validation loss from a CSV of <see cref="LmTrainer.CsvHeader"/> columns.</summary>
    public static void LmLoss(string csv, string svg)
    {
        var train = new List<(double, double)>();
        var val = new List<(double, double)>();
        foreach (var line in File.ReadLines(csv).Skip(1))
        {
            var f = line.Split(',');
            if (f.Length < 4 || !double.TryParse(f[0], CultureInfo.InvariantCulture, out double step)) continue;
            if (double.TryParse(f[2], CultureInfo.InvariantCulture, out double loss)) train.Add((step, loss));
            if (double.TryParse(f[3], CultureInfo.InvariantCulture, out double v)) val.Add((step, v));
        }
        SvgPlot.Write(svg, "language-model loss", "step", "cross-entropy (nats)", [("train", train), ("validation", val)]);
    }

    /// <summary>
    /// Beside a GRPO log's metrics.csv in <paramref name="directory"/>: reward.svg (the mean and each reward function), kl.svg (KL,
    /// entropy, clipping), tree.svg (|λ|, path depth, intermediate proportion) and, when the run evaluates, eval.svg.
    /// </summary>
    public static void Grpo(string directory)
    {
        var lines = File.ReadAllLines(Path.Combine(directory, GrpoLog.CsvFileName));
        if (lines.Length == 0) return;
        var header = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',')).Where(f => f.Length == header.Length).ToArray();
        IReadOnlyList<(double, double)> Series(string column)
        {
            int c = Array.IndexOf(header, column);
            return c < 0 ? [] : rows.Where(f => f[c].Length > 0)
                .Select(f => (double.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[c], CultureInfo.InvariantCulture))).ToList();
        }
        (string, IReadOnlyList<(double, double)>) Named(string column, string? name = null) => (name ?? column, Series(column));
        string PathOf(string name) => Path.Combine(directory, name);
        SvgPlot.Write(PathOf("reward.svg"), "reward", "step", "reward",
            [Named("reward_mean", "mean"), .. header.Where(h => h.StartsWith("reward/", StringComparison.Ordinal)).Select(h => Named(h))]);
        SvgPlot.Write(PathOf("kl.svg"), "policy", "step", "value", [Named("kl"), Named("entropy"), Named("clip_fraction", "clip fraction")]);
        SvgPlot.Write(PathOf("tree.svg"), "trie statistics", "step", "value",
            [Named("lambda_mean", "mean |λ|"), Named("path_depth", "path depth"), Named("intermediate_proportion", "intermediate proportion")]);
        var eval = header.Where(h => h.StartsWith("eval/", StringComparison.Ordinal)).ToArray();
        if (eval.Length > 0) SvgPlot.Write(PathOf("eval.svg"), "evaluation (greedy)", "step", "score", [.. eval.Select(h => Named(h))]);
    }
}
