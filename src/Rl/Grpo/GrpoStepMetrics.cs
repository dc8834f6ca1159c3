using System.Globalization;
using System.Text.Json;

namespace Engine.Rl.Grpo;

/// <summary>Everything logged about one GRPO step.</summary>
public sealed record GrpoStepMetrics
{
    /// <summary>Step number (1-based).</summary>
    public int Step { get; init; }
    /// <summary>Mean outcome reward over all completions.</summary>
    public double RewardMean { get; init; }
    /// <summary>Sample standard deviation of the rewards, averaged over groups.</summary>
    public double RewardStd { get; init; }
    /// <summary>Mean |a_i|.</summary>
    public double AdvantageAbsMean { get; init; }
    /// <summary>Smallest advantage.</summary>
    public double AdvantageMin { get; init; }
    /// <summary>Largest advantage.</summary>
    public double AdvantageMax { get; init; }
    /// <summary>Mean k3 KL to the reference policy (0 without one).</summary>
    public double Kl { get; init; }
    /// <summary>Share of tokens whose clipped term was active (0 when μ = 1).</summary>
    public double ClipFraction { get; init; }
    /// <summary>Mean policy entropy at the sampled positions.</summary>
    public double Entropy { get; init; }
    /// <summary>Mean completion length.</summary>
    public double LengthMean { get; init; }
    /// <summary>Longest completion.</summary>
    public int LengthMax { get; init; }
    /// <summary>Mean |λ| over completion tokens.</summary>
    public double LambdaMean { get; init; }
    /// <summary>Process steps holding completion tokens, per group.</summary>
    public double ProcessSteps { get; init; }
    /// <summary>Mean path depth (PAPER.md §5).</summary>
    public double PathDepth { get; init; }
    /// <summary>Mean intermediate proportion (PAPER.md §5).</summary>
    public double IntermediateProportion { get; init; }
    /// <summary>Seconds spent sampling.</summary>
    public double GenerateSeconds { get; init; }
    /// <summary>Seconds spent scoring and building tries.</summary>
    public double ScoreSeconds { get; init; }
    /// <summary>Seconds spent building the groups' tries and λ-scales (part of <see cref="ScoreSeconds"/>).</summary>
    public double TrieSeconds { get; init; }
    /// <summary>Seconds spent in the updates.</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Inputs the updates ran over, packed, as a share of the unpacked layout's k·Time per group (1: nothing packed).</summary>
    public double PackedShare { get; init; } = 1;
    /// <summary>Completion tokens per second of the whole step.</summary>
    public double TokensPerSecond { get; init; }

    /// <summary>Summarises a step.</summary>
    public static GrpoStepMetrics From(int step, IReadOnlyList<SampledGroup> groups, ObjectiveStats stats, double generate, double score, double train)
    {
        var rewards = groups.SelectMany(g => g.Rewards).Select(r => (double)r).ToArray();
        var adv = groups.SelectMany(g => g.Analysis.Advantages).Select(a => (double)a).ToArray();
        var lengths = groups.SelectMany(g => g.Completions).Select(c => c.Length).ToArray();
        var lambdas = groups.SelectMany(g => g.Analysis.Lambda.SelectMany(l => l)).ToArray();
        long tokens = lengths.Sum();
        return new GrpoStepMetrics
        {
            Step = step,
            RewardMean = rewards.Average(),
            RewardStd = groups.Average(g => SampleStd(g.Rewards)),
            AdvantageAbsMean = adv.Average(Math.Abs),
            AdvantageMin = adv.Min(),
            AdvantageMax = adv.Max(),
            Kl = stats.Kl,
            ClipFraction = stats.ClipFraction,
            Entropy = stats.Entropy,
            LengthMean = lengths.Average(),
            LengthMax = lengths.Max(),
            LambdaMean = lambdas.Length == 0 ? 0 : lambdas.Average(),
            ProcessSteps = groups.Average(g => g.Analysis.Steps),
            PathDepth = groups.Average(g => g.Analysis.PathDepthMean),
            IntermediateProportion = groups.Average(g => g.Analysis.IntermediateProportionMean),
            GenerateSeconds = generate,
            ScoreSeconds = score,
            TrainSeconds = train,
            TokensPerSecond = tokens / Math.Max(generate + score + train, 1e-9),
        };
    }

    static double SampleStd(float[] r)
    {
        if (r.Length < 2) return 0;
        double m = r.Average();
        return Math.Sqrt(r.Sum(x => (x - m) * (x - m)) / (r.Length - 1));
    }

    static readonly (string Name, Func<GrpoStepMetrics, double> Get)[] Columns =
    [
        ("step", m => m.Step), ("reward_mean", m => m.RewardMean), ("reward_std", m => m.RewardStd),
        ("advantage_abs_mean", m => m.AdvantageAbsMean), ("advantage_min", m => m.AdvantageMin), ("advantage_max", m => m.AdvantageMax),
        ("kl", m => m.Kl), ("clip_fraction", m => m.ClipFraction), ("entropy", m => m.Entropy),
        ("length_mean", m => m.LengthMean), ("length_max", m => m.LengthMax),
        ("lambda_mean", m => m.LambdaMean), ("process_steps", m => m.ProcessSteps), ("path_depth", m => m.PathDepth),
        ("intermediate_proportion", m => m.IntermediateProportion),
        ("generate_s", m => m.GenerateSeconds), ("score_s", m => m.ScoreSeconds), ("trie_s", m => m.TrieSeconds), ("train_s", m => m.TrainSeconds),
        ("tokens_per_s", m => m.TokensPerSecond), ("packed_share", m => m.PackedShare),
    ];

    /// <summary>The CSV header.</summary>
    public static string CsvHeader => string.Join(",", Columns.Select(c => c.Name));

    /// <summary>One CSV row.</summary>
    public string ToCsv() => string.Join(",", Columns.Select(c => c.Get(this).ToString("G6", CultureInfo.InvariantCulture)));

    /// <summary>One JSON object on one line.</summary>
    public string ToJson() => JsonSerializer.Serialize(Columns.ToDictionary(c => c.Name, c => c.Get(this)));

    /// <summary>A short summary for a progress bar.</summary>
    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"reward {RewardMean:F3} |λ| {LambdaMean:F2} depth {PathDepth:F2} H {Entropy:F3} {TokensPerSecond:F0} tok/s");
}
