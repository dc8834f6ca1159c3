using Engine.Rl.Grpo;
using Engine.Rl.Trie;

namespace Engine.Tests;

public class PrefixTrieTests
{
    static int[] Ids(string letters) => letters.Select(c => (int)c).ToArray();

    /// <summary>|λ(i,t)| by brute force: the completions that share completion i's first t + 1 tokens.</summary>
    static int[][] LambdaByCounting(int[][] c) =>
        c.Select(ci => ci.Select((_, t) => c.Count(cj => cj.Length > t && cj.AsSpan(0, t + 1).SequenceEqual(ci.AsSpan(0, t + 1))))
            .ToArray()).ToArray();

    [Fact]
    public void ThePapersWorkedExample()
    {
        // docs/science.md §3: steps AB·CD, AB·EFHI, JKL·M, JKL·NQ·ST, JKL·NQ·U, VWYZ with rewards 0.5 0.5 1 0 0 0.5;
        // sample std, no ε: mean 0.4167, std 0.3764.
        int[][] c = [Ids("ABCD"), Ids("ABEFHI"), Ids("JKLM"), Ids("JKLNQST"), Ids("JKLNQU"), Ids("VWYZ")];
        float[] r = [0.5f, 0.5f, 1f, 0f, 0f, 0.5f];
        var trie = PrefixTrie.Build(Ids("P"), c);
        Assert.Equal(["AB", "CD", "EFHI", "JKL", "M", "NQ", "ST", "U", "VWYZ"],
            trie.Steps.Select(s => new string(s.Tokens.Select(t => (char)t).ToArray())).Order().ToArray());
        Assert.Equal([2, 2, 1, 1], trie.Lambda[0]);
        Assert.Equal([3, 3, 3, 2, 2, 1, 1], trie.Lambda[3]);
        Assert.Equal([1, 1, 1, 1], trie.Lambda[5]);

        var (reward, adv) = trie.ProcessRewards(r, scaleRewards: true, stdEpsilon: 0f);
        Assert.Equal(0.5, reward[0][0], 10);          // AB
        Assert.Equal(1 / 3.0, reward[3][0], 10);      // JKL
        Assert.Equal(0.0, reward[3][3], 10);          // NQ
        double[] Rounded(int i) => adv[i].Select(v => Math.Round(v, 2)).ToArray();
        Assert.Equal([0.22, 0.22, 0.22, 0.22], Rounded(0));                       // AB · CD
        Assert.Equal([0.22, 0.22, 0.22, 0.22, 0.22, 0.22], Rounded(1));           // AB · EFHI
        Assert.Equal([-0.22, -0.22, -0.22, 1.55], Rounded(2));                    // JKL · M
        Assert.Equal([-0.22, -0.22, -0.22, -1.11, -1.11, -1.11, -1.11], Rounded(3)); // JKL · NQ · ST
        Assert.Equal([-0.22, -0.22, -0.22, -1.11, -1.11, -1.11], Rounded(4));     // JKL · NQ · U
        Assert.Equal([0.22, 0.22, 0.22, 0.22], Rounded(5));                       // VWYZ
        Assert.Equal([2, 2, 2, 3, 3, 1], Enumerable.Range(0, 6).Select(trie.PathDepth).ToArray());
    }

    [Fact]
    public void RandomGroupsAgreeWithBruteForceAndTheStepIdentity()
    {
        var rng = new System.Random(11);
        for (int trial = 0; trial < 50; trial++)
        {
            int k = rng.Next(1, 10);
            var c = Enumerable.Range(0, k).Select(_ => Enumerable.Range(0, rng.Next(0, 7)).Select(_ => rng.Next(3)).ToArray()).ToArray();
            var r = c.Select(_ => (float)Math.Round(rng.NextDouble(), 1)).ToArray();
            var trie = PrefixTrie.Build([9], c);
            Assert.Equal(LambdaByCounting(c), trie.Lambda);
            var a = GroupAdvantages.Compute(r);
            var (_, adv) = trie.ProcessRewards(r);
            for (int i = 0; i < k; i++)
                for (int t = 0; t < c[i].Length; t++)
                {
                    var step = trie.StepOf(i, t);
                    Assert.Equal(trie.Lambda[i][t], step.Count);
                    // Σ_{j ∈ λ} a_j = |λ|·A_λ: A is the mean outcome advantage of the step's trajectories
                    Assert.Equal(step.Trajectories.Sum(j => (double)a[j]), step.Count * adv[i][t], 4);
                }
        }
    }

    [Fact]
    public void DuplicatesPrefixesEmptyCompletionsAndFlatTrees()
    {
        var dup = PrefixTrie.Build([0], [[1, 2, 3], [1, 2, 3], [1, 4]]);
        Assert.Equal([3, 2, 2], dup.Lambda[0]);
        Assert.Equal([3, 1], dup.Lambda[2]);
        Assert.Equal(3, dup.Steps.Count);                 // [1] · [2 3] · [4]

        var prefix = PrefixTrie.Build([0], [[5, 6], [5, 6, 7, 8]]);  // the first ends where the second continues
        Assert.Equal([2, 2], prefix.Lambda[0]);
        Assert.Equal([2, 2, 1, 1], prefix.Lambda[1]);
        Assert.Equal(1, prefix.PathDepth(0));
        Assert.Equal(2, prefix.PathDepth(1));
        Assert.Equal(0.5, prefix.IntermediateProportion(1));

        var empty = PrefixTrie.Build([0], [[], [1]]);
        Assert.Empty(empty.Lambda[0]);
        Assert.Equal(0, empty.PathDepth(0));
        Assert.Single(empty.Steps);

        var flat = PrefixTrie.Build([0], [[1, 1], [2, 1], [3]]);
        Assert.Equal(1.0, flat.PathDepthMean);
        Assert.Equal(0.0, flat.IntermediateProportionMean);
    }

    [Fact]
    public void AdvantagesOfDegenerateGroupsAreZero()
    {
        Assert.Equal([0f], GroupAdvantages.Compute([3f]));
        Assert.Equal([0f, 0f, 0f], GroupAdvantages.Compute([0.5f, 0.5f, 0.5f]));
        // Dr. GRPO: no std scaling
        Assert.Equal([-0.5f, 0.5f], GroupAdvantages.Compute([0f, 1f], scaleRewards: false));
        // sample std of {0, 1} is √½; ε = 1e-4
        Assert.Equal(-0.5 / (Math.Sqrt(0.5) + 1e-4), GroupAdvantages.Compute([0f, 1f])[0], 5);
    }

    [Fact]
    public void BuildingIsLinearInTheTokens()
    {
        // 64 completions of 4,000 tokens sharing long prefixes: 256k tokens build in well under a second.
        var c = Enumerable.Range(0, 64).Select(i => Enumerable.Range(0, 4000).Select(t => t < 1000 * (i % 4) ? 1 : (t + i) % 5).ToArray()).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trie = PrefixTrie.Build([0], c);
        Assert.True(clock.Elapsed.TotalSeconds < 1, $"{clock.Elapsed.TotalSeconds:F2} s");
        Assert.Equal(c.Length, trie.Lambda.Length);
    }
}
