using System.Globalization;
using System.Text;

namespace Engine.Cli.Reporting;

/// <summary>One line of a chart, with an optional shaded band (an interval over seeds, say) drawn under it.</summary>
sealed record PlotSeries(string Name, IReadOnlyList<(double X, double Y)> Points, IReadOnlyList<(double X, double Low, double High)>? Band = null);

/// <summary>Line charts as standalone SVG files: one x axis, any number of named series, axes ticked at round values.</summary>
static class SvgPlot
{
    static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    /// <summary>Writes a chart of the series (x, y points) to <paramref name="path"/>.</summary>
    public static void Write(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series) =>
        Write(path, title, xLabel, yLabel, series.Select(s => new PlotSeries(s.Name, s.Points)).ToArray());

    /// <summary>
    /// Round tick values covering [<paramref name="min"/>, <paramref name="max"/>]: a step of 1, 2 or 5 × 10ⁿ chosen so that there are
    /// at most <paramref name="maxTicks"/> intervals, the first tick at or below min and the last at or above max.
    /// </summary>
    public static double[] Ticks(double min, double max, int maxTicks = 6)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || max < min) throw new ArgumentException($"plot: bad axis range [{min}, {max}]");
        if (max == min) (min, max) = (min - 0.5, max + 0.5);
        double raw = (max - min) / maxTicks, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (double step in new[] { 1.0, 2.0, 5.0, 10.0, 20.0, 50.0 }.Select(m => m * magnitude).Where(s => s >= raw * (1 - 1e-9)))
        {
            double first = Math.Floor(min / step) * step, last = Math.Ceiling(max / step) * step;
            int count = (int)Math.Round((last - first) / step);
            // Widening both ends to a tick can add an interval; then the next round step is the answer.
            if (count <= maxTicks) return Enumerable.Range(0, count + 1).Select(i => first + i * step).ToArray();
        }
        throw new InvalidOperationException($"plot: no round step for [{min}, {max}]");
    }

    /// <summary>A tick's label with as many decimals as the step between ticks needs.</summary>
    public static string TickLabel(double value, double step)
    {
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9));
        return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>Writes a chart of the series, each with its band when it has one, to <paramref name="path"/>.</summary>
    public static void Write(string path, string title, string xLabel, string yLabel, IReadOnlyList<PlotSeries> series)
    {
        const double w = 720, h = 420, left = 70, right = 160, top = 40, bottom = 50;
        var pts = series.SelectMany(s => s.Points.Concat(s.Band?.SelectMany(b => new[] { (b.X, b.Low), (b.X, b.High) }) ?? []))
            .Where(p => double.IsFinite(p.Item1) && double.IsFinite(p.Item2)).ToList();
        var xTicks = pts.Count > 0 ? Ticks(pts.Min(p => p.Item1), pts.Max(p => p.Item1)) : Ticks(0, 1);
        var yTicks = pts.Count > 0 ? Ticks(pts.Min(p => p.Item2), pts.Max(p => p.Item2), 5) : Ticks(0, 1, 5);
        double x0 = xTicks[0], x1 = xTicks[^1], y0 = yTicks[0], y1 = yTicks[^1];
        string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        double X(double x) => left + (x - x0) / (x1 - x0) * (w - left - right);
        double Y(double y) => h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" " +
            $"font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{w / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        foreach (double yv in yTicks)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{F(left)}\" x2=\"{F(w - right)}\" y1=\"{F(Y(yv))}\" y2=\"{F(Y(yv))}\" stroke=\"#e5e5e5\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left - 6)}\" y=\"{F(Y(yv) + 4)}\" text-anchor=\"end\">" +
                $"{TickLabel(yv, yTicks[1] - yTicks[0])}</text>\n");
        }
        foreach (double xv in xTicks)
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(xv))}\" y=\"{F(h - bottom + 18)}\" text-anchor=\"middle\">" +
                $"{TickLabel(xv, xTicks[1] - xTicks[0])}</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(left)}\" y=\"{F(top)}\" width=\"{F(w - left - right)}\" " +
            $"height=\"{F(h - top - bottom)}\" fill=\"none\" stroke=\"#333\"/>\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"<text x=\"{F((left + w - right) / 2)}\" y=\"{F(h - 12)}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"<text transform=\"translate(16 {F(h / 2)}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        for (int s = 0; s < series.Count; s++)
        {
            string color = Colors[s % Colors.Length];
            if (series[s].Band is { Count: > 0 } band)
            {
                var finite = band.Where(b => double.IsFinite(b.X) && double.IsFinite(b.Low) && double.IsFinite(b.High)).ToArray();
                var outline = finite.Select(b => $"{F(X(b.X))},{F(Y(b.High))}").Concat(finite.Reverse().Select(b => $"{F(X(b.X))},{F(Y(b.Low))}"));
                sb.Append(CultureInfo.InvariantCulture,
                    $"<polygon fill=\"{color}\" fill-opacity=\"0.18\" stroke=\"none\" points=\"{string.Join(" ", outline)}\"/>\n");
            }
            var line = string.Join(" ",
                series[s].Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).Select(p => $"{F(X(p.X))},{F(Y(p.Y))}"));
            sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{line}\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(w - right + 12)}\" x2=\"{F(w - right + 32)}\" " +
                $"y1=\"{F(top + 10 + 18 * s)}\" y2=\"{F(top + 10 + 18 * s)}\" stroke=\"{color}\" stroke-width=\"3\"/>\n");
            sb.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{F(w - right + 38)}\" y=\"{F(top + 14 + 18 * s)}\">{Escape(series[s].Name)}</text>\n");
        }
        sb.Append("</svg>\n");
        Engine.Model.Checkpoints.AtomicFile.WriteText(path, sb.ToString());
    }

    /// <summary>
    /// A series and its band over seeds from per-seed curves sampled at the same x values: the mean, and the 95 % t interval of the mean
    /// at each x, cut to [<paramref name="floor"/>, <paramref name="ceiling"/>] (a frequency's interval stays inside [0, 1]).
    /// </summary>
    public static PlotSeries MeanWithInterval(string name, IReadOnlyList<double> x, IReadOnlyList<IReadOnlyList<double>> seeds,
        double floor = double.NegativeInfinity, double ceiling = double.PositiveInfinity)
    {
        var intervals = x.Select((_, i) => Engine.Rl.Experiments.SeedStatistics.Mean(seeds.Select(s => s[i]).ToArray())).ToArray();
        return new PlotSeries(name, x.Select((v, i) => (v, intervals[i].Mean)).ToArray(),
            x.Select((v, i) => (v, Math.Max(floor, intervals[i].Low), Math.Min(ceiling, intervals[i].High))).ToArray());
    }

    static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal);
}
