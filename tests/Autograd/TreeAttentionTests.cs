using Engine.Autograd;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Attention over a packed tree: the CPU's tree walk against dense masked attention and a float64 reference.</summary>
public sealed class TreeAttentionTests
{
    /// <summary>A prompt of 3, then two branches, one of which branches again; a second root at the end.</summary>
    static readonly int[] Parents = [-1, 0, 1, 2, 3, 4, 2, 6, 7, 4, 9, -1, 11];

    /// <summary>A packed group: a trunk of 4 (prompt and a shared first step), then three branches.</summary>
    static readonly int[] Group = [-1, 0, 1, 2, 3, 4, 5, 3, 7, 8, 8, 10];

    [Fact]
    public void MaskRunsFollowTheAncestors()
    {
        var tree = new TreeMask(Parents);
        Assert.Equal([(0, 3), (6, 9)], tree.Keys(8).ToArray());
        Assert.Equal([(0, 5), (9, 11)], tree.Keys(10).ToArray());
        Assert.Equal([(11, 13)], tree.Keys(12).ToArray());
        long pairs = 0;
        for (int i = 0; i < Parents.Length; i++)
        {
            int depth = 0;
            for (int j = i; j >= 0; j = Parents[j]) depth++;
            pairs += depth;
        }
        Assert.Equal(pairs, tree.Pairs);
        var dense = tree.Dense();
        Assert.Equal(0f, dense[8 * 13 + 7]);
        Assert.Equal(float.NegativeInfinity, dense[8 * 13 + 4]);
        Assert.Equal(0, tree.Trunk); // a second root shares nothing
        Assert.Equal(4, new TreeMask(Group).Trunk);
        var e = Assert.Throws<ArgumentException>(() => new TreeMask([-1, 1]));
        Assert.Contains("position 1 has parent 1", e.Message);
    }

    [Theory]
    [InlineData(false, 2, 8, 8)]
    [InlineData(false, 3, 5, 7)]
    [InlineData(true, 2, 8, 8)]
    [InlineData(true, 3, 5, 7)]
    public void TreeWalkMatchesDenseMaskedAttention(bool group, int heads, int d, int dv)
    {
        var tree = new TreeMask(group ? Group : Parents);
        int n = tree.Length;
        var q = Data.Uniform(heads * n * d, 1);
        var k = Data.Uniform(heads * n * d, 2);
        var v = Data.Uniform(heads * n * dv, 3);
        var up = Data.Uniform(heads * n * dv, 4);
        AttentionRun Run(bool walk) => AttentionRun.Of(Device.Cpu, (qv, kv, vv) => walk
                ? Variable.Attention(qv, kv, vv, AttentionMask.Tree(tree))
                : Variable.Attention(qv, kv, vv, Tensor.FromArray(tree.Dense(), new Shape(n, n)), causal: false),
            (q, new Shape(1, heads, n, d)), (k, new Shape(1, heads, n, d)), (v, new Shape(1, heads, n, dv)), up);
        Run(walk: true).AssertClose(Run(walk: false), 1e-6, 1e-5, "tree attention");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GradientsMatchCentralDifferences(bool group)
    {
        var tree = new TreeMask(group ? Group : Parents);
        int n = tree.Length, heads = 2, d = 4;
        var shape = new Shape(heads, n, d);
        GradAssert.Check(x => Variable.Attention(x[0], x[1], x[2], AttentionMask.Tree(tree)), x => Reference(x[0], x[1], x[2], tree, heads, d),
            [shape, shape, shape]);
    }

    [Fact]
    public void ShapesThatDoNotFitTheTreeAreRejected()
    {
        var tree = new TreeMask(Parents);
        using var q = Tensor.Zeros(new Shape(2, 12, 4));
        var e = Assert.Throws<TensorShapeException>(
            () => Variable.Attention(new Variable(q), new Variable(q), new Variable(q), AttentionMask.Tree(tree)));
        Assert.Contains("N = 13", e.Message);
    }

    /// <summary>Float64 attention over each query's ancestors, written from the definition.</summary>
    static double[] Reference(double[] q, double[] k, double[] v, TreeMask tree, int heads, int d)
    {
        int n = tree.Length;
        var o = new double[heads * n * d];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n; i++)
            {
                var keys = tree.Keys(i).SelectMany(r => Enumerable.Range(r.Start, r.End - r.Start)).ToArray();
                var s = keys.Select(j => Enumerable.Range(0, d).Sum(c => q[(h * n + i) * d + c] * k[(h * n + j) * d + c]) / Math.Sqrt(d)).ToArray();
                double max = s.Max(), z = s.Sum(x => Math.Exp(x - max));
                for (int a = 0; a < keys.Length; a++)
                    for (int c = 0; c < d; c++)
                        o[(h * n + i) * d + c] += Math.Exp(s[a] - max) / z * v[(h * n + keys[a]) * d + c];
            }
        return o;
    }
}
