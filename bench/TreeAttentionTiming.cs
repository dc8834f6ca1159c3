using System.Globalization;
using Engine.Rl.Grpo;
using Engine.Rl.Trie;

namespace Engine.Bench;

/// <summary>
/// Part of `bench -- gpu`: attention over a packed GRPO group's trie on an ILGPU device (its trunk, the prompt, by the flash
/// kernels, the rest walked along the tree) against the flash kernels under the same tree as a dense additive [N, N] mask,
/// forward and forward + backward. The group: a 128-token prompt and 16 completions of 64 tokens, each sharing a random
/// prefix (0–48 tokens) with the one before, 16 batch-heads of size 64. The outputs and gradients of the two are compared
/// before timing.
/// </summary>
static class TreeAttentionTiming
{
    /// <summary>
    /// The packed tree of such a group, as GRPO builds it (<see cref="PrefixTrie"/>, <see cref="PackedGroup"/>): completion c
    /// repeats the first 0–3/4 of completion c − 1, then draws fresh tokens from a vocabulary too large to repeat by chance.
    /// </summary>
    public static TreeMask GroupTree(int prompt, int completions, int length, int seed)
    {
        var random = new System.Random(seed);
        int[] Tokens(int n) => [.. Enumerable.Range(0, n).Select(_ => random.Next(1 << 20))];
        var rows = new List<int[]> { Tokens(length) };
        while (rows.Count < completions) rows.Add([.. rows[^1].Take(random.Next(0, length * 3 / 4 + 1)).Concat(Tokens(length)).Take(length)]);
        int[][] group = [.. rows];
        var weights = GroupBatch.TokenWeights(group, null, Aggregation.TokenMean, length);
        return new PackedGroup(new GroupBatch(Tokens(prompt), group, new float[completions], weights)).Tree;
    }

    public static bool Run(Device device, bool small, int reps)
    {
        var tree = small ? GroupTree(8, 4, 8, 3) : GroupTree(128, 16, 64, 3);
        int n = tree.Length, bh = small ? 2 : 16, d = small ? 16 : 64, iters = small ? 1 : 20;
        Console.WriteLine($"# tree attention: {n} positions, {tree.Pairs} query-key pairs ({100.0 * tree.Pairs / ((double)n * n):F1} % of N²), " +
            $"bh={bh}, d={d}");
        var shape = new Shape(bh, n, d);
        using var q = Tensor.FromArray(Uniform(bh * n * d, 1), shape, device);
        using var k = Tensor.FromArray(Uniform(bh * n * d, 2), shape, device);
        using var v = Tensor.FromArray(Uniform(bh * n * d, 3), shape, device);
        using var dO = Tensor.FromArray(Uniform(bh * n * d, 4), shape, device);
        using var mask = Tensor.FromArray(tree.Dense(), new Shape(n, n), device);

        if (!Agree(q, k, v, dO, mask, tree, $"tree_attention_n{n}")) return false;

        void Tree(bool backward)
        {
            Tensor.TryTreeAttention(q, k, v, tree, out var o, out var lse);
            if (backward)
            {
                var (dq, dk, dv) = Tensor.TreeAttentionBackward(q, k, v, tree, o!, lse!, dO);
                dq.Dispose(); dk.Dispose(); dv.Dispose();
            }
            o!.Dispose(); lse!.Dispose();
        }
        void Dense(bool backward)
        {
            Tensor.TryFusedAttention(q, k, v, mask, causal: false, out var o, out var lse);
            if (backward)
            {
                var (dq, dk, dv) = Tensor.FusedAttentionBackward(q, k, v, mask, false, o!, lse!, dO);
                dq.Dispose(); dk.Dispose(); dv.Dispose();
            }
            o!.Dispose(); lse!.Dispose();
        }
        Print($"tree_attention_fwd_n{n}_ms", GpuTiming.Time(device.Synchronize, () => Tree(false), iters, reps));
        Print($"tree_attention_fwdbwd_n{n}_ms", GpuTiming.Time(device.Synchronize, () => Tree(true), iters, reps));
        Print($"tree_as_dense_mask_fwd_n{n}_ms", GpuTiming.Time(device.Synchronize, () => Dense(false), iters, reps));
        Print($"tree_as_dense_mask_fwdbwd_n{n}_ms", GpuTiming.Time(device.Synchronize, () => Dense(true), iters, reps));
        return true;
    }

    /// <summary>
    /// The tree's o, dq, dk and dv against the dense-mask flash kernels', element by element (NaN fails); prints the worst
    /// difference, and says which output differs past 1e-4.
    /// </summary>
    static bool Agree(Tensor q, Tensor k, Tensor v, Tensor dO, Tensor mask, TreeMask tree, string what)
    {
        using var scope = TensorScope.Open();
        if (!Tensor.TryTreeAttention(q, k, v, tree, out var treeO, out var treeLse))
            throw new InvalidOperationException($"{q.Device} has no tree attention");
        if (!Tensor.TryFusedAttention(q, k, v, mask, causal: false, out var denseO, out var denseLse))
            throw new InvalidOperationException($"{q.Device} has no fused attention for this shape");
        var (tq, tk, tv) = Tensor.TreeAttentionBackward(q, k, v, tree, treeO, treeLse, dO);
        var (fq, fk, fv) = Tensor.FusedAttentionBackward(q, k, v, mask, false, denseO, denseLse, dO);
        double worst = 0;
        foreach (var (name, a, b) in new[] { ("o", treeO, denseO), ("dq", tq, fq), ("dk", tk, fk), ("dv", tv, fv) })
        {
            float[] x = a.ToArray(), y = b.ToArray();
            for (int e = 0; e < x.Length; e++)
            {
                double diff = Math.Abs((double)x[e] - y[e]);
                if (!(diff <= 1e-4))
                {
                    Console.Error.WriteLine($"gpu: {what}: tree attention's {name}[{e}] = {x[e]}, the dense mask's {y[e]}; not timing it");
                    return false;
                }
                worst = Math.Max(worst, diff);
            }
        }
        Console.WriteLine($"# check {what}: worst |tree − dense| over o, dq, dk, dv = {worst.ToString("G3", CultureInfo.InvariantCulture)}");
        return true;
    }

    static float[] Uniform(int n, int seed)
    {
        var r = new System.Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1))];
    }

    static void Print(string key, double seconds) =>
        Console.WriteLine($"{key}={(seconds * 1e3).ToString("G6", CultureInfo.InvariantCulture)}");
}
