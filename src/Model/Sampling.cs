using Engine.Random;

namespace Engine.Model;

/// <summary>How the next token is chosen from a row of logits.</summary>
/// <param name="Greedy">Take the most likely token (ignores the other settings).</param>
/// <param name="Temperature">Divides the logits; 0 means greedy, any positive value samples.</param>
/// <param name="TopK">Keep only the k most likely tokens (0: all).</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose probability reaches p (1: all).</param>
public sealed record SamplingOptions(bool Greedy = false, float Temperature = 1f, int TopK = 0, float TopP = 1f)
{
    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions ArgMax => new(Greedy: true);

    /// <summary>Whether the choice is the most likely token (greedy, or temperature 0).</summary>
    public bool IsGreedy => Greedy || Temperature == 0;

    /// <summary>Throws if a setting is out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentException($"sampling: temperature must be ≥ 0 and finite, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"sampling: top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"sampling: top-p must be in (0, 1], got {TopP}");
    }
}

/// <summary>Picks tokens from logits on the host, with one uniform draw per choice.</summary>
public static class Sampler
{
    /// <summary>
    /// The token chosen from <paramref name="logits"/>. Ids in <paramref name="allowed"/> (if given) are the
    /// only candidates. Consumes exactly one uniform from <paramref name="rng"/> unless greedy. The weights are
    /// exp((logit − max) / T) in double precision, so every temperature above 0, however small, gives a proper
    /// distribution. A logit that is not finite is an error.
    /// </summary>
    public static int Choose(ReadOnlySpan<float> logits, SamplingOptions options, Generator rng, IReadOnlyList<int>? allowed = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rng);
        var (candidates, weights, keep, total) = Weigh(logits, options, allowed);
        if (options.IsGreedy) return candidates[0];
        double u = rng.NextUniform() * total, run = 0;
        for (int i = 0; i < keep; i++)
        {
            run += weights[i];
            if (u < run) return candidates[i];
        }
        return candidates[keep - 1];
    }

    /// <summary>The distribution <see cref="Choose"/> draws from, over every id of <paramref name="logits"/> (0 for ids it cannot choose).</summary>
    public static double[] Probabilities(ReadOnlySpan<float> logits, SamplingOptions options, IReadOnlyList<int>? allowed = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (candidates, weights, keep, total) = Weigh(logits, options, allowed);
        var p = new double[logits.Length];
        if (options.IsGreedy) p[candidates[0]] = 1;
        else for (int i = 0; i < keep; i++) p[candidates[i]] = weights[i] / total;
        return p;
    }

    /// <summary>The candidates, most likely first, and the unnormalised weights of the first <c>keep</c> of them after top-k and top-p.</summary>
    static (int[] Candidates, double[] Weights, int Keep, double Total) Weigh(ReadOnlySpan<float> logits, SamplingOptions options,
        IReadOnlyList<int>? allowed)
    {
        int[] candidates = allowed?.ToArray() ?? Enumerable.Range(0, logits.Length).ToArray();
        if (candidates.Length == 0) throw new ArgumentException("sampling: no candidate tokens");
        float[] lg = logits.ToArray();
        foreach (int id in candidates)
        {
            if ((uint)id >= (uint)lg.Length) throw new ArgumentException($"sampling: allowed token {id} is outside the {lg.Length} logits");
            if (!float.IsFinite(lg[id]))
                throw new ArgumentException($"sampling: the logit of token {id} is {lg[id]}; the model's outputs are not finite");
        }
        // Most likely first; ties keep the lower id first, so greedy picks the first maximum.
        Array.Sort(candidates, (a, b) => lg[b].CompareTo(lg[a]) is var c && c != 0 ? c : a.CompareTo(b));
        if (options.IsGreedy) return (candidates, [1], 1, 1);

        int keep = options.TopK > 0 ? Math.Min(options.TopK, candidates.Length) : candidates.Length;
        var probs = new double[keep];
        double max = lg[candidates[0]], temperature = options.Temperature, total = 0;
        for (int i = 0; i < keep; i++)
        {
            probs[i] = Math.Exp((lg[candidates[i]] - max) / temperature);
            total += probs[i];
        }
        if (options.TopP < 1f)
        {
            double acc = 0;
            for (int i = 0; i < keep; i++)
            {
                acc += probs[i] / total;
                if (acc >= options.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }
            total = 0;
            for (int i = 0; i < keep; i++) total += probs[i];
        }
        return (candidates, probs, keep, total);
    }
}
