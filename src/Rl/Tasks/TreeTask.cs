using Engine.Rl.Rewards;

namespace Engine.Rl.Tasks;

/// <summary>
/// The synthetic task of Sullivan and Koller (arXiv 2509.21154, §6): after a single BOS prompt the policy emits exactly
/// <see cref="Depth"/> tokens, each L or R, so the completions form a binary tree. The target path scores
/// 1; every other path that shares the target's first <see cref="SharedPrefix"/> tokens scores
/// <see cref="NegativeReward"/> (a trap that poisons the shared prefix); all remaining paths score 0.7.
/// </summary>
public sealed class TreeTask(int sharedPrefix, float negativeReward, string target = "LLRL")
{
    /// <summary>The prompt token.</summary>
    public const int Bos = 0;

    /// <summary>The token L.</summary>
    public const int L = 1;

    /// <summary>The token R.</summary>
    public const int R = 2;

    /// <summary>Vocabulary size: BOS, L and R.</summary>
    public const int VocabSize = 3;

    /// <summary>n: how many leading tokens the trap shares with the target.</summary>
    public int SharedPrefix { get; } = sharedPrefix is >= 1 && sharedPrefix < 4
        ? sharedPrefix : throw new ArgumentException($"tree task: n must be in [1, 3], got {sharedPrefix}");

    /// <summary>r_neg, the reward of the target's trapped siblings.</summary>
    public float NegativeReward { get; } = negativeReward;

    /// <summary>The target path as token ids.</summary>
    public int[] Target { get; } = Parse(target);

    /// <summary>Completion length.</summary>
    public int Depth => Target.Length;

    /// <summary>The prompt: a single BOS.</summary>
    public static int[] Prompt => [Bos];

    /// <summary>The only tokens the policy may emit.</summary>
    public static IReadOnlyList<int> Alphabet => [L, R];

    /// <summary>The outcome reward of a completion.</summary>
    public float Reward(IReadOnlyList<int> completion)
    {
        if (IsTarget(completion)) return 1f;
        bool trapped = completion.Count >= SharedPrefix;
        for (int i = 0; i < SharedPrefix && trapped; i++) trapped = completion[i] == Target[i];
        return trapped ? NegativeReward : 0.7f;
    }

    /// <summary>Whether a completion is the target path.</summary>
    public bool IsTarget(IReadOnlyList<int> completion) => completion.SequenceEqual(Target);

    /// <summary>The reward as a reward function for the trainer.</summary>
    public WeightedReward AsReward() => new(new DelegateReward("tree", input => Reward(input.Completion)));

    /// <summary>"LLRL" → [1, 1, 2, 1].</summary>
    public static int[] Parse(string path) => path.Select(c => c switch
    {
        'L' => L,
        'R' => R,
        _ => throw new ArgumentException($"tree task: path '{path}' may hold only L and R"),
    }).ToArray();

    /// <summary>[1, 1, 2, 1] → "LLRL".</summary>
    public static string Format(IEnumerable<int> path) => string.Concat(path.Select(t => t == L ? 'L' : t == R ? 'R' : '?'));
}
