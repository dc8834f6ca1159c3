namespace Engine.Rl.Grpo;

/// <summary>GRPO's outcome advantages within one group (docs/science.md §1).</summary>
public static class GroupAdvantages
{
    /// <summary>
    /// a_i = (r_i − mean r)/(std r + ε) with the sample (n − 1) std, or r_i − mean r without
    /// <paramref name="scaleRewards"/> (Dr. GRPO). A group of one, or of equal rewards, has a_i = 0.
    /// </summary>
    public static float[] Compute(IReadOnlyList<float> rewards, bool scaleRewards = true, float stdEpsilon = 1e-4f)
    {
        var (mean, scale) = Moments(rewards, scaleRewards, stdEpsilon);
        return rewards.Select(r => scale == 0 ? 0f : (float)((r - mean) * scale)).ToArray();
    }

    /// <summary>
    /// a_i = (r_i − mean r)/(<paramref name="std"/> + ε) with the group's mean and a std measured elsewhere (over the
    /// whole step: TRL's batch scaling). A group of equal rewards still has a_i = 0.
    /// </summary>
    public static float[] Compute(IReadOnlyList<float> rewards, double std, float stdEpsilon)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        var (mean, scale) = Moments(rewards, false, stdEpsilon);
        return rewards.Select(r => scale == 0 ? 0f : (float)((r - mean) / (std + stdEpsilon))).ToArray();
    }

    /// <summary>The sample (n − 1) std of <paramref name="rewards"/>; 0 for fewer than two.</summary>
    public static double SampleStd(IReadOnlyList<float> rewards)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        if (rewards.Count < 2) return 0;
        double mean = rewards.Average(r => (double)r);
        return Math.Sqrt(rewards.Sum(r => (r - mean) * (r - mean)) / (rewards.Count - 1));
    }

    /// <summary>The group mean, and the factor that turns r − mean into an advantage (0 when all advantages are 0).</summary>
    public static (double Mean, double Scale) Moments(IReadOnlyList<float> rewards, bool scaleRewards, float stdEpsilon)
    {
        int k = rewards.Count;
        if (k < 2) return (k == 1 ? rewards[0] : 0, 0);
        double mean = rewards.Average(r => (double)r);
        double std = Math.Sqrt(rewards.Sum(r => (r - mean) * (r - mean)) / (k - 1));
        if (std == 0) return (mean, 0);
        return (mean, scaleRewards ? 1 / (std + stdEpsilon) : 1);
    }
}
