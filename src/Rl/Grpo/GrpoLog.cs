using Engine.Model.Training;

namespace Engine.Rl.Grpo;

/// <summary>Writes each step's metrics to metrics.jsonl and metrics.csv in a folder, and plots them as SVG.</summary>
public sealed class GrpoLog
{
    readonly string _dir;
    readonly List<GrpoStepMetrics> _steps = [];

    /// <summary>Starts fresh files in <paramref name="directory"/> (created if needed).</summary>
    public GrpoLog(string directory)
    {
        _dir = directory;
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "metrics.jsonl"), "");
        File.WriteAllText(Path.Combine(directory, "metrics.csv"), GrpoStepMetrics.CsvHeader + "\n");
    }

    /// <summary>The steps logged so far.</summary>
    public IReadOnlyList<GrpoStepMetrics> Steps => _steps;

    /// <summary>Appends one step to both files.</summary>
    public void Append(GrpoStepMetrics m)
    {
        _steps.Add(m);
        File.AppendAllText(Path.Combine(_dir, "metrics.jsonl"), m.ToJson() + "\n");
        File.AppendAllText(Path.Combine(_dir, "metrics.csv"), m.ToCsv() + "\n");
    }

    /// <summary>Writes reward.svg, trie.svg (λ statistics), policy.svg (entropy, KL, clipping) and time.svg.</summary>
    public void Plot()
    {
        IReadOnlyList<(double, double)> Series(Func<GrpoStepMetrics, double> f) => _steps.Select(s => ((double)s.Step, f(s))).ToList();
        SvgPlot.Write(Path.Combine(_dir, "reward.svg"), "reward", "step", "reward", [("mean", Series(s => s.RewardMean)), ("std", Series(s => s.RewardStd))]);
        SvgPlot.Write(Path.Combine(_dir, "trie.svg"), "trie statistics", "step", "value",
            [("mean |λ|", Series(s => s.LambdaMean)), ("path depth", Series(s => s.PathDepth)), ("intermediate proportion", Series(s => s.IntermediateProportion)), ("process steps", Series(s => s.ProcessSteps))]);
        SvgPlot.Write(Path.Combine(_dir, "policy.svg"), "policy", "step", "value",
            [("entropy", Series(s => s.Entropy)), ("kl", Series(s => s.Kl)), ("clip fraction", Series(s => s.ClipFraction)), ("mean length", Series(s => s.LengthMean))]);
        SvgPlot.Write(Path.Combine(_dir, "time.svg"), "time per step", "step", "seconds",
            [("generate", Series(s => s.GenerateSeconds)), ("score", Series(s => s.ScoreSeconds)), ("train", Series(s => s.TrainSeconds))]);
    }
}
