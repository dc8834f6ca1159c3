namespace Engine.Rl.Grpo;

/// <summary>
/// One group laid out for the loss: row i is prompt + completion i, shifted for next-token prediction and
/// right-padded. Only positions that predict a completion token carry a target and a weight.
/// </summary>
public sealed class GroupBatch
{
    /// <summary>
    /// Lays out the group; <paramref name="advantages"/> are per completion, or per completion token when
    /// <paramref name="tokenAdvantages"/> is given (the PRM form).
    /// </summary>
    /// <param name="prompt">The shared prompt (at least one token).</param>
    /// <param name="completions">The k completions.</param>
    /// <param name="advantages">a_i for each completion.</param>
    /// <param name="tokenWeights">Per completion token, the factor its loss is multiplied by (λ-scale × the aggregation's denominator).</param>
    /// <param name="tokenAdvantages">Optional per-token advantages replacing a_i.</param>
    public GroupBatch(int[] prompt, int[][] completions, float[] advantages, float[][] tokenWeights, float[][]? tokenAdvantages = null)
    {
        if (prompt.Length == 0) throw new ArgumentException("grpo: the prompt must hold at least one token");
        if (advantages.Length != completions.Length || tokenWeights.Length != completions.Length)
            throw new ArgumentException(
                $"grpo: {completions.Length} completions but {advantages.Length} advantages and {tokenWeights.Length} weight rows");
        Prompt = prompt;
        Completions = completions;
        int k = completions.Length, p = prompt.Length;
        Time = p - 1 + Math.Max(1, completions.Max(c => c.Length));
        Inputs = new int[k * Time];
        Targets = new int[k * Time];
        Weights = new float[k * Time];
        Advantages = new float[k * Time];
        Array.Fill(Targets, IgnoreIndex);
        for (int i = 0; i < k; i++)
        {
            var c = completions[i];
            if (tokenWeights[i].Length != c.Length)
                throw new ArgumentException($"grpo: completion {i} has {c.Length} tokens but {tokenWeights[i].Length} weights");
            if (tokenAdvantages is not null && tokenAdvantages[i].Length != c.Length)
                throw new ArgumentException($"grpo: completion {i} has {c.Length} tokens but {tokenAdvantages[i].Length} token advantages");
            int row = i * Time;
            // inputs: prompt + completion without its last token, padded with the last real token
            var seq = prompt.Concat(c).ToArray();
            for (int t = 0; t < Time; t++) Inputs[row + t] = seq[Math.Min(t, seq.Length - 1)];
            for (int t = 0; t < c.Length; t++)
            {
                int pos = row + p - 1 + t;
                Targets[pos] = c[t];
                Weights[pos] = tokenWeights[i][t];
                Advantages[pos] = tokenAdvantages?[i][t] ?? advantages[i];
            }
        }
    }

    /// <summary>Target value of positions that predict no completion token.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The prompt.</summary>
    public int[] Prompt { get; }

    /// <summary>The completions.</summary>
    public int[][] Completions { get; }

    /// <summary>Number of rows (k).</summary>
    public int Rows => Completions.Length;

    /// <summary>Positions per row.</summary>
    public int Time { get; }

    /// <summary>Input ids, [k, Time] row-major.</summary>
    public int[] Inputs { get; }

    /// <summary>Next-token targets, <see cref="IgnoreIndex"/> outside completions.</summary>
    public int[] Targets { get; }

    /// <summary>Loss weight of each position (0 outside completions).</summary>
    public float[] Weights { get; }

    /// <summary>Advantage of each position (0 outside completions).</summary>
    public float[] Advantages { get; }

    /// <summary>
    /// Per-token loss weights for an aggregation: the λ-scale (1 when <paramref name="lambdaScales"/> is null) over the
    /// aggregation's denominator. A step of <paramref name="groups"/> groups averages them: token-mean divides by the
    /// step's <paramref name="stepTokens"/> completion tokens, seq-mean by its <paramref name="stepSequences"/>
    /// sequences (each group's own counts × groups when not given), group-token-mean by this group's tokens × groups,
    /// Dr. GRPO by k · L_max · groups. <paramref name="masked"/> completions get weight 0 (and are not counted).
    /// </summary>
    public static float[][] TokenWeights(int[][] completions, float[][]? lambdaScales, Aggregation aggregation, int maxNewTokens, int groups = 1,
        long stepTokens = 0, int stepSequences = 0, bool[]? masked = null)
    {
        ArgumentNullException.ThrowIfNull(completions);
        int k = completions.Length;
        bool Masked(int i) => masked?[i] == true;
        long total = completions.Where((c, i) => !Masked(i)).Sum(c => (long)c.Length);
        int sequences = completions.Where((c, i) => !Masked(i)).Count();
        var w = new float[k][];
        for (int i = 0; i < k; i++)
        {
            int n = completions[i].Length;
            w[i] = new float[n];
            if (Masked(i)) continue;
            double denominator = aggregation switch
            {
                Aggregation.SeqMean => (double)n * (stepSequences > 0 ? stepSequences : (double)sequences * groups),
                Aggregation.TokenMean => stepTokens > 0 ? stepTokens : (double)total * groups,
                Aggregation.GroupTokenMean => (double)total * groups,
                Aggregation.DrGrpo => (double)k * maxNewTokens * groups,
                _ => throw new ArgumentOutOfRangeException(nameof(aggregation)),
            };
            for (int t = 0; t < n; t++)
                w[i][t] = (float)((lambdaScales?[i][t] ?? 1f) / denominator);
        }
        return w;
    }
}
