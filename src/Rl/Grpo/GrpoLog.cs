using System.Globalization;
using Engine.Model.Training;

namespace Engine.Rl.Grpo;

/// <summary>
/// A run's metrics files in a folder: metrics.jsonl and metrics.csv (one line per step, the same columns), and
/// timing.csv (where the trainer's seconds went in each step: sampling, scoring, tries, updates). <see cref="Plot"/> draws them, from
/// the CSV on disk, as SVG.
/// </summary>
public sealed class GrpoLog
{
    /// <summary>The JSON-lines file.</summary>
    public const string JsonFileName = "metrics.jsonl";

    /// <summary>The CSV file.</summary>
    public const string CsvFileName = "metrics.csv";

    /// <summary>The timing file.</summary>
    public const string TimingFileName = "timing.csv";

    const string TimingHeader = "step,seconds,generate_s,score_s,trie_s,train_s";

    readonly string _dir;

    /// <summary>
    /// Logs <paramref name="columns"/> in <paramref name="directory"/> (created if needed). New files are started
    /// unless <paramref name="append"/>, which continues files already there (a resumed run restores them first).
    /// </summary>
    public GrpoLog(string directory, IReadOnlyList<string> columns, bool append = false)
    {
        ArgumentNullException.ThrowIfNull(columns);
        _dir = directory;
        Columns = columns;
        Directory.CreateDirectory(directory);
        if (!append || !File.Exists(PathOf(JsonFileName))) File.WriteAllText(PathOf(JsonFileName), "");
        if (!append || !File.Exists(PathOf(CsvFileName))) File.WriteAllText(PathOf(CsvFileName), GrpoStepMetrics.CsvHeader(columns) + "\n");
        if (!append || !File.Exists(PathOf(TimingFileName))) File.WriteAllText(PathOf(TimingFileName), TimingHeader + "\n");
    }

    /// <summary>The columns of every line.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The path of one of the log's files.</summary>
    public string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>Appends one step to every file.</summary>
    public void Append(GrpoStepMetrics m)
    {
        ArgumentNullException.ThrowIfNull(m);
        File.AppendAllText(PathOf(JsonFileName), m.ToJson(Columns) + "\n");
        File.AppendAllText(PathOf(CsvFileName), m.ToCsv(Columns) + "\n");
        File.AppendAllText(PathOf(TimingFileName), string.Create(CultureInfo.InvariantCulture,
            $"{m.Step},{m.Seconds:R},{m.GenerateSeconds:R},{m.ScoreSeconds:R},{m.TrieSeconds:R},{m.TrainSeconds:R}\n"));
    }

    /// <summary>
    /// Writes reward.svg (the mean and each reward function), kl.svg (KL, entropy, clipping), tree.svg (|λ|, path depth,
    /// intermediate proportion) and, when the run evaluates, eval.svg, all from metrics.csv.
    /// </summary>
    public void Plot()
    {
        var lines = File.ReadAllLines(PathOf(CsvFileName));
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
        SvgPlot.Write(PathOf("reward.svg"), "reward", "step", "reward",
            [Named("reward_mean", "mean"), .. header.Where(h => h.StartsWith("reward/", StringComparison.Ordinal)).Select(h => Named(h))]);
        SvgPlot.Write(PathOf("kl.svg"), "policy", "step", "value", [Named("kl"), Named("entropy"), Named("clip_fraction", "clip fraction")]);
        SvgPlot.Write(PathOf("tree.svg"), "trie statistics", "step", "value",
            [Named("lambda_mean", "mean |λ|"), Named("path_depth", "path depth"), Named("intermediate_proportion", "intermediate proportion")]);
        var eval = header.Where(h => h.StartsWith("eval/", StringComparison.Ordinal)).ToArray();
        if (eval.Length > 0) SvgPlot.Write(PathOf("eval.svg"), "evaluation (greedy)", "step", "score", [.. eval.Select(h => Named(h))]);
    }
}
