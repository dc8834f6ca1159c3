using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Engine.Rl.Grpo;

/// <summary>
/// Everything logged about one GRPO step. <see cref="ToJson"/> and <see cref="ToCsv"/> write the same columns
/// (<see cref="ColumnNames"/>); of them only <c>seconds</c> depends on the machine's speed, so a resumed run logs
/// the same lines as an uninterrupted one apart from it.
/// </summary>
public sealed record GrpoStepMetrics
{
    /// <summary>Step number (1-based).</summary>
    public int Step { get; init; }
    /// <summary>Mean outcome reward over all completions.</summary>
    public double RewardMean { get; init; }
    /// <summary>Sample standard deviation of the rewards, averaged over groups.</summary>
    public double RewardStd { get; init; }
    /// <summary>Each reward function's mean score, before weighting.</summary>
    public IReadOnlyList<double> RewardParts { get; init; } = [];
    /// <summary>The loss, averaged over the μ passes.</summary>
    public double Loss { get; init; }
    /// <summary>The gradient norm before clipping, averaged over the μ passes.</summary>
    public double GradNorm { get; init; }
    /// <summary>The learning rate of the step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Mean |a_i|.</summary>
    public double AdvantageAbsMean { get; init; }
    /// <summary>Mean k3 KL to the reference policy (0 without one), averaged over the passes.</summary>
    public double Kl { get; init; }
    /// <summary>Share of tokens whose clipped term was active (0 when μ = 1), averaged over the passes.</summary>
    public double ClipFraction { get; init; }
    /// <summary>Mean policy entropy at the trained positions, averaged over the passes.</summary>
    public double Entropy { get; init; }
    /// <summary>Mean completion length.</summary>
    public double LengthMean { get; init; }
    /// <summary>Longest completion.</summary>
    public int LengthMax { get; init; }
    /// <summary>Mean |λ| over completion tokens.</summary>
    public double LambdaMean { get; init; }
    /// <summary>Process steps holding completion tokens, per group.</summary>
    public double ProcessSteps { get; init; }
    /// <summary>Mean path depth (docs/science.md §5).</summary>
    public double PathDepth { get; init; }
    /// <summary>Mean intermediate proportion (docs/science.md §5).</summary>
    public double IntermediateProportion { get; init; }
    /// <summary>Groups whose rewards were all equal (every advantage 0).</summary>
    public int ZeroStdGroups { get; init; }
    /// <summary>Share of completions that reached the token budget without a stop.</summary>
    public double TruncatedFraction { get; init; }
    /// <summary>Inputs the updates ran over, packed, as a share of the unpacked layout's k·Time per group (1: nothing packed).</summary>
    public double PackedShare { get; init; } = 1;
    /// <summary>Completion tokens sampled.</summary>
    public long Tokens { get; init; }
    /// <summary>Wall-clock seconds of the whole step, as the caller measured it (the trainer's own parts when not set).</summary>
    public double Seconds { get; init; }
    /// <summary>Evaluation results (<c>eval/…</c> columns) on the steps that had one.</summary>
    public IReadOnlyDictionary<string, double>? Eval { get; init; }
    /// <summary>Seconds spent sampling.</summary>
    public double GenerateSeconds { get; init; }
    /// <summary>Seconds spent scoring and building tries.</summary>
    public double ScoreSeconds { get; init; }
    /// <summary>Seconds spent building the groups' tries and λ-scales (part of <see cref="ScoreSeconds"/>).</summary>
    public double TrieSeconds { get; init; }
    /// <summary>Seconds spent in the updates.</summary>
    public double TrainSeconds { get; init; }

    /// <summary>Completion tokens per second of the trainer's own work.</summary>
    public double TokensPerSecond => Tokens / Math.Max(GenerateSeconds + ScoreSeconds + TrainSeconds, 1e-9);

