using Engine.Autograd;
using Engine.Model;
using Engine.Rl.Grpo;
using Engine.Tests.Support;

namespace Engine.Tests.Rl;

/// <summary>
/// One pass over a group's packed trie against k separate rows (docs/science.md §7): the same loss and the same
/// gradient for every parameter, to a relative error of 1e-5, whatever the objective's settings.
/// </summary>
public sealed class PackedGroupTests
{
    static readonly GptConfig Micro = new(VocabSize: 6, ContextLength: 12, Width: 16, Layers: 2, Heads: 2);
    static readonly int[] Prompt = [0, 3, 5];

    /// <summary>Shared prefixes, a duplicate, a completion that ends inside another, an empty one and a branch at the first token.</summary>
    static readonly int[][] Completions = [[1, 2, 4, 4], [1, 2, 4, 4], [1, 2], [1, 2, 3, 1, 5], [2, 2], [], [1, 4]];

    static readonly float[] Advantages = [0.9f, 0.9f, -1.2f, 0.4f, -0.6f, 0.3f, -0.7f];

    /// <summary>An independent model near <paramref name="model"/>, as π_old or π_ref would be.</summary>
    static Gpt Nudged(Gpt model, int seed)
    {
        var copy = model.Clone();
        var rng = new System.Random(seed);
        foreach (var p in copy.Parameters.Values)
            p.Value.CopyFrom(Array.ConvertAll(p.Value.ToArray(), x => x + 0.05f * (float)(rng.NextDouble() - 0.5)));
        return copy;
    }

    static (float Loss, Dictionary<string, float[]> Grads, ObjectiveStats Stats) Run(Gpt model, Func<(Variable Loss, ObjectiveStats Stats)> loss)
    {
        foreach (var p in model.Parameters.Values) p.ZeroGrad();
        using var scope = TensorScope.Open();
        var (l, stats) = loss();
        l.Backward();
        return (l.Value.ToScalar(), model.Parameters.ToDictionary(p => p.Key, p => p.Value.Grad!.ToArray()), stats);
    }

    /// <summary>Relative error ‖a − e‖∞ / ‖e‖∞ at most 1e-5, elementwise through the shared tolerance helper.</summary>
    static void AssertSame(float[] actual, float[] expected, string what)
    {
        double scale = expected.Max(x => Math.Abs((double)x));
        Tolerance.AssertClose(actual, expected, 1e-5 * scale, 1e-5, what);
    }

    [Theory]
    [InlineData(1, Aggregation.TokenMean, false, 0f)]
    [InlineData(1, Aggregation.SeqMean, false, 0f)]
    [InlineData(1, Aggregation.DrGrpo, false, 0f)]
    [InlineData(1, Aggregation.TokenMean, true, 0f)]
    [InlineData(1, Aggregation.SeqMean, true, 0.05f)]
    [InlineData(3, Aggregation.TokenMean, false, 0f)]
    [InlineData(3, Aggregation.SeqMean, true, 0f)]
    [InlineData(3, Aggregation.TokenMean, true, 0.05f)]
    [InlineData(3, Aggregation.DrGrpo, false, 0.1f)]
    public void PackedLossAndGradientsEqualTheUnpackedOnes(int mu, Aggregation aggregation, bool lambda, float beta)
    {
        using var model = new Gpt(Micro, seed: 11);
        var options = new GrpoOptions(Mu: mu, Aggregation: aggregation, LambdaScaling: lambda, Beta: beta, MaxNewTokens: 6,
            EpsilonLow: 0.02f, EpsilonHigh: 0.02f);
        var trie = Engine.Rl.Trie.PrefixTrie.Build(Prompt, Completions);
        var weights = GroupBatch.TokenWeights(Completions, lambda ? trie.LambdaScales() : null, aggregation, options.MaxNewTokens);
        var batch = new GroupBatch(Prompt, Completions, Advantages, weights);
        var packed = new PackedGroup(batch);
        Assert.True(packed.Length < batch.Rows * batch.Time);

        // μ > 1: a later pass, where π_old (a nearby model) differs from π and the clip range bites.
        float[]? oldRows = null, oldNodes = null, refRows = null, refNodes = null;
        if (mu > 1)
        {
            using var old = Nudged(model, 1);
            using var scope = TensorScope.Open();
            GrpoObjective.Loss(old, batch, null, null, options with { Beta = 0 }, null, out oldRows, out _);
            GrpoObjective.PackedLoss(old, packed, null, null, options with { Beta = 0 }, null, out oldNodes, out _);
        }
        if (beta > 0)
        {
            using var reference = Nudged(model, 2);
            using var scope = TensorScope.Open();
            GrpoObjective.Loss(reference, batch, null, null, options with { Beta = 0 }, null, out refRows, out _);
            GrpoObjective.PackedLoss(reference, packed, null, null, options with { Beta = 0 }, null, out refNodes, out _);
        }

        var rows = Run(model, () => (GrpoObjective.Loss(model, batch, oldRows, refRows, options, null, out _, out var s), s));
        var tree = Run(model, () => (GrpoObjective.PackedLoss(model, packed, oldNodes, refNodes, options, null, out _, out var s), s));

        AssertSame([tree.Loss], [rows.Loss], "loss");
        foreach (var name in rows.Grads.Keys) AssertSame(tree.Grads[name], rows.Grads[name], name);
        Assert.Equal(rows.Stats.Tokens, tree.Stats.Tokens);
        Assert.Equal(rows.Stats.ClipFraction, tree.Stats.ClipFraction, 12);
        Assert.Equal(rows.Stats.Kl, tree.Stats.Kl, 5);
        Assert.Equal(rows.Stats.Entropy, tree.Stats.Entropy, 5);
        if (mu > 1) Assert.True(rows.Stats.ClipFraction > 0, "the test must exercise clipping");
        Assert.NotEqual(0f, rows.Loss);
    }

