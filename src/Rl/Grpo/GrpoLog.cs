using System.Globalization;

namespace Engine.Rl.Grpo;

/// <summary>
/// A run's metrics files in a folder: metrics.jsonl and metrics.csv (one line per step, the same columns), and
/// timing.csv (where the trainer's seconds went in each step: sampling, scoring, tries, updates). The files are data: a caller that
/// wants charts draws them from the CSV.
/// </summary>
public sealed class GrpoLog
{
    /// <summary>The JSON-lines file.</summary>
    public const string JsonFileName = "metrics.jsonl";

    /// <summary>The CSV file.</summary>
    public const string CsvFileName = "metrics.csv";

    /// <summary>The timing file.</summary>
    public const string TimingFileName = "timing.csv";

    /// <summary>Every file the log writes, which a checkpoint set keeps and a resume restores.</summary>
    public static IReadOnlyList<string> FileNames { get; } = [JsonFileName, CsvFileName, TimingFileName];

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
}
