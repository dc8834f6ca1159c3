using Engine.Autograd;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>Every attention variant goes through Variable.Attention and agrees with the plain causal or masked form.</summary>
public sealed class AttentionMaskTests
{
    [Fact]
    public void SharedPrefixMatchesCausalAttentionOverTheConcatenatedKeys()
    {
        // 2 groups of 3 sequences, 2 heads, a prefix of 4 positions, 3 own positions of which the last 2 are queries.
        const int groups = 2, samples = 3, heads = 2, p = 4, own = 3, t = 2, d = 5;
        using var scope = TensorScope.Open();
        using var noGrad = GradMode.NoGrad();
        var q = Tensor.FromArray(Data.Uniform(groups * samples * heads * t * d, 1), new Shape(groups * samples, heads, t, d));
        var k = Tensor.FromArray(Data.Uniform(groups * samples * heads * own * d, 2), new Shape(groups * samples, heads, own, d));
        var v = Tensor.FromArray(Data.Uniform(groups * samples * heads * own * d, 3), new Shape(groups * samples, heads, own, d));
        var pk = Tensor.FromArray(Data.Uniform(groups * heads * p * d, 4), new Shape(groups, heads, p, d));
        var pv = Tensor.FromArray(Data.Uniform(groups * heads * p * d, 5), new Shape(groups, heads, p, d));
        var shared = Variable.Attention(new Variable(q), new Variable(k), new Variable(v), AttentionMask.SharedPrefix(pk, pv)).Value;
        for (int b = 0; b < groups * samples; b++)
        {
            var keys = Tensor.Concat(1, pk[b / samples], k[b]).Reshape(1, heads, p + own, d);
            var values = Tensor.Concat(1, pv[b / samples], v[b]).Reshape(1, heads, p + own, d);
            var expected = Variable.Attention(new Variable(q[b].Reshape(1, heads, t, d)), new Variable(keys), new Variable(values),
                AttentionMask.Causal);
            Tolerance.AssertClose(shared[b].ToArray(), expected.Value.ToArray(), 1e-6, 1e-5, $"sequence {b}");
        }
    }

    [Fact]
    public void SharedPrefixHasNoBackwardPass()
    {
        using var scope = TensorScope.Open();
        var x = Tensor.Ones(new Shape(2, 1, 1, 4));
        var prefix = Tensor.Ones(new Shape(1, 1, 3, 4));
        var q = new Variable(x.Clone(), requiresGrad: true);
        var e = Assert.Throws<NotSupportedException>(() => Variable.Attention(q, new Variable(x), new Variable(x),
            AttentionMask.SharedPrefix(prefix, prefix)));
        Assert.Contains("NoGrad", e.Message);
    }

    [Fact]
    public void ATreeMaskBuildsItsDenseFormOncePerDevice()
    {
        using var scope = TensorScope.Open();
        var mask = AttentionMask.Tree(new TreeMask([-1, 0, 1, 1, 0]));
        var first = mask.DenseTree(Device.IlgpuCpu);
        Assert.Same(first, mask.DenseTree(Device.IlgpuCpu));
        Assert.Equal(new TreeMask([-1, 0, 1, 1, 0]).Dense(), first.ToArray());
    }

    [Fact]
    public void TheConvenienceOverloadIsTheMaskedEntryPoint()
    {
        using var scope = TensorScope.Open();
        var q = new Variable(Tensor.FromArray(Data.Uniform(2 * 4 * 3, 7), new Shape(2, 4, 3)));
        var mask = Tensor.FromArray(Data.Uniform(16, 8), new Shape(4, 4));
        Assert.Equal(Variable.Attention(q, q, q).Value.ToArray(), Variable.Attention(q, q, q, AttentionMask.Causal).Value.ToArray());
        Assert.Equal(Variable.Attention(q, q, q, mask, causal: false).Value.ToArray(),
            Variable.Attention(q, q, q, AttentionMask.Additive(mask)).Value.ToArray());
        Assert.Equal(Variable.Attention(q, q, q, null, causal: false).Value.ToArray(),
            Variable.Attention(q, q, q, AttentionMask.Full).Value.ToArray());
    }
}
