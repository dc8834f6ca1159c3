using Engine.Autograd;

namespace Engine.Tests.Support;

/// <summary>An attention op's output and its q, k and v gradients for one upstream gradient.</summary>
public sealed record AttentionRun(float[] O, float[] Dq, float[] Dk, float[] Dv)
{
    /// <summary>
    /// Runs <paramref name="attend"/> on q, k, v built from the arrays on <paramref name="device"/> and
    /// back-propagates <paramref name="upstream"/>.
    /// </summary>
    public static AttentionRun Of(Device device, Func<Variable, Variable, Variable, Variable> attend,
        (float[] Data, Shape Shape) q, (float[] Data, Shape Shape) k, (float[] Data, Shape Shape) v, float[] upstream)
    {
        using var scope = TensorScope.Open();
        var qv = new Variable(Tensor.FromArray(q.Data, q.Shape, device), requiresGrad: true);
        var kv = new Variable(Tensor.FromArray(k.Data, k.Shape, device), requiresGrad: true);
        var vv = new Variable(Tensor.FromArray(v.Data, v.Shape, device), requiresGrad: true);
        var o = attend(qv, kv, vv);
        o.Backward(Tensor.FromArray(upstream, o.Shape, device));
        var run = new AttentionRun(o.Value.ToArray(), qv.Grad!.ToArray(), kv.Grad!.ToArray(), vv.Grad!.ToArray());
        // Leaf gradients belong to the leaves, not to the scope.
        foreach (var leaf in new[] { qv, kv, vv }) leaf.ZeroGrad();
        return run;
    }

    /// <summary>Asserts every part bit-identical to <paramref name="other"/>'s (a rerun of the same op).</summary>
    public void AssertSameBits(AttentionRun other, string what)
    {
        foreach (var (name, a, b) in new[] { ("o", O, other.O), ("dq", Dq, other.Dq), ("dk", Dk, other.Dk), ("dv", Dv, other.Dv) })
        {
            Assert.Equal(a.Length, b.Length);
            for (int e = 0; e < a.Length; e++)
                Assert.True(BitConverter.SingleToInt32Bits(a[e]) == BitConverter.SingleToInt32Bits(b[e]),
                    $"{what} {name}[{e}]: {a[e]:R} on one run, {b[e]:R} on the next");
        }
    }

    /// <summary>Asserts every part close to <paramref name="expected"/>'s.</summary>
    public void AssertClose(AttentionRun expected, double atol, double rtol, string what)
    {
        Tolerance.AssertClose(O, expected.O, atol, rtol, what);
        Tolerance.AssertClose(Dq, expected.Dq, atol, rtol, what + " dq");
        Tolerance.AssertClose(Dk, expected.Dk, atol, rtol, what + " dk");
        Tolerance.AssertClose(Dv, expected.Dv, atol, rtol, what + " dv");
    }
}
