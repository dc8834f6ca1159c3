namespace Engine.Rl.Trie;

/// <summary>
/// The compressed prefix trie of one group's completions (docs/science.md §2). The prompt is the root; every
/// other node is a process step, a maximal run of completion tokens shared by exactly the same
/// trajectories. |λ| of a token is the number of trajectories through its step: duplicates each count,
/// and a completion that ends where another continues passes through the shared part and ends there.
/// Building takes O(total tokens): one pass inserts the completions into an uncompressed trie, one pass
/// over its nodes groups them into steps.
/// </summary>
public sealed class PrefixTrie
{
    readonly int[][] _stepOf;

    PrefixTrie(int[] prompt, int[][] completions, List<ProcessStep> steps, int[][] stepOf)
    {
        Prompt = prompt;
        Completions = completions;
        Steps = steps;
        _stepOf = stepOf;
        Lambda = stepOf.Select(row => row.Select(s => steps[s].Count).ToArray()).ToArray();
    }

    /// <summary>The shared prompt (the root step, never trained).</summary>
    public int[] Prompt { get; }

    /// <summary>The group's completions, in order.</summary>
    public int[][] Completions { get; }

    /// <summary>The process steps holding completion tokens, parents before children.</summary>
    public IReadOnlyList<ProcessStep> Steps { get; }

    /// <summary>|λ(i,t)| for every completion token.</summary>
    public int[][] Lambda { get; }

    /// <summary>The step that holds token t of completion i.</summary>
    public ProcessStep StepOf(int completion, int token) => Steps[_stepOf[completion][token]];

    /// <summary>1/|λ(i,t)| for every completion token: λ-GRPO's loss scales.</summary>
    public float[][] LambdaScales() => Lambda.Select(row => row.Select(l => 1f / l).ToArray()).ToArray();

    /// <summary>Process steps on trajectory i's path (0 for an empty completion; 1 for a flat tree).</summary>
    public int PathDepth(int completion)
    {
        int depth = 0, last = -1;
        foreach (int s in _stepOf[completion])
        {
            if (s != last) depth++;
            last = s;
        }
        return depth;
    }

    /// <summary>Share of trajectory i's completion tokens that lie in shared steps (|λ| &gt; 1); 0 when empty.</summary>
    public double IntermediateProportion(int completion)
    {
        var l = Lambda[completion];
        return l.Length == 0 ? 0 : (double)l.Count(x => x > 1) / l.Length;
    }

    /// <summary>Mean path depth over the group's trajectories.</summary>
    public double PathDepthMean => Completions.Length == 0 ? 0 : Enumerable.Range(0, Completions.Length).Average(PathDepth);

    /// <summary>Mean intermediate proportion over the group's trajectories.</summary>
    public double IntermediateProportionMean =>
        Completions.Length == 0 ? 0 : Enumerable.Range(0, Completions.Length).Average(IntermediateProportion);

    /// <summary>
    /// The implicit process reward model (docs/science.md §3): per token, the step's Monte-Carlo reward R (the
    /// mean outcome of the trajectories through it) and its advantage A = (R − mean r)/(std r + ε), the
    /// mean of a_j over those trajectories.
    /// </summary>
    public (double[][] Reward, double[][] Advantage) ProcessRewards(IReadOnlyList<float> rewards, bool scaleRewards = true, float stdEpsilon = 1e-4f)
    {
        if (rewards.Count != Completions.Length) throw new ArgumentException($"trie: {rewards.Count} rewards for {Completions.Length} completions");
        var (mean, scale) = Grpo.GroupAdvantages.Moments(rewards, scaleRewards, stdEpsilon);
        var stepReward = Steps.Select(s => s.Trajectories.Average(j => (double)rewards[j])).ToArray();
        var r = _stepOf.Select(row => row.Select(s => stepReward[s]).ToArray()).ToArray();
        var a = r.Select(row => row.Select(v => (v - mean) * scale).ToArray()).ToArray();
        return (r, a);
    }

    /// <summary>Builds the trie of <paramref name="completions"/> after <paramref name="prompt"/>.</summary>
    public static PrefixTrie Build(int[] prompt, IReadOnlyList<int[]> completions)
    {
        // 1. Uncompressed trie: one node per distinct prefix, with the trajectories that pass through it.
        var root = new Node(null, -1);
        var path = new Node[completions.Count][];
        for (int i = 0; i < completions.Count; i++)
        {
            var c = completions[i];
            path[i] = new Node[c.Length];
            var node = root;
            for (int t = 0; t < c.Length; t++)
            {
                node.Children ??= [];
                if (!node.Children.TryGetValue(c[t], out var child))
                {
                    child = new Node(node, c[t]);
                    node.Children.Add(c[t], child);
                }
                child.Trajectories.Add(i);
                path[i][t] = child;
                node = child;
            }
        }

        // 2. Steps: a node continues its parent's step when the same trajectories pass through both (the
        //    trajectory sets are nested, so equal counts mean equal sets); otherwise it starts a new step.
        var steps = new List<ProcessStep>();
        var stack = new Stack<Node>();
        if (root.Children is not null) foreach (var c in root.Children.Values.Reverse()) stack.Push(c);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            var parent = node.Parent!;
            if (parent != root && parent.Trajectories.Count == node.Trajectories.Count)
            {
                node.Step = parent.Step;
                steps[node.Step].AddToken(node.Token);
            }
            else
            {
                node.Step = steps.Count;
                steps.Add(new ProcessStep(steps.Count, parent == root ? -1 : parent.Step, node.Depth, node.Token, [.. node.Trajectories]));
            }
            if (node.Children is not null) foreach (var c in node.Children.Values.Reverse()) stack.Push(c);
        }
        var stepOf = path.Select(p => p.Select(n => n.Step).ToArray()).ToArray();
        return new PrefixTrie(prompt, completions.ToArray(), steps, stepOf);
    }

    sealed class Node(Node? parent, int token)
    {
        public Node? Parent { get; } = parent;
        public int Token { get; } = token;
        public int Depth { get; } = parent is null ? -1 : parent.Depth + 1;
        public List<int> Trajectories { get; } = [];
        public Dictionary<int, Node>? Children { get; set; }
        public int Step { get; set; } = -1;
    }
}

/// <summary>One process step: a maximal run of tokens that exactly the same trajectories share.</summary>
public sealed class ProcessStep
{
    readonly List<int> _tokens;

    internal ProcessStep(int id, int parent, int start, int firstToken, int[] trajectories)
    {
        Id = id;
        Parent = parent;
        Start = start;
        _tokens = [firstToken];
        Trajectories = trajectories;
    }

    /// <summary>Index in <see cref="PrefixTrie.Steps"/>.</summary>
    public int Id { get; }

    /// <summary>The parent step's id, or −1 when the parent is the prompt.</summary>
    public int Parent { get; }

    /// <summary>Position of the step's first token within the completions.</summary>
    public int Start { get; }

    /// <summary>The step's tokens.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>The trajectories through the step (each duplicate listed).</summary>
    public int[] Trajectories { get; }

    /// <summary>|λ|: the number of trajectories through the step.</summary>
    public int Count => Trajectories.Length;

    internal void AddToken(int token) => _tokens.Add(token);
}