    [Fact]
    public void LayoutHoldsEachUniqueTokenOnceWithItsDepthAndAncestors()
    {
        int[][] completions = [[1, 2, 4], [1, 2, 3], [1, 2, 4], [2]];
        var batch = new GroupBatch(Prompt, completions, [1f, -1f, 1f, 0f], GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 3));
        var packed = new PackedGroup(batch);
        // prompt 0 3 5, then the step "1 2" (followed by two steps), the leaves 4 and 3 and 2 are targets only
        Assert.Equal([0, 3, 5, 1, 2], packed.Inputs);
        Assert.Equal([0, 1, 2, 3, 4], packed.Positions);
        Assert.Equal([-1, 0, 1, 2, 3], packed.Parents);
        Assert.Equal(5, packed.TargetToken.Length); // 1, 2, 4, 3, 2
        Assert.Equal(10, packed.TermTarget.Length);
        Assert.Equal(packed.TermTarget[0..3], packed.TermTarget[6..9]); // the duplicate reads the same nodes
        var mask = packed.Tree.Dense();
        Assert.Equal(0f, mask[4 * 5 + 0]);
        Assert.Equal(float.NegativeInfinity, mask[2 * 5 + 3]);
    }

    [Fact]
    public void SiblingsDoNotSeeEachOther()
    {
        int[][] completions = [[1, 2, 3], [2, 4, 4]];
        var batch = new GroupBatch(Prompt, completions, [1f, -1f], GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 3));
        var packed = new PackedGroup(batch);
        Assert.Equal([0, 3, 5, 1, 2, 2, 4], packed.Inputs);
        Assert.Equal([0, 1, 2, 3, 4, 3, 4], packed.Positions);
        Assert.Equal([-1, 0, 1, 2, 3, 2, 5], packed.Parents);
        var mask = packed.Tree.Dense();
        Assert.Equal(float.NegativeInfinity, mask[5 * 7 + 3]);
        Assert.Equal(float.NegativeInfinity, mask[6 * 7 + 4]);
        Assert.Equal(0f, mask[6 * 7 + 2]);
        Assert.Equal(1 + 2 + 3 + 4 + 5 + 4 + 5, packed.Tree.Pairs); // each input sees its ancestors and itself
    }

    [Theory]
    [InlineData(1, 0f)]
    [InlineData(2, 0.05f)]
    public void TrainerStepsMatchWithPackingOnAndOff(int mu, float beta)
    {
        var config = new GptConfig(VocabSize: Engine.Rl.Tasks.TreeTask.VocabSize, ContextLength: 5, Width: 16, Layers: 1, Heads: 2);
        (float[] Parameters, double PackedShare) Train(bool packedTree)
        {
            using var policy = new Gpt(config, seed: 4);
            var task = new Engine.Rl.Tasks.TreeTask(1, -1f);
            var options = new GrpoOptions(GroupSize: 16, MaxNewTokens: 4, LearningRate: 1e-3f, Seed: 5, Mu: mu, Beta: beta,
                LambdaScaling: true, PackedTree: packedTree);
            using var trainer = new GrpoTrainer(policy, options, [task.AsReward()], allowedTokens: Engine.Rl.Tasks.TreeTask.Alphabet);
            double share = 0;
            for (int s = 0; s < 2; s++) share = trainer.Step([new GrpoPrompt(Engine.Rl.Tasks.TreeTask.Prompt)]).Metrics.PackedShare;
            return (policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray(), share);
        }
        var rows = Train(false);
        var tree = Train(true);
        Assert.Equal(1, rows.PackedShare);
        Assert.InRange(tree.PackedShare, 0.05, 0.99);
        // Two AdamW steps at lr 1e-3 from the same start: the parameters agree to the last few bits of an update.
        Tolerance.AssertClose(tree.Parameters, rows.Parameters, 1e-6, 1e-5, "parameters after two steps");
    }

    [Fact]
    public void TheCostModelKeepsGroupsUnpackedWherePackingWouldBeSlower()
    {
        // The bench's worst case: a one-token prompt and 8 completions of 32 tokens that share nothing.
        var distinct = Enumerable.Range(0, 8).Select(i => Enumerable.Range(0, 32).Select(t => 1 + (i * 7 + t * 3) % 63).ToArray()).ToArray();
        var shared = Enumerable.Range(0, 8).Select(i => Enumerable.Range(0, 32).Select(t => t < 28 ? 5 : 1 + (i + t) % 63).ToArray()).ToArray();
        bool Packs(int[] prompt, int[][] completions)
        {
            var batch = new GroupBatch(prompt, completions, new float[8], GroupBatch.TokenWeights(completions, null, Aggregation.TokenMean, 32));
            return new PackedGroup(batch).IsCheaperThanUnpacked(GptConfig.Tiny, sparseAttention: true);
        }
        Assert.False(Packs([1], distinct));
        Assert.True(Packs([1], shared));
        Assert.True(Packs(Enumerable.Range(0, 32).ToArray(), distinct)); // a shared prompt pays for itself
    }
}