    /// <summary>Summarises a step.</summary>
    public static GrpoStepMetrics From(int step, IReadOnlyList<SampledGroup> groups, UpdateStats stats, double generate, double score, double train)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var rewards = groups.SelectMany(g => g.Rewards).Select(r => (double)r).ToArray();
        var adv = groups.SelectMany(g => g.Analysis.Advantages).Select(a => (double)a).ToArray();
        var lengths = groups.SelectMany(g => g.Completions).Select(c => c.Length).ToArray();
        var lambdas = groups.SelectMany(g => g.Analysis.Lambda.SelectMany(l => l)).ToArray();
        var parts = groups.SelectMany(g => g.RewardParts).ToArray();
        int functions = parts.Length > 0 ? parts[0].Length : 0;
        return new GrpoStepMetrics
        {
            Step = step,
            RewardMean = rewards.Average(),
            RewardStd = groups.Average(g => GroupAdvantages.SampleStd(g.Rewards)),
            RewardParts = [.. Enumerable.Range(0, functions).Select(f => parts.Average(p => (double)p[f]))],
            Loss = stats.Loss,
            GradNorm = stats.GradNorm,
            AdvantageAbsMean = adv.Average(Math.Abs),
            Kl = stats.Kl,
            ClipFraction = stats.ClipFraction,
            Entropy = stats.Entropy,
            LengthMean = lengths.Average(),
            LengthMax = lengths.Max(),
            LambdaMean = lambdas.Length == 0 ? 0 : lambdas.Average(),
            ProcessSteps = groups.Average(g => g.Analysis.Steps),
            PathDepth = groups.Average(g => g.Analysis.PathDepthMean),
            IntermediateProportion = groups.Average(g => g.Analysis.IntermediateProportionMean),
            ZeroStdGroups = groups.Count(g => g.ZeroStd),
            TruncatedFraction = (double)groups.Sum(g => g.Truncated.Count(t => t)) / Math.Max(1, lengths.Length),
            Tokens = lengths.Sum(l => (long)l),
            GenerateSeconds = generate,
            ScoreSeconds = score,
            TrainSeconds = train,
            Seconds = generate + score + train,
        };
    }

    /// <summary>
    /// The columns of a run with <paramref name="rewards"/> reward functions and, if <paramref name="evalKeys"/> are given, evaluations.
    /// </summary>
    public static IReadOnlyList<string> ColumnNames(int rewards, IReadOnlyList<string>? evalKeys = null) =>
    [
        "step", "reward_mean", "reward_std", .. Enumerable.Range(0, rewards).Select(i => $"reward/{i}"),
        "loss", "kl", "clip_fraction", "entropy", "grad_norm", "learning_rate",
        "lambda_mean", "path_depth", "intermediate_proportion", "process_steps", "zero_std_groups", "truncated_fraction", "packed_share",
        "advantage_abs_mean", "length_mean", "length_max", "tokens", "seconds", .. evalKeys ?? [],
    ];

    /// <summary>The value of column <paramref name="name"/>; null for an eval column on a step without an evaluation.</summary>
    public double? Get(string name) => name switch
    {
        "step" => Step, "reward_mean" => RewardMean, "reward_std" => RewardStd, "loss" => Loss, "kl" => Kl,
        "clip_fraction" => ClipFraction, "entropy" => Entropy, "grad_norm" => GradNorm, "learning_rate" => LearningRate,
        "lambda_mean" => LambdaMean, "path_depth" => PathDepth, "intermediate_proportion" => IntermediateProportion,
        "process_steps" => ProcessSteps, "zero_std_groups" => ZeroStdGroups, "truncated_fraction" => TruncatedFraction,
        "packed_share" => PackedShare, "advantage_abs_mean" => AdvantageAbsMean, "length_mean" => LengthMean, "length_max" => LengthMax,
        "tokens" => Tokens, "seconds" => Seconds,
        _ when name.StartsWith("reward/", StringComparison.Ordinal) => RewardParts[int.Parse(name.AsSpan(7), CultureInfo.InvariantCulture)],
        _ => Eval is not null && Eval.TryGetValue(name, out double v) ? v : null,
    };

    /// <summary>The CSV header for <paramref name="columns"/>.</summary>
    public static string CsvHeader(IReadOnlyList<string> columns) => string.Join(",", columns);

    /// <summary>One CSV row over <paramref name="columns"/> (an absent eval value is an empty field).</summary>
    public string ToCsv(IReadOnlyList<string> columns) =>
        string.Join(",", columns.Select(c => Get(c) is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : ""));

    /// <summary>One JSON object on one line over <paramref name="columns"/> (absent eval values are left out).</summary>
    public string ToJson(IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var c in columns)
                if (Get(c) is { } v)
                {
                    // JSON has no NaN or ∞; a metric that is not finite is written as null rather than breaking the line.
                    if (double.IsFinite(v)) json.WriteNumber(c, v);
                    else json.WriteNull(c);
                }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A short summary for a progress bar.</summary>
    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"reward {RewardMean:F3} |λ| {LambdaMean:F2} depth {PathDepth:F2} H {Entropy:F3} {TokensPerSecond:F0} tok/s");
}
