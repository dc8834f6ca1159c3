using Engine.Rl.Trie;

namespace Engine.Rl.Grpo;

/// <summary>
/// What the trainer needs from a group's prefix trie: the outcome advantages a_i, |λ| and the λ-scales of
/// every completion token, and the tree statistics of docs/science.md §5.
/// </summary>
/// <param name="Advantages">a_i per completion.</param>
/// <param name="Lambda">|λ(i,t)| per completion token.</param>
/// <param name="LambdaScales">1/|λ(i,t)| per completion token.</param>
/// <param name="Steps">Process steps holding completion tokens.</param>
/// <param name="PathDepthMean">Mean number of such steps on a trajectory's path.</param>
/// <param name="IntermediateProportionMean">Mean share of a trajectory's tokens in shared steps.</param>
public sealed record GroupAnalysis(float[] Advantages, int[][] Lambda, float[][] LambdaScales, int Steps, double PathDepthMean,
    double IntermediateProportionMean)
{
    /// <summary>The group's trie itself, for packing the group (<see cref="PackedGroup"/>) without building it again.</summary>
    public PrefixTrie? Trie { get; init; }

    /// <summary>Builds the group's trie and reads everything off it.</summary>
    /// <param name="prompt">The group's prompt.</param>
    /// <param name="completions">Its completions.</param>
    /// <param name="rewards">Their outcome rewards.</param>
    /// <param name="options">The run's settings (how rewards are scaled).</param>
    /// <param name="batchStd">The step's reward std, used when the options scale by the batch.</param>
    public static GroupAnalysis Of(int[] prompt, int[][] completions, float[] rewards, GrpoOptions options, double batchStd = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        var trie = PrefixTrie.Build(prompt, completions);
        var advantages = options.Scaling == RewardScaling.Batch
            ? GroupAdvantages.Compute(rewards, batchStd, options.StdEpsilon)
            : GroupAdvantages.Compute(rewards, options.ScalesRewards, options.StdEpsilon);
        return new GroupAnalysis(advantages, trie.Lambda, trie.LambdaScales(),
            trie.Steps.Count, trie.PathDepthMean, trie.IntermediateProportionMean) { Trie = trie };
    }
}
