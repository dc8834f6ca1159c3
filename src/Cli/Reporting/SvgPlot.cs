using System.Globalization;
using System.Text;

namespace Engine.Cli.Reporting;

/// <summary>Line charts as standalone SVG files: one x axis, any number of named series.</summary>
static class SvgPlot
{
    static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    /// <summary>Writes a chart of the series (x, y points) to <paramref name="path"/>.</summary>
    public static void Write(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series)
    {
        const double w = 720, h = 420, left = 70, right = 160, top = 40, bottom = 50;
        var pts = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        double x0 = pts.Count > 0 ? pts.Min(p => p.X) : 0, x1 = pts.Count > 0 ? pts.Max(p => p.X) : 1;
        double y0 = pts.Count > 0 ? pts.Min(p => p.Y) : 0, y1 = pts.Count > 0 ? pts.Max(p => p.Y) : 1;
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y1 = y0 + 0.5; y0 -= 0.5; }
        string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        double X(double x) => left + (x - x0) / (x1 - x0) * (w - left - right);
        double Y(double y) => h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" " +
            $"font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{w / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        for (int i = 0; i <= 5; i++)
        {
            double yv = y0 + (y1 - y0) * i / 5, xv = x0 + (x1 - x0) * i / 5;
            sb.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{F(left)}\" x2=\"{F(w - right)}\" y1=\"{F(Y(yv))}\" y2=\"{F(Y(yv))}\" stroke=\"#e5e5e5\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left - 6)}\" y=\"{F(Y(yv) + 4)}\" text-anchor=\"end\">" +
                $"{yv.ToString("G4", CultureInfo.InvariantCulture)}</text>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(xv))}\" y=\"{F(h - bottom + 18)}\" text-anchor=\"middle\">" +
                $"{xv.ToString("G5", CultureInfo.InvariantCulture)}</text>\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(left)}\" y=\"{F(top)}\" width=\"{F(w - left - right)}\" " +
            $"height=\"{F(h - top - bottom)}\" fill=\"none\" stroke=\"#333\"/>\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"<text x=\"{F((left + w - right) / 2)}\" y=\"{F(h - 12)}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"<text transform=\"translate(16 {F(h / 2)}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        for (int s = 0; s < series.Count; s++)
        {
            string color = Colors[s % Colors.Length];
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

    static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal);
}
