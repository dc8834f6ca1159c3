using Engine.Rl.Trie;

namespace Engine.Rl.Grpo;

/// <summary>
/// A group laid out as one sequence of its trie's unique tokens (docs/science.md §7): the prompt, then each process
/// step's tokens in the trie's depth-first order. A token's position id is its depth and it attends only to
/// its ancestors, so its hidden states, and the logits it produces, are exactly those of every trajectory
/// through it. Inputs hold only tokens that something follows (a leaf token is a target, never an input).
/// The loss keeps one term per (trajectory, completion token), as <see cref="GroupBatch"/> does, each reading
/// the log-probability of its trie node: per-trajectory clipping and weights apply to the shared ratio.
/// </summary>
public sealed class PackedGroup
{
    /// <summary>
    /// Packs <paramref name="batch"/>: its advantages and weights are read per completion token. Pass the
    /// group's <paramref name="trie"/> when it is at hand (<see cref="GroupAnalysis.Trie"/>); it is built otherwise.
    /// </summary>
    public PackedGroup(GroupBatch batch, PrefixTrie? trie = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var prompt = batch.Prompt;
        int p = prompt.Length;
        if (trie is not null && (!trie.Prompt.AsSpan().SequenceEqual(prompt) || trie.Completions.Length != batch.Rows
            || !trie.Completions.Zip(batch.Completions).All(c => c.First.AsSpan().SequenceEqual(c.Second))))
            throw new ArgumentException("grpo: the trie was built over another group than the batch's");
        trie ??= PrefixTrie.Build(prompt, batch.Completions);
        var steps = trie.Steps;
        var hasChildren = new bool[steps.Count];
        foreach (var s in steps) if (s.Parent >= 0) hasChildren[s.Parent] = true;

        // Input positions: the prompt, then per step its tokens except a leaf step's last one.
        var inputs = new List<int>(prompt);
        var positions = new List<int>(Enumerable.Range(0, p));
        var parents = new List<int>(Enumerable.Range(-1, p));
        var firstInput = new int[steps.Count];
        var nodeOffset = new int[steps.Count];
        var targetPositions = new List<int>();
        var targetTokens = new List<int>();
        for (int si = 0; si < steps.Count; si++)
        {
            var s = steps[si];
            nodeOffset[si] = targetTokens.Count;
            firstInput[si] = inputs.Count;
            // The position whose output predicts the step's first token: the parent step's last token, or the prompt's.
            int previous = s.Parent < 0 ? p - 1 : firstInput[s.Parent] + steps[s.Parent].Tokens.Count - 1;
            int asInputs = hasChildren[si] ? s.Tokens.Count : s.Tokens.Count - 1;
            for (int u = 0; u < s.Tokens.Count; u++)
            {
                targetPositions.Add(previous);
                targetTokens.Add(s.Tokens[u]);
                if (u >= asInputs) break;
                inputs.Add(s.Tokens[u]);
                positions.Add(p + s.Start + u);
                parents.Add(previous);
                previous = inputs.Count - 1;
            }
        }
        Inputs = [.. inputs];
        Positions = [.. positions];
        Parents = [.. parents];
        TargetPosition = [.. targetPositions];
        TargetToken = [.. targetTokens];

        // One term per completion token, in the order of GroupBatch's positions.
        int terms = batch.Completions.Sum(c => c.Length);
        TermTarget = new int[terms];
        TermAdvantage = new float[terms];
        TermWeight = new float[terms];
        int at = 0;
        for (int i = 0; i < batch.Completions.Length; i++)
            for (int t = 0; t < batch.Completions[i].Length; t++, at++)
            {
                var s = trie.StepOf(i, t);
                int position = i * batch.Time + p - 1 + t;
                TermTarget[at] = nodeOffset[s.Id] + t - s.Start;
                TermAdvantage[at] = batch.Advantages[position];
                TermWeight[at] = batch.Weights[position];
            }
        _rows = batch.Rows;
        _time = batch.Time;
        Tree = new TreeMask(Parents);
    }

    /// <summary>Input ids of the packed sequence.</summary>
    public int[] Inputs { get; }

    /// <summary>Position id (depth) of each input.</summary>
    public int[] Positions { get; }

    /// <summary>The input each input follows in its trajectory (−1 for the first prompt token).</summary>
    public int[] Parents { get; }

    /// <summary>For each trie node (unique completion token): the input position whose logits predict it.</summary>
    public int[] TargetPosition { get; }

    /// <summary>For each trie node: its token.</summary>
    public int[] TargetToken { get; }

    /// <summary>For each (trajectory, completion token) term: its trie node.</summary>
    public int[] TermTarget { get; }

    /// <summary>For each term: its advantage.</summary>
    public float[] TermAdvantage { get; }

    /// <summary>For each term: its loss weight (λ-scale × the aggregation's denominator).</summary>
    public float[] TermWeight { get; }

    readonly int _rows, _time;

    /// <summary>Input positions of the unpacked layout (k · Time).</summary>
    public long UnpackedLength => (long)_rows * _time;

    /// <summary>Who attends to whom: each input to itself and its ancestors.</summary>
    public TreeMask Tree { get; }

    /// <summary>
    /// What a query–key pair walked off the trunk costs, in pairs of a matrix product: measured with
    /// `bench -- packed` on the CPU (group 8, one-token prompt, no overlap: the walk's ≈ 4,000 pairs took
    /// 3 ms more than the unpacked rows' 8,192 pairs in matrix products, over 4 layers × 4 heads).
    /// </summary>
    public const double WalkedPairCost = 12;

    /// <summary>Number of inputs (packed length).</summary>
    public int Length => Inputs.Length;

    /// <summary>
    /// True when one pass over the packed sequence costs less in <paramref name="model"/> than the k padded
    /// rows, counting multiply-adds: per input, the projections, the MLP and the head; per query–key pair,
    /// attention. With <paramref name="sparseAttention"/> (the device walks trees, <see cref="ITreeAttention"/>)
    /// the packed pass multiplies every input against the trunk and visits the other pairs one by one, each
    /// costing about <see cref="WalkedPairCost"/> pairs of a matrix product; otherwise it pays for all Length²
    /// pairs under the dense mask.
    /// </summary>
    public bool IsCheaperThanUnpacked(Engine.Model.GptConfig model, bool sparseAttention)
    {
        double c = model.Width, perToken = 12 * c * c * model.Layers + c * model.VocabSize, perPair = 2 * c * model.Layers;
        double pairs = sparseAttention ? (double)Length * Tree.Trunk + WalkedPairCost * Tree.OffTrunkPairs : (double)Length * Length;
        double packed = Length * perToken + pairs * perPair;
        double unpacked = UnpackedLength * perToken + (double)UnpackedLength * _time * perPair;
        return packed < unpacked;
    }
}
